#!/usr/bin/env python3
"""Drives `switchyard demo` with traffic and checks every dashboard query against a real
Prometheus scraping it. Called by .ci/prometheus-check.sh, which starts both.

Traffic: every model of the six simulated providers (plain, streamed, tool call), every
route, client errors, and through the mock's control endpoint: 500s, 429s, overloads,
garbage, cut streams, a failover, an outage that opens a circuit, and a burst that runs
a token bucket dry (queueing, then refusals). Then every `expr`
of every panel in grafana/dashboards is evaluated through /api/v1/query (template
variables set to "All") and must parse and return data, except where it reads a
metric listed in PENDING (src/metrics/mod.rs): those report "no data (metric not
produced yet)" instead of failing. Template-variable queries are checked too.
Standard library only.
"""

import argparse
import concurrent.futures
import glob
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

KEY = "sk-switchyard-demo"
FREE_KEY = "sk-switchyard-demo-free"
# What the dashboards' range variables stand for here: the scrape interval is 1 s, so
# 30 s holds plenty of samples, and the whole run fits in 5 minutes.
SUBSTITUTIONS = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "5m",
}
VARIABLES = ("instance", "provider", "model", "route")
MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4.1"],
    "anthropic": ["claude-haiku-4-5", "claude-sonnet-4-5"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro"],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "qwen": ["qwen-plus"],
    "mistral": ["mistral-small-latest"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def http(method, url, body=None, headers=None, timeout=30):
    """(status, body bytes); HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what, probe, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


class Traffic:
    def __init__(self, gateway, mock):
        self.gateway = gateway
        self.mock = mock
        self.statuses = {}

    def chat(self, model, text="Hello there", stream=False, key=KEY, route=None, tools=False,
             temperature=None, max_tokens=None):
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [WEATHER_TOOL]
        headers = {"authorization": f"Bearer {key}"}
        if route:
            headers["x-switchyard-route"] = route
        status, _ = http("POST", f"{self.gateway}/v1/chat/completions", body, headers)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    def knobs(self, provider, knobs):
        status, body = http("PATCH", f"{self.mock}/_mock/providers/{provider}", knobs)
        if status != 200:
            sys.exit(f"mock refused {knobs} for {provider}: {status} {body!r}")

    def reset(self):
        status, _ = http("POST", f"{self.mock}/_mock/reset", {})
        if status != 200:
            sys.exit(f"mock reset failed: {status}")

    def healthy_round(self):
        jobs = []
        for models in MODELS.values():
            for m in models:
                jobs.append(lambda m=m: self.chat(m))
                jobs.append(lambda m=m: self.chat(m, stream=True))
                jobs.append(lambda m=m: self.chat(m, "What is the weather in Paris?", tools=True))
        for route in ("auto", "code", "classify", "legal"):
            jobs.append(lambda r=route: self.chat("auto", route=r))
            jobs.append(lambda r=route: self.chat("auto", route=r, stream=True))
        jobs.append(lambda: self.chat("auto", key=FREE_KEY))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda f: f(), jobs))
        # Deterministic requests are cached: each is a miss, then a hit.
        for i in range(3):
            for _ in range(2):
                self.chat("gpt-4o-mini", f"Cache me {i}", temperature=0)

    def failures(self, prom):
        # Client errors: bad key, unknown model, malformed body.
        self.chat("gpt-4o-mini", key="sk-wrong")
        self.chat("no-such-model")
        http("POST", f"{self.gateway}/v1/chat/completions", {"messages": []},
             {"authorization": f"Bearer {KEY}"})
        # A failover: the cheapest candidate of `classify` fails, a later one answers.
        self.knobs("mistral", {"error_rate": 1.0, "error_status": 500})
        for _ in range(3):
            self.chat("auto", route="classify")
        self.knobs("mistral", {"error_rate": 0.0})
        # One failure class per provider (retried, so the upstream sees several).
        self.knobs("openai", {"error_rate": 1.0, "error_status": 500})
        self.knobs("deepseek", {"rate_limit_rate": 1.0, "retry_after_s": 1})
        self.knobs("anthropic", {"overload_rate": 1.0})
        self.knobs("gemini", {"garbage": True})
        self.knobs("mistral", {"cut_stream": True})
        jobs = [
            lambda: self.chat("gpt-4o-mini"),
            lambda: self.chat("deepseek-chat"),
            lambda: self.chat("claude-haiku-4-5"),
            lambda: self.chat("gemini-2.5-flash", stream=True),
            lambda: self.chat("mistral-small-latest", stream=True),
            lambda: self.chat("auto", route="code"),
        ]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda f: f(), jobs))
        # An outage: qwen's heartbeats fail until its circuit opens.
        self.knobs("qwen", {"outage": True})
        self.chat("qwen-plus")
        wait_until("qwen's circuit to open (as Prometheus sees it)",
                   lambda: query_values(prom, 'switchyard_circuit_state{provider="qwen"}') == [2.0],
                   60)
        self.chat("qwen-plus")
        self.reset()

    def streams_again(self):
        """Streams every model once more, after Prometheus has scraped the last round.

        Time to first token is a histogram per provider and model, and its panel is a
        rate: a series needs an increase after the scrape that first saw it. With one
        or two streams per model the panel had 1-7 series, by timing."""
        time.sleep(2.5)
        jobs = [lambda m=m: self.chat(m, stream=True) for ms in MODELS.values() for m in ms]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda f: f(), jobs))

    def drain_token_bucket(self):
        """Runs openai's tokens-per-minute bucket dry by arithmetic, not by timing.

        The demo gives openai 2,000,000 tokens a minute (33k a second), and a request
        reserves its prompt plus `max_tokens` before it is sent. With the mock holding
        every answer for 2 s, nothing is handed back while 140 requests of 16,000 tokens
        arrive: ~125 fit, the next few wait for the refill (the rate-limit queue depth
        gauge), and those that would wait over `max_queue_ms` (1 s) are refused
        (`switchyard_rate_limited_total`)."""
        self.knobs("openai", {"latency_ms": 2000})
        # Distinct texts: identical requests in flight would share one upstream call.
        jobs = [lambda i=i: self.chat("openai/gpt-4o-mini", f"Drain {i}", max_tokens=16000)
                for i in range(140)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            statuses = list(pool.map(lambda f: f(), jobs))
        self.reset()
        print(f"token bucket burst: statuses {sorted((s, statuses.count(s)) for s in set(statuses))}")


def query(prom, expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http("GET", url)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"status": "error", "error": body.decode(errors="replace")}


def query_values(prom, expr):
    _, answer = query(prom, expr)
    result = answer.get("data", {}).get("result", [])
    return [float(r["value"][1]) for r in result if "value" in r]


def substitute(expr):
    for k, v in SUBSTITUTIONS.items():
        expr = expr.replace(k, v)
    for var in VARIABLES:
        expr = expr.replace(f"${{{var}}}", ".*").replace(f"[[{var}]]", ".*").replace(f"${var}", ".*")
    return expr


def pending_metrics(path="src/metrics/mod.rs"):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"pub const PENDING: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not m:
        sys.exit(f"no PENDING list in {path}")
    return set(re.findall(r'"(switchyard_\w+)"', m.group(1)))


def base_name(metric):
    for suffix in ("_bucket", "_sum", "_count"):
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def check_dashboards(prom, pending):
    failures, waiting, ok = [], [], 0
    for path in sorted(glob.glob("grafana/dashboards/*.json")):
        dash = json.load(open(path, encoding="utf-8"))
        for var in dash.get("templating", {}).get("list", []):
            q = var.get("definition") or ""
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
            if not m:
                continue
            selector, label = substitute(m.group(1)), m.group(2)
            url = f"{prom}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": selector})
            status, body = http("GET", url)
            values = json.loads(body).get("data", []) if status == 200 else []
            where = f"{dash['title']} / variable {var['name']}"
            if values:
                ok += 1
                print(f"ok    {where}: {len(values)} values")
            else:
                failures.append(f"{where}: {q} -> {status} {body[:200]!r}")
        for p in panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                expr = t.get("expr")
                if not expr:
                    continue
                where = f"{dash['title']} / {p['title']} / {t.get('refId')}"
                status, answer = query(prom, substitute(expr))
                if answer.get("status") != "success":
                    failures.append(f"{where}: does not evaluate: {answer.get('error')}\n      {expr}")
                    continue
                result = answer["data"]["result"]
                used = {base_name(n) for n in re.findall(r"switchyard_\w+", expr)}
                waits = sorted(used & pending)
                if result:
                    ok += 1
                    print(f"ok    {where}: {len(result)} series")
                elif waits:
                    waiting.append(where)
                    print(f"wait  {where}: no data (metric not produced yet: {', '.join(waits)})")
                else:
                    failures.append(f"{where}: no data\n      {expr}")
    return ok, waiting, failures


ALERTS = {
    "SwitchyardProviderCircuitOpen",
    "SwitchyardProviderErrorRateHigh",
    "SwitchyardClientErrorsHigh",
    "SwitchyardBudgetNearlySpent",
    "SwitchyardUsageLedgerLagging",
}
# After the injected failures and the free tenant's tiny budget, these must hold.
MUST_FIRE = ("SwitchyardProviderErrorRateHigh", "SwitchyardBudgetNearlySpent")


def loaded_rules(prom):
    status, body = http("GET", f"{prom}/api/v1/rules")
    if status != 200:
        return []
    return [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]


def check_alerts(prom):
    """grafana/alerts.yml as Prometheus runs it: every rule loaded and evaluated without
    error, and those the traffic provoked returning series."""
    failures = []
    wait_until("the alert rules to be evaluated",
               lambda: (rules := loaded_rules(prom)) and all(
                   not r.get("lastEvaluation", "0001").startswith("0001") for r in rules), 30)
    rules = {r["name"]: r for r in loaded_rules(prom)}
    for name in sorted(ALERTS - rules.keys()):
        failures.append(f"alert {name}: not loaded")
    for name, r in sorted(rules.items()):
        if r.get("health") != "ok":
            failures.append(f"alert {name}: {r.get('health')}: {r.get('lastError')}")
        else:
            print(f"ok    alert {name}: evaluates ({r.get('state', '?')})")
    for name in MUST_FIRE:
        if name in rules:
            series = query_values(prom, rules[name]["query"])
            if series:
                print(f"ok    alert {name}: {len(series)} series above threshold")
            else:
                failures.append(f"alert {name}: no series after the traffic that provokes it\n      {rules[name]['query']}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--demo-output", required=True)
    ap.add_argument("--ready-timeout", type=float, default=30)
    ap.add_argument("--exposition", required=True)
    args = ap.parse_args()
    gw, prom = args.gateway, args.prometheus
    started = time.monotonic()

    wait_until("the demo gateway", lambda: http("GET", f"{gw}/healthz", timeout=1)[0] == 200,
               args.ready_timeout)
    control = None
    wait_until("the demo's control URL",
               lambda: re.search(r"control: (http://[^/\s]+)/_mock", open(args.demo_output).read()),
               args.ready_timeout)
    control = re.search(r"control: (http://[^/\s]+)/_mock", open(args.demo_output).read()).group(1)
    wait_until("Prometheus", lambda: http("GET", f"{prom}/-/ready", timeout=1)[0] == 200,
               args.ready_timeout)
    wait_until("the first scrape", lambda: query_values(prom, 'up{job="switchyard"}') == [1.0],
               args.ready_timeout)

    traffic = Traffic(gw, control)
    traffic.healthy_round()
    # Before the failures: those open openai's circuit, which would refuse the burst.
    traffic.drain_token_bucket()
    traffic.failures(prom)
    traffic.healthy_round()
    traffic.streams_again()
    print(f"traffic done in {time.monotonic() - started:.1f} s; statuses {sorted(traffic.statuses.items())}")

    # Let Prometheus take the last state: wait until a scrape newer than the traffic
    # shows the final request count.
    status, body = http("GET", f"{gw}/metrics")
    open(args.exposition, "wb").write(body)
    expected = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("switchyard_requests_total{")
    )
    wait_until("Prometheus to scrape the last requests",
               lambda: query_values(prom, "sum(switchyard_requests_total)") == [expected], 30)

    pending = pending_metrics()
    ok, waiting, failures = check_dashboards(prom, pending)
    failures += check_alerts(prom)
    print(f"\n{ok} queries returned data, {len(waiting)} wait for metrics not produced yet, "
          f"{len(failures)} failed ({time.monotonic() - started:.1f} s)")
    for f in failures:
        print(f"FAIL  {f}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
