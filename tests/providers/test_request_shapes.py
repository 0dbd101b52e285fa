"""Every request shape, on every adapter: a 4xx in the OpenAI format or a JSON body for the
provider; never another exception (which the client would see as a 500).

The property tests take a valid request that uses every field of the OpenAI chat schema the
adapters read and put arbitrary JSON in some of its fields, then run what the pipeline runs:
`parse_chat` (the gateway's validation) and each adapter's `to_upstream`. A second property
drives the adapters directly, without the validation, so they hold on their own too.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.pipeline.request import parse_chat
from gateway.errors import GatewayError
from gateway.providers.azure import adapter as azure
from gateway.providers.openai import adapter as openai
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.gemini import adapter as gemini
from gateway.providers.openai_responses import adapter as openai_responses
from tests.providers.helpers import deployment

ADAPTERS = {
    "openai": (openai, deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1")),
    "azure": (azure, deployment("azure", "gpt-5.4", "https://r.openai.azure.com", api_version="2024-10-21")),
    "anthropic": (anthropic, deployment("anthropic", "claude-opus-4.7", "https://api.anthropic.com")),
    "gemini": (gemini, deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com")),
    "openai_responses": (openai_responses, deployment("openai_responses", "gpt-5.4", "https://api.openai.com/v1")),
}
PNG = "data:image/png;base64,iVBORw0KGgo="
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": True,
    "parameters": {"type": "object", "$defs": {"City": {"type": "string"}},
                   "properties": {"city": {"$ref": "#/$defs/City"}, "days": {"type": ["integer", "null"]}},
                   "required": ["city"], "additionalProperties": False}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        "extra_content": {"google": {"thought_signature": "c2ln"}}}
# A valid request that uses every field the adapters read.
FULL: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "name": "ann", "content": [
            {"type": "text", "text": "What is in these?", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}]},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "user", "content": "Thanks"},
    ],
    "stream": False, "max_completion_tokens": 100, "n": 1, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
    "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2, "stop": ["END"], "user": "u-1",
    "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False, "reasoning_effort": "high",
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
}

# The shapes an adversarial pass found answered with a 500 (issue 17, item 3).
TWELVE: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "tools [1]": (("anthropic", "gemini"), {"tools": [1]}),
    "tools function 'f'": (("anthropic", "gemini"), {"tools": [{"type": "function", "function": "f"}]}),
    "tool_calls [1]": (("anthropic", "gemini"), {"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [1]}]}),
    "tool_calls function 'f'": (("anthropic", "gemini"), {"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"function": "f"}]}]}),
    "stop 5": (("anthropic", "gemini"), {"stop": 5}),
    "tool_choice function 'f'": (("anthropic", "gemini"), {
        "tools": [TOOL], "tool_choice": {"type": "function", "function": "f"}}),
    "json_schema 'x'": (("anthropic", "gemini"), {"response_format": {"type": "json_schema", "json_schema": "x"}}),
    "file part 'x'": (("anthropic", "gemini"), {"messages": [
        {"role": "user", "content": [{"type": "file", "file": "x"}]}]}),
    "input_audio part 'x'": (("gemini",), {"messages": [
        {"role": "user", "content": [{"type": "input_audio", "input_audio": "x"}]}]}),
    "$defs [1]": (("gemini",), {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "$defs": [1], "properties": {"a": {"type": "string"}}}}}]}),
    "$ref to a non-object": (("gemini",), {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "$defs": {"A": 1},
                                    "properties": {"a": {"$ref": "#/$defs/A"}}}}}]}),
    "content nested 300 deep": (("openai", "azure"), {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi", "x": orjson.loads(b"[" * 300 + b"]" * 300)}]}]}),
}


def base(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **fields}


def run(body: dict[str, Any], validate: bool = True) -> list[str]:
    """What the pipeline runs on `body`: the outcome on each adapter ('400' or 'ok')."""
    raw = orjson.dumps(body, option=orjson.OPT_PASSTHROUGH_DATACLASS) if _encodable(body) else _deep_bytes(body)
    if validate:
        try:
            chat = parse_chat(raw)
        except GatewayError as err:
            _check_error(err)
            return ["400"] * len(ADAPTERS)
        body, stream = chat.body, chat.stream
    else:
        body, stream = orjson.loads(raw), body.get("stream") is True
    outcomes = []
    for adapter, dep in ADAPTERS.values():
        try:
            req = adapter.to_upstream(copy.deepcopy(body), dep, stream)
        except GatewayError as err:
            _check_error(err)
            outcomes.append("400")
            continue
        assert isinstance(orjson.loads(req.body), dict)
        outcomes.append("ok")
    return outcomes


def _check_error(err: GatewayError) -> None:
    assert 400 <= err.status < 500, err.status
    body = err.body()["error"]
    assert body["type"] == "invalid_request_error" and body["message"] and len(body["message"]) < 2000
    assert body["param"] is None or isinstance(body["param"], str)
    orjson.dumps(err.body())


def _encodable(body: Any) -> bool:
    try:
        orjson.dumps(body)
        return True
    except orjson.JSONEncodeError:
        return False


def _deep_bytes(body: Any) -> bytes:
    """JSON text for a value orjson will not encode (nested deeper than 255): the stdlib can."""
    import json
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        return json.dumps(body).encode()
    finally:
        sys.setrecursionlimit(limit)


NO_AUDIO = copy.deepcopy(FULL)  # Anthropic takes no audio input
del NO_AUDIO["messages"][2]["content"][2]


NO_STOP = copy.deepcopy(NO_AUDIO)  # the Responses API has no stop sequences
del NO_STOP["stop"]


def test_the_full_request_is_valid_everywhere() -> None:
    assert run(FULL) == ["ok", "ok", "400", "ok", "400"]
    assert run(NO_AUDIO) == ["ok"] * 4 + ["400"]
    assert run(NO_STOP) == ["ok"] * 5
    assert run(NO_STOP, validate=False) == ["ok"] * 5


# Inside a JSON schema: opaque to the validation (OpenAI takes full JSON Schema); the Gemini
# adapter, which rewrites schemas, refuses them.
SCHEMA_INSIDE = ("$defs [1]", "$ref to a non-object")


@pytest.mark.parametrize("name", TWELVE)
def test_the_twelve_shapes_are_400s(name: str) -> None:
    adapters, fields = TWELVE[name]
    validated = dict(zip(ADAPTERS, run(base(**fields))))
    if name in SCHEMA_INSIDE:
        assert validated == {a: "400" if a in adapters else "ok" for a in ADAPTERS}
    else:
        assert set(validated.values()) == {"400"}  # refused by validation, before any adapter
    alone = dict(zip(ADAPTERS, run(base(**fields), validate=False)))
    assert all(alone[a] == "400" for a in adapters), alone  # and by the adapters on their own


def test_the_validation_names_the_param() -> None:
    cases = {
        "tools[0]": {"tools": [1]}, "tools[0].function": {"tools": [{"type": "function", "function": "f"}]},
        "stop": {"stop": 5}, "tool_choice.function": {"tools": [TOOL], "tool_choice": {"type": "function",
                                                                                       "function": "f"}},
        "response_format.json_schema": {"response_format": {"type": "json_schema", "json_schema": "x"}},
        "messages[0].content[0].file": {"messages": [{"role": "user", "content": [{"type": "file", "file": "x"}]}]},
        "messages[1].tool_calls[0]": {"messages": [{"role": "user", "content": "hi"},
                                                   {"role": "assistant", "tool_calls": [1]}]},
        "messages": TWELVE["content nested 300 deep"][1],
    }
    for param, fields in cases.items():
        with pytest.raises(GatewayError) as info:
            parse_chat(_deep_bytes(base(**fields)))
        assert (info.value.status, info.value.param) == (400, param), (param, info.value.message)


# ------------------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["function", "text", "image_url", "file", "input_audio", "auto",
                                              "json_schema", "json_object", "#/$defs/City", PNG, "data:x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "function", "name", "url", "text", "schema", "$ref", "$defs", "properties",
                         "arguments", "data", "file_data", "items", "anyOf"]) | st.text(max_size=6),
        inner, max_size=4),
    max_leaves=12)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into the request (dict keys and list indexes), the body's root excluded."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


BASES = [(base, [p for p in _paths(base) if p != ("model",)]) for base in (FULL, NO_AUDIO)]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A full request with arbitrary JSON put at (or a field deleted from) a few of its paths."""
    base, paths = draw(st.sampled_from(BASES))
    body = copy.deepcopy(base)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        parent: Any = body
        for step in path[:-1]:
            if (isinstance(parent, dict) and step in parent
                    or isinstance(parent, list) and isinstance(step, int) and step < len(parent)):
                parent = parent[step]
            else:
                parent = None
                break
        last = path[-1]
        if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(last, int) and last < len(parent)):
            if isinstance(parent, dict) and draw(st.integers(0, 5)) == 0:
                parent.pop(last, None)
            else:
                parent[last] = draw(json_values)
    return body


PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(body=mutated())
def test_any_json_in_any_field_is_a_400_or_a_provider_body(body: dict[str, Any]) -> None:
    event(" ".join(run(body)))  # --hypothesis-show-statistics: how many got through to a body


@PROPERTY
@given(body=mutated())
def test_the_adapters_alone_give_400s_or_bodies(body: dict[str, Any]) -> None:
    event(" ".join(run(body, validate=False)))


@PROPERTY
@given(extra=st.dictionaries(st.sampled_from(sorted(FULL)), json_values, min_size=1, max_size=6))
def test_any_json_at_the_top_level(extra: dict[str, Any]) -> None:
    run({**NO_AUDIO, **extra})
    run({**NO_AUDIO, **extra}, validate=False)
