#!/usr/bin/env bash
# The dashboards against a real Prometheus: starts `switchyard demo` (debug build) and
# a Prometheus of its own (temp config and data dir, 1 s scrape interval, free port,
# not a system service), drives traffic through all six simulated providers with
# injected failures and an outage (.ci/prometheus_check.py), then evaluates every
# PromQL expression of every panel in grafana/dashboards through Prometheus' HTTP API
# and runs `promtool check metrics` on the exposition. The alert rules in
# grafana/alerts.yml are checked with `promtool check rules`, loaded into that
# Prometheus, and must all evaluate (the error-rate and budget ones must fire).
# Needs root (or a preinstalled prometheus) for Debian's `prometheus` package.
set -euo pipefail
cd "$(dirname "$0")/.."

# Upper bound for the demo and Prometheus to come up; both normally take a second.
READY_TIMEOUT_S=30

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi

cargo build --quiet
BIN=target/debug/switchyard

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The demo config with 1 s heartbeats, so an outage opens a circuit within seconds.
sed -e 's/^heartbeat_interval_ms = .*/heartbeat_interval_ms = 1000/' config/demo.toml >"$WORK/demo.toml"
grep -q '^heartbeat_interval_ms = 1000$' "$WORK/demo.toml"
# A budget the free tenant spends on its first request, so the budget alert has data.
printf '\n[tenants.demo-free]\nbudget_usd_per_day = 0.0000001\n' >>"$WORK/demo.toml"

promtool check rules grafana/alerts.yml

GW_PORT=$(free_port)
"$BIN" demo --listen "127.0.0.1:$GW_PORT" --config "$WORK/demo.toml" >"$WORK/demo.out" 2>"$WORK/demo.log" &
PIDS+=($!)

PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/grafana/alerts.yml
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: ["127.0.0.1:$GW_PORT"]
EOF
promtool check config "$WORK/prometheus.yml" >/dev/null
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)

if ! python3 .ci/prometheus_check.py \
  --gateway "http://127.0.0.1:$GW_PORT" \
  --prometheus "http://127.0.0.1:$PROM_PORT" \
  --demo-output "$WORK/demo.out" \
  --ready-timeout "$READY_TIMEOUT_S" \
  --exposition "$WORK/exposition.txt"; then
  echo "--- demo log (tail)"; tail -n 40 "$WORK/demo.log"
  echo "--- prometheus log (tail)"; tail -n 20 "$WORK/prometheus.log"
  exit 1
fi

promtool check metrics <"$WORK/exposition.txt"
echo "promtool check metrics: ok"
