"""End-to-end check of Switchyard's /v1/messages with the official Anthropic Python SDK.

Runs against a gateway whose providers are the simulated ones (`switchyard demo`), so
answers are deterministic (src/mock/brain.rs). Every model in MODELS, a Claude model
and models of the five other providers, goes through the same checks; the only thing
an application changes to use Switchyard is `base_url` (and its key).

    python tests/e2e/anthropic_sdk_e2e.py --base-url http://127.0.0.1:8080

Prints one line per check and a final `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import sys

import anthropic
from anthropic import Anthropic

from runner import run

# A Claude model, then one model of every other provider of the demo.
MODELS = [
    "claude-haiku-4-5",
    "gpt-4o-mini",
    "gemini-2.5-flash",
    "deepseek-chat",
    "qwen-plus",
    "mistral-small-latest",
]

DEMO_KEY = "sk-switchyard-demo"
PROMPT = "Say hello to the SDK"
MAX_TOKENS = 1024

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city", "unit"],
    },
}
WEATHER_PROMPT = "What is the weather in Paris and Rome?"

# A 1x1 transparent PNG.
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def expected_text(model, prompt=PROMPT):
    return f"Hello from {model}. You said: {prompt}"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def check_eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def user(content):
    return [{"role": "user", "content": content}]


def check_text_message(msg, model, text):
    check(msg.id.startswith("msg_"), f"id {msg.id!r}")
    check_eq(msg.type, "message", "type")
    check_eq(msg.role, "assistant", "role")
    check_eq(msg.model, model, "model")
    check_eq([b.type for b in msg.content], ["text"], "content block types")
    check_eq(msg.content[0].text, text, "text")
    check_eq(msg.stop_reason, "end_turn", "stop_reason")
    check(msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, f"usage {msg.usage}")


def plain_message(client, model):
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=MAX_TOKENS, messages=user(PROMPT)
    )
    check_eq(raw.headers.get("x-switchyard-model"), model, "x-switchyard-model")
    check(raw.headers.get("x-switchyard-provider"), "x-switchyard-provider missing")
    check_text_message(raw.parse(), model, expected_text(model))


def stream_helper(client, model):
    with client.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=user(PROMPT)) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    check_eq(text, expected_text(model), "streamed text")
    check_text_message(final, model, expected_text(model))


def stream_raw_events(client, model):
    events = list(
        client.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=user(PROMPT), stream=True
        )
    )
    kinds = [e.type for e in events]
    check_eq(kinds[0], "message_start", "first event")
    check_eq(kinds[-2:], ["message_delta", "message_stop"], "last events")
    check_eq(
        [k for k in kinds if k.startswith("content_block") and k != "content_block_delta"],
        ["content_block_start", "content_block_stop"],
        "one content block",
    )
    check(events[0].message.id.startswith("msg_"), "message id")
    check_eq(events[0].message.model, model, "message_start model")
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    check_eq(text, expected_text(model), "streamed text")
    check_eq(events[-2].delta.stop_reason, "end_turn", "stop_reason")
    check(events[-2].usage.output_tokens > 0, "message_delta usage")


def check_weather_calls(msg):
    check_eq(msg.stop_reason, "tool_use", "stop_reason")
    calls = [b for b in msg.content if b.type == "tool_use"]
    check_eq(len(calls), 2, "parallel tool_use blocks")
    for call in calls:
        check_eq(call.name, "get_weather", "tool name")
        check_eq(sorted(call.input), ["city", "unit"], "input keys")
        check(call.input["unit"] in ("c", "f"), f"unit {call.input['unit']!r}")
    check_eq([c.input["city"] for c in calls], ["Paris", "Rome"], "cities")
    check_eq(len({c.id for c in calls}), 2, "distinct tool_use ids")
    return calls


def with_results(msg, calls):
    results = [
        {"type": "tool_result", "tool_use_id": c.id, "content": r}
        for c, r in zip(calls, ["18C", "21C"])
    ]
    return user(WEATHER_PROMPT) + [
        {"role": "assistant", "content": msg.content},
        {"role": "user", "content": results},
    ]


def tool_round_trip(client, model):
    msg = client.messages.create(
        model=model, max_tokens=MAX_TOKENS, tools=[WEATHER_TOOL], messages=user(WEATHER_PROMPT)
    )
    calls = check_weather_calls(msg)
    answer = client.messages.create(
        model=model, max_tokens=MAX_TOKENS, tools=[WEATHER_TOOL], messages=with_results(msg, calls)
    )
    check_eq(answer.content[0].text, "The tool returned: 18C; 21C.", "answer")
    check_eq(answer.stop_reason, "end_turn", "stop_reason after results")


def tool_round_trip_stream(client, model):
    kwargs = dict(model=model, max_tokens=MAX_TOKENS, tools=[WEATHER_TOOL])
    with client.messages.stream(messages=user(WEATHER_PROMPT), **kwargs) as s:
        msg = s.get_final_message()
    calls = check_weather_calls(msg)
    with client.messages.stream(messages=with_results(msg, calls), **kwargs) as s:
        text = "".join(s.text_stream)
        answer = s.get_final_message()
    check_eq(text, "The tool returned: 18C; 21C.", "streamed answer")
    check_eq(answer.stop_reason, "end_turn", "stop_reason after results")


def image_input(client, model):
    for source in (
        {"type": "base64", "media_type": "image/png", "data": PNG_1X1},
        {"type": "url", "url": "https://example.com/cat.png"},
    ):
        content = [{"type": "image", "source": source}, {"type": "text", "text": PROMPT}]
        msg = client.messages.create(model=model, max_tokens=MAX_TOKENS, messages=user(content))
        check_text_message(msg, model, expected_text(model))


def system_prompt(client, model):
    plain = client.messages.create(model=model, max_tokens=MAX_TOKENS, messages=user(PROMPT))
    system = "You are a terse assistant who answers in one short sentence."
    for form in (system, [{"type": "text", "text": system}]):
        msg = client.messages.create(
            model=model, max_tokens=MAX_TOKENS, system=form, messages=user(PROMPT)
        )
        check_text_message(msg, model, expected_text(model))
        check(
            msg.usage.input_tokens > plain.usage.input_tokens,
            f"the system prompt is not in the input tokens: {msg.usage} vs {plain.usage}",
        )


def bad_request(client, model):
    try:
        client.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            thinking={"type": "enabled", "budget_tokens": 10},
            messages=user(PROMPT),
        )
    except anthropic.BadRequestError as e:
        check_eq(e.status_code, 400, "status")
        check_eq(e.body["type"], "error", "body type")
        check_eq(e.body["error"]["type"], "invalid_request_error", "error type")
        check("thinking.budget_tokens" in e.body["error"]["message"], f"message {e.body}")
        return
    raise AssertionError("no BadRequestError raised")


def listed_and_counted(client, model):
    ids = [m.id for m in client.models.list()]
    check(model in ids, f"{model} not in {ids}")
    count = client.messages.count_tokens(model=model, messages=user(PROMPT))
    check(count.input_tokens > 0, f"count {count}")


def bad_key(base_url):
    client = Anthropic(base_url=base_url, api_key="sk-not-a-key", max_retries=0, timeout=30)
    try:
        client.messages.create(model=MODELS[0], max_tokens=MAX_TOKENS, messages=user(PROMPT))
    except anthropic.AuthenticationError as e:
        check_eq(e.status_code, 401, "status")
        check_eq(e.body["error"]["type"], "authentication_error", "error type")
        return
    raise AssertionError("no AuthenticationError raised")


def unknown_model(client):
    try:
        client.messages.create(model="no-such-model", max_tokens=MAX_TOKENS, messages=user("hi"))
    except anthropic.NotFoundError as e:
        check_eq(e.body["error"]["type"], "not_found_error", "error type")
        check("no-such-model" in e.body["error"]["message"], f"message {e.body}")
        return
    raise AssertionError("no NotFoundError raised")


CHECKS = [
    ("plain message", plain_message),
    ("messages.stream", stream_helper),
    ("stream=True events", stream_raw_events),
    ("tool round trip", tool_round_trip),
    ("tool round trip, streamed", tool_round_trip_stream),
    ("image input (base64, url)", image_input),
    ("system prompt (string, blocks)", system_prompt),
    ("bad request: BadRequestError", bad_request),
    ("models.list, count_tokens", listed_and_counted),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the gateway's URL (without /v1)")
    args = parser.parse_args()
    client = Anthropic(base_url=args.base_url, api_key=DEMO_KEY, max_retries=0, timeout=30)
    print(f"anthropic {anthropic.__version__} against {args.base_url}")

    cases = [(f"{model}: {name}", fn, (client, model)) for model in MODELS for name, fn in CHECKS]
    cases.append(("bad key: AuthenticationError", bad_key, (args.base_url,)))
    cases.append(("unknown model: NotFoundError", unknown_model, (client,)))
    return run(cases)


if __name__ == "__main__":
    sys.exit(main())
