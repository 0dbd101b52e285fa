"""The OpenAPI document itself (gateway.edge.openapi): well formed, and listing every API path the
gateway serves, each with its own key scheme and error shape. No `openapi-spec-validator` here, so
the structure is checked directly: every schema is valid JSON Schema (2020-12, OpenAPI 3.1's
dialect), every reference resolves, every path template has its parameter; and the chat request's
schema states the gateway's own message rules, checked against the gateway's parser."""

from __future__ import annotations

import re
from typing import Any, Iterator

import orjson
import pytest
from jsonschema import Draft202012Validator

from gateway.app import HOT_PATHS
from gateway.edge import openapi
from gateway.errors import GatewayError
from gateway.pipeline.request import parse_chat
from gateway.inbound.gemini.endpoint import METHODS as GEMINI_METHODS

DOC = openapi.document()
OPERATIONS = [(path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_document_is_well_formed() -> None:
    assert DOC["openapi"].startswith("3.1") and DOC["info"]["title"] and DOC["info"]["version"]
    for name, schema in DOC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises on an invalid schema
    for ref in refs(DOC):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in DOC["components"]["schemas"], ref
    ids = [op["operationId"] for _, _, op in OPERATIONS]
    assert len(ids) == len(set(ids)), ids
    schemes = DOC["components"]["securitySchemes"]
    for path, method, op in OPERATIONS:
        assert method in ("get", "post") and "200" in op["responses"], (path, method)
        for requirement in op.get("security", ()):
            assert set(requirement) <= set(schemes), (path, requirement)
        declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_every_served_api_path_is_listed() -> None:
    posts = {path for path, method, _ in OPERATIONS if method == "post"}
    for path in HOT_PATHS:  # the unprefixed ones are aliases of their /v1 path
        assert (path if path.startswith("/v1/") else "/v1" + path) in posts, path
    for method in GEMINI_METHODS:
        assert f"/v1beta/models/{{model}}:{method}" in posts, method
    gets = {path for path, method, _ in OPERATIONS if method == "get"}
    assert {"/v1/models", "/v1beta/models", "/healthz", "/readyz"} <= gets


def test_each_api_keeps_its_key_and_error_shape() -> None:
    """Messages: x-api-key and Anthropic's error; Gemini: x-goog-api-key or ?key= and Google's;
    OpenAI: Bearer and OpenAI's. The Bearer key works on every path."""
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["anthropicKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schemes["googleKey"]["name"] == "x-goog-api-key" and schemes["googleKeyQuery"]["in"] == "query"
    for path, _, op in OPERATIONS:
        if "security" not in op:
            continue
        names = {name for requirement in op["security"] for name in requirement}
        errors = {r for code, answer in op["responses"].items() if code != "200" for r in refs(answer)}
        if path.startswith("/v1/messages"):
            want, error = {"anthropicKey", "bearer"}, "AnthropicError"
            assert any(p["name"] == "anthropic-version" for p in op["parameters"]), path
        elif path.startswith("/v1beta/"):
            want, error = {"googleKey", "googleKeyQuery", "bearer"}, "GoogleError"
        else:
            want, error = {"bearer"}, "Error"
        assert names == want and errors == {f"#/components/schemas/{error}"}, (path, names, errors)
    anthropic = DOC["components"]["schemas"]["AnthropicError"]
    assert anthropic["properties"]["type"] == {"const": "error"}
    assert DOC["components"]["schemas"]["GoogleError"]["properties"]["error"]["required"] == ["code", "message",
                                                                                                "status"]


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize("message, accepted", [
    ({"role": "user", "content": "hi"}, True),
    ({"role": "user"}, False),
    ({"role": "system", "content": None}, False),
    ({"role": "tool", "tool_call_id": "call_1", "content": None}, False),
    ({"role": "assistant", "content": "ok"}, True),
    ({"role": "assistant", "content": None, "tool_calls": [CALL]}, True),
    ({"role": "assistant", "tool_calls": [{"type": "custom", "custom": {"name": "sh", "input": "ls"}}]}, True),
    ({"role": "assistant", "content": None}, False),
    ({"role": "assistant", "tool_calls": []}, False),
    ({"role": "assistant", "tool_calls": [{"type": "function", "function": {}}]}, False),
    ({"role": "function", "name": "f", "content": None}, True),
    ({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}},
                                  {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                                  {"type": "file", "file": {"file_id": "file_1"}}, {"type": "refusal"}]}, True),
    ({"role": "user", "content": [{"type": "text"}]}, False),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}, False),
    ({"role": "user", "content": [{"text": "no type"}]}, False),
    ({"role": "user", "content": 7}, False),
    ({"role": "narrator", "content": "hi"}, False),
])
def test_the_message_rules_are_the_gateways(message: dict[str, Any], accepted: bool) -> None:
    """The document states the gateway's message rules itself (not in a description): a message
    is valid by the schema exactly when the gateway's own check takes it."""
    body = {"model": "auto", "messages": [message]}
    valid = Draft202012Validator(DOC["components"]["schemas"]["ChatRequest"]).is_valid(body)
    try:
        parse_chat(orjson.dumps(body))
        taken = True
    except GatewayError as err:
        assert err.status == 400 and err.param and err.param.startswith("messages")
        taken = False
    assert (valid, taken) == (accepted, accepted)


@pytest.mark.parametrize("extra, accepted", [
    ({"stream": True, "stream_options": {"include_usage": True}}, True),
    ({"stream_options": {"include_usage": True}}, False),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}, True),
    ({"tools": [{"type": "function"}]}, False),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}}, True),
    ({"response_format": {}}, False),
])
def test_other_request_rules_are_the_gateways(extra: dict[str, Any], accepted: bool) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **extra}
    valid = Draft202012Validator(DOC["components"]["schemas"]["ChatRequest"]).is_valid(body)
    try:
        parse_chat(orjson.dumps(body))
        taken = True
    except GatewayError:
        taken = False
    assert (valid, taken) == (accepted, accepted)
