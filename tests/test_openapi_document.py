"""The OpenAPI document itself (gateway.edge.openapi): well formed, and listing every API path the
gateway serves, each with its own key scheme and error shape. No `openapi-spec-validator` here, so
the structure is checked directly: every schema is valid JSON Schema (2020-12, OpenAPI 3.1's
dialect), every reference resolves, every path template has its parameter."""

from __future__ import annotations

import re
from typing import Any, Iterator

from jsonschema import Draft202012Validator

from gateway.app import HOT_PATHS
from gateway.edge import openapi
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
