"""Random input against every other API the gateway speaks (Anthropic Messages and its token
counter, OpenAI Responses and legacy completions, the Gemini API): each answer is a success or a
4xx in that API's own error shape, never a 500 or a hang, and no reservation is left behind."""

from __future__ import annotations

import json
from typing import Any, Callable

import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.procs import Proc, wait_for
from tests.test_fuzz import SETTINGS, contents, gateway, json_values, post  # noqa: F401  (the module's gateway)

FEW = {**SETTINGS, "max_examples": 60}


def openai_error(doc: Any) -> bool:
    error = doc.get("error") if isinstance(doc, dict) else None
    return isinstance(error, dict) and set(error) == {"message", "type", "param", "code"} and bool(error["message"])


def anthropic_error(doc: Any) -> bool:
    error = doc.get("error") if isinstance(doc, dict) else None
    return doc.get("type") == "error" and isinstance(error, dict) and bool(error.get("type")) and bool(error.get("message"))


def google_error(doc: Any) -> bool:
    error = doc.get("error") if isinstance(doc, dict) else None
    return isinstance(error, dict) and isinstance(error.get("code"), int) and bool(error.get("status")) \
        and bool(error.get("message"))


# path → the shape its errors must have
APIS: dict[str, Callable[[Any], bool]] = {
    "/v1/messages": anthropic_error,
    "/v1/messages/count_tokens": anthropic_error,
    "/v1/responses": openai_error,
    "/v1/completions": openai_error,
    "/v1beta/models/auto:generateContent": google_error,
    "/v1beta/models/auto:streamGenerateContent?alt=sse": google_error,
    "/v1/models/gpt-5.4-mini:countTokens": google_error,
    "/v1beta/models/auto:batchEmbedContents": google_error,
}


def check(path: str, status: int, data: bytes, ctype: str) -> None:
    assert status != 500 and status < 502, (path, status, data[:300])
    if status >= 400:
        assert APIS[path](json.loads(data)), (path, status, data[:300])
        assert b"max_completion_tokens" not in data, (path, data[:300])  # a canonical name, not this API's
    elif not ctype.startswith("text/event-stream"):
        assert isinstance(json.loads(data), dict), (path, data[:300])


# each strategy leans to valid values, so that the deeper steps (routing, the provider call,
# the answer's translation) are reached as well as the parsers' refusals; at most one field of
# each body is random JSON
models = st.sampled_from(["auto", "auto", "gpt-5.4-mini", "frontier", "nope", "", 7, None])
counts = st.one_of(st.integers(1, 300), st.integers(1, 300), st.integers(-5, 2**40), st.text(max_size=3))
texts = st.one_of(st.text(min_size=1, max_size=80), contents)
streams = st.sampled_from([True, False, False, "yes", None])


def with_one_random_field(base: st.SearchStrategy[dict], names: list[str]) -> st.SearchStrategy[dict]:
    return st.builds(lambda body, extra: {**body, **extra}, base,
                     st.dictionaries(st.sampled_from(names), json_values, max_size=1))


anthropic_bodies = with_one_random_field(st.fixed_dictionaries(
    {"model": models, "max_tokens": counts,
     "messages": st.builds(lambda first, rest: [first, *rest],
                           st.fixed_dictionaries({"role": st.just("user"), "content": st.text(min_size=1, max_size=80)}),
                           st.lists(st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user", "system", "x"]),
                                                           "content": texts}), max_size=3))},
    optional={"system": texts, "stream": streams}),
    ["system", "tools", "thinking", "tool_choice", "metadata", "messages", "temperature"])
responses_bodies = with_one_random_field(st.fixed_dictionaries(
    {"model": models, "input": st.one_of(st.text(min_size=1, max_size=100), json_values)},
    optional={"instructions": texts, "stream": streams, "max_output_tokens": counts}),
    ["instructions", "tools", "previous_response_id", "reasoning", "text", "store", "input"])
completions_bodies = with_one_random_field(st.fixed_dictionaries(
    {"model": models, "prompt": st.one_of(st.text(min_size=1, max_size=100), json_values)},
    optional={"max_tokens": counts, "n": st.integers(-1, 10), "stream": streams}),
    ["echo", "suffix", "logprobs", "prompt", "stop"])
parts = st.lists(st.one_of(st.fixed_dictionaries({"text": st.text(min_size=1, max_size=60)}), json_values),
                 min_size=1, max_size=3)
gemini_bodies = with_one_random_field(st.fixed_dictionaries(
    {"contents": st.lists(st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "user", "model", "x"]), "parts": parts}), min_size=1, max_size=3)},
    optional={"generationConfig": st.fixed_dictionaries({}, optional={
        "maxOutputTokens": counts, "temperature": st.floats(-3, 3), "candidateCount": st.integers(-1, 9),
        "responseMimeType": st.sampled_from(["text/plain", "application/json", "text/x.enum", ""])})}),
    ["systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent",
     "requests", "contents"])


@settings(**FEW)
@given(body=anthropic_bodies)
def test_messages_bodies(gateway: Proc, body: dict) -> None:  # noqa: F811
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        check(path, *post(gateway, json.dumps(body).encode(), path))


@settings(**FEW)
@given(responses=responses_bodies, completions=completions_bodies)
def test_responses_and_completions_bodies(gateway: Proc, responses: dict, completions: dict) -> None:  # noqa: F811
    check("/v1/responses", *post(gateway, json.dumps(responses).encode(), "/v1/responses"))
    check("/v1/completions", *post(gateway, json.dumps(completions).encode(), "/v1/completions"))


@settings(**FEW)
@given(body=gemini_bodies)
def test_gemini_bodies(gateway: Proc, body: dict) -> None:  # noqa: F811
    for path in [p for p in APIS if "/models/" in p]:
        check(path, *post(gateway, json.dumps(body).encode(), path))


@settings(**FEW)
@given(value=json_values, raw=st.binary(max_size=200))
def test_any_json_or_bytes_on_every_api(gateway: Proc, value: object, raw: bytes) -> None:  # noqa: F811
    for path in APIS:
        check(path, *post(gateway, json.dumps(value).encode(), path))
        check(path, *post(gateway, raw, path))


def test_no_reservation_is_left_behind(gateway: Proc, redis_url: str) -> None:  # noqa: F811
    client = redis.Redis.from_url(redis_url)

    def reserved() -> int:
        return sum(int(client.hget(k, "reserved:total") or 0) for k in client.keys("{fuzz}:spend:*"))

    wait_for(lambda: reserved() == 0 and client.hlen("{fuzz}:res") == 0)
    client.close()
