#!/usr/bin/env bash
# The SDK end-to-end checks against `switchyard demo` (simulated providers): the
# official `openai` Python package (tests/e2e/sdk_e2e.py, /v1/chat/completions),
# LangChain's ChatOpenAI (tests/e2e/langchain_e2e.py) and the official `anthropic`
# package (tests/e2e/anthropic_sdk_e2e.py, /v1/messages).
# Needs python3 (3.11 tested) and network access to PyPI on the first run; the venv
# in target/sdk-venv is reused afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

OPENAI_VERSION="3.54.0"
LANGCHAIN_OPENAI_VERSION="1.8.1"
ANTHROPIC_VERSION="2.10.0"
VENV=target/sdk-venv
PY="$VENV/bin/python"
# Upper bound for the demo to come up; it normally takes well under a second.
READY_TIMEOUT_S=30

if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
  "$PY" -m pip install --quiet --disable-pip-version-check "openai==$OPENAI_VERSION"
fi
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('langchain-openai') != '$LANGCHAIN_OPENAI_VERSION')" 2>/dev/null; then
  "$PY" -m pip install --quiet --disable-pip-version-check \
    "openai==$OPENAI_VERSION" "langchain-openai==$LANGCHAIN_OPENAI_VERSION"
fi
if ! "$PY" -c "import anthropic, sys; sys.exit(anthropic.__version__ != '$ANTHROPIC_VERSION')" 2>/dev/null; then
  "$PY" -m pip install --quiet --disable-pip-version-check "anthropic==$ANTHROPIC_VERSION"
fi

# The debug build: `cargo test` just built it, so this is nearly free, where a cold
# release build costs ~11 minutes on the 2-core CI machine; the check needs no speed.
cargo build --quiet

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL="http://127.0.0.1:$PORT"
LOG=target/sdk-e2e-demo.log
target/debug/switchyard demo --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
DEMO_PID=$!
trap 'kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true' EXIT

# Poll /healthz until it answers, the demo dies, or the upper bound passes.
"$PY" - "$URL/healthz" "$DEMO_PID" "$READY_TIMEOUT_S" <<'PYEOF' || { echo "demo did not come up:"; cat "$LOG"; exit 1; }
import os, sys, time, urllib.request
url, pid, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    time.sleep(0.05)
sys.exit(1)
PYEOF

"$PY" tests/e2e/sdk_e2e.py --base-url "$URL/v1"
"$PY" tests/e2e/langchain_e2e.py --base-url "$URL/v1"
# The Anthropic SDK appends /v1/messages itself.
"$PY" tests/e2e/anthropic_sdk_e2e.py --base-url "$URL"
