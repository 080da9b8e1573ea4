"""End-to-end check of Switchyard with LangChain's `ChatOpenAI` (langchain-openai).

Against `switchyard demo` (simulated providers): a plain `invoke`, a `stream`, and
`with_structured_output` with a pydantic model (LangChain's default method, a strict
json_schema), each answered by a model of every provider.

    python tests/e2e/langchain_e2e.py --base-url http://127.0.0.1:8080/v1

Prints one line per check and `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import sys

import pydantic
from langchain_openai import ChatOpenAI

from runner import run

MODELS = [
    "gpt-4o-mini",
    "deepseek-chat",
    "qwen-plus",
    "mistral-small-latest",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
]
DEMO_KEY = "sk-switchyard-demo"


class City(pydantic.BaseModel):
    """A city, as the structured-output check asks for it."""

    city: str
    population: int
    coastal: bool
    districts: list[str]


def llm(base_url, model):
    return ChatOpenAI(base_url=base_url, api_key=DEMO_KEY, model=model, max_retries=0, timeout=30)


def plain(base_url, model):
    answer = llm(base_url, model).invoke("Hello there")
    want = f"Hello from {model}. You said: Hello there"
    assert answer.content == want, f"{answer.content!r} != {want!r}"
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0, answer.usage_metadata


def streamed(base_url, model):
    text = "".join(chunk.content for chunk in llm(base_url, model).stream("Hello stream"))
    want = f"Hello from {model}. You said: Hello stream"
    assert text == want, f"{text!r} != {want!r}"


def structured(base_url, model):
    city = llm(base_url, model).with_structured_output(City).invoke("Describe a city")
    assert isinstance(city, City), repr(city)
    assert isinstance(city.population, int), repr(city)


CHECKS = [("invoke", plain), ("stream", streamed), ("with_structured_output", structured)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the gateway's /v1 URL")
    args = parser.parse_args()
    cases = [(f"{model}: {name}", fn, (args.base_url, model)) for model in MODELS for name, fn in CHECKS]
    return run(cases)


if __name__ == "__main__":
    sys.exit(main())
