"""The loop every end-to-end script shares: run each `(label, fn, args)` case, print
`ok`/`FAIL` per case and `N passed, M failed`, and give the exit code (1 on any failure).
"""

import sys
import traceback


def run(cases):
    passed = failed = 0
    for label, fn, fn_args in cases:
        try:
            fn(*fn_args)
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAIL {label}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=2, file=sys.stderr)
        else:
            passed += 1
            print(f"ok   {label}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
