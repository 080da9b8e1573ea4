"""End-to-end check of Switchyard with the official OpenAI Python SDK.

Runs against a gateway whose providers are the simulated ones (`switchyard demo`), so
answers are deterministic (src/mock/brain.rs). Every model in MODELS goes through the
same checks; the only thing an application changes to use Switchyard is `base_url`.

    python tests/e2e/sdk_e2e.py --base-url http://127.0.0.1:8080/v1

Prints one line per check and a final `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import json
import sys

import openai
import pydantic
from openai import OpenAI

from runner import run

# One model per provider of the demo: all six pass the identical checks.
MODELS = [
    "gpt-4o-mini",
    "deepseek-chat",
    "qwen-plus",
    "mistral-small-latest",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
]

DEMO_KEY = "sk-switchyard-demo"
PROMPT = "Say hello to the SDK"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city", "unit"],
        },
    },
}


def expected_text(model):
    return f"Hello from {model}. You said: {PROMPT}"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def check_eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def plain_chat(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": PROMPT}]
    )
    check_eq(raw.headers.get("x-switchyard-model"), model, "x-switchyard-model")
    check(raw.headers.get("x-switchyard-provider"), "x-switchyard-provider missing")
    resp = raw.parse()
    check_eq(resp.object, "chat.completion", "object")
    check_eq(resp.model, model, "model")
    check_eq(len(resp.choices), 1, "choices")
    choice = resp.choices[0]
    check_eq(choice.message.role, "assistant", "role")
    check_eq(choice.message.content, expected_text(model), "content")
    check_eq(choice.finish_reason, "stop", "finish_reason")
    u = resp.usage
    check(u.prompt_tokens > 0 and u.completion_tokens > 0, f"usage {u}")
    check_eq(u.total_tokens, u.prompt_tokens + u.completion_tokens, "total_tokens")


def streamed_chat(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    check(len(chunks) >= 3, f"only {len(chunks)} chunks")
    ids = {c.id for c in chunks}
    check_eq(len(ids), 1, "one id for every chunk")
    check_eq(chunks[0].choices[0].delta.role, "assistant", "first delta role")
    *body, last = chunks
    check_eq(last.choices, [], "usage chunk choices")
    check(last.usage is not None, "usage chunk has usage")
    check_eq(
        last.usage.total_tokens,
        last.usage.prompt_tokens + last.usage.completion_tokens,
        "stream total_tokens",
    )
    check(all(c.usage is None for c in body), "usage only on the last chunk")
    text = "".join(c.choices[0].delta.content or "" for c in body)
    check_eq(text, expected_text(model), "streamed text")
    finishes = [c.choices[0].finish_reason for c in body if c.choices[0].finish_reason]
    check_eq(finishes, ["stop"], "finish reasons")


def tool_round_trip(client, model):
    messages = [{"role": "user", "content": "What is the weather in Paris and Rome?"}]
    resp = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    choice = resp.choices[0]
    check_eq(choice.finish_reason, "tool_calls", "finish_reason")
    calls = choice.message.tool_calls or []
    check_eq(len(calls), 2, "parallel tool calls")
    cities = []
    for call in calls:
        check_eq(call.type, "function", "call type")
        check_eq(call.function.name, "get_weather", "call name")
        args = json.loads(call.function.arguments)
        check_eq(sorted(args), ["city", "unit"], "argument keys")
        check(args["unit"] in ("c", "f"), f"unit {args['unit']!r}")
        cities.append(args["city"])
    check_eq(cities, ["Paris", "Rome"], "cities")
    check_eq(len({c.id for c in calls}), 2, "distinct call ids")

    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in calls
            ],
        }
    )
    for call, result in zip(calls, ["18C", "21C"]):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    resp = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    check_eq(resp.choices[0].message.content, "The tool returned: 18C; 21C.", "answer")
    check_eq(resp.choices[0].finish_reason, "stop", "finish_reason after results")


def listed(client, model):
    ids = [m.id for m in client.models.list()]
    check(model in ids, f"{model} not in {ids}")


def unknown_model(client):
    try:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    except openai.NotFoundError as e:
        check_eq(e.status_code, 404, "status")
        check(isinstance(e.body, dict), f"error body {e.body!r}")
        check_eq(e.code, "model_not_found", "error code")
        check_eq(e.type, "invalid_request_error", "error type")
        check("no-such-model" in str(e.message), f"message {e.message!r}")
        return
    raise AssertionError("no NotFoundError raised")


class City(pydantic.BaseModel):
    """The structured output the `.parse()` check asks for."""

    city: str
    population: int
    coastal: bool
    districts: list[str]


def structured_output(client, model):
    """`chat.completions.parse` with a pydantic model: strict json_schema, parsed back."""
    completions = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    resp = completions(
        model=model,
        messages=[{"role": "user", "content": "Describe a city"}],
        response_format=City,
    )
    parsed = resp.choices[0].message.parsed
    check(isinstance(parsed, City), f"parsed {parsed!r}")
    check(isinstance(parsed.population, int), f"population {parsed.population!r}")
    check_eq(resp.choices[0].finish_reason, "stop", "finish_reason")


CHECKS = [
    ("plain chat", plain_chat),
    ("streamed chat", streamed_chat),
    ("tool round trip", tool_round_trip),
    ("structured output (.parse)", structured_output),
    ("models.list", listed),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the gateway's /v1 URL")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=DEMO_KEY, max_retries=0, timeout=30)
    print(f"openai {openai.__version__} against {args.base_url}")

    cases = [(f"{model}: {name}", fn, (client, model)) for model in MODELS for name, fn in CHECKS]
    cases.append(("unknown model: NotFoundError", unknown_model, (client,)))
    return run(cases)


if __name__ == "__main__":
    sys.exit(main())
