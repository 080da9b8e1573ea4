#!/usr/bin/env python3
"""What scraping /metrics costs the request path: request latency against a running
`switchyard demo` without scraping, with a scrape every 100 ms, and without again.

    switchyard demo --listen 127.0.0.1:8080 &
    python3 tests/e2e/scrape_cost.py --gateway http://127.0.0.1:8080 --requests 3000

Requests go one at a time over one keep-alive connection (the client's own overhead is
the same in every phase); the scraper has a connection of its own. Standard library only.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
HEADERS = {"authorization": "Bearer sk-switchyard-demo", "content-type": "application/json"}


def connect(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def phase(url, n):
    conn = connect(url)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        try:
            conn.request("POST", "/v1/chat/completions", BODY, HEADERS)
            r = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            # The server closed an idle keep-alive connection: reconnect, time it anew.
            conn.close()
            conn = connect(url)
            t = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", BODY, HEADERS)
            r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"status {r.status}")
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    times.sort()
    return {
        "mean_ms": statistics.fmean(times),
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[int(len(times) * 0.99)],
    }


def scraper(url, stop, out):
    conn = connect(url)
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        out.append(((time.perf_counter() - t) * 1000, len(body)))
        stop.wait(0.1)
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", default="http://127.0.0.1:8080")
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    phase(args.gateway, 200)  # warm up: connections, every metric series registered
    results = {"no scraping": phase(args.gateway, args.requests)}
    stop, scrapes = threading.Event(), []
    t = threading.Thread(target=scraper, args=(args.gateway, stop, scrapes))
    t.start()
    results["scrape every 100 ms"] = phase(args.gateway, args.requests)
    stop.set()
    t.join()
    results["no scraping (again)"] = phase(args.gateway, args.requests)
    for name, r in results.items():
        print(f"{name:22} mean {r['mean_ms']:.3f} ms  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")
    if scrapes:
        ms = sorted(s[0] for s in scrapes)
        print(f"{len(scrapes)} scrapes: p50 {ms[len(ms) // 2]:.2f} ms, max {ms[-1]:.2f} ms, "
              f"{scrapes[-1][1]} bytes")


if __name__ == "__main__":
    main()
