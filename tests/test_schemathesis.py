"""Schemathesis against the gateway's own OpenAPI document, over real HTTP: every generated
request gets a 2xx or a 4xx in the error format of its own API (OpenAI's, Anthropic's or
Google's); never a 5xx. Each request carries the key the way that API's SDK sends it.

The OpenAI chat and embeddings operations (and the probes) get every phase and Hypothesis's
default number of examples, as before the other APIs were listed. The others (Responses,
completions, Messages, Gemini, the model lists) get BOUNDED_EXAMPLES generated requests each and
no coverage phase (its boundary cases were ~2,700 requests for them, ~25 s; a parameterless GET
got 100 identical ones): their bodies are fuzzed at length by tests/test_fuzz_apis.py, so here
they check the document against the gateway, and the module keeps its run time (CHANGELOG.md).
A wrong method on each path is checked directly.

A chat body the document allows (a positive case) is sent to the `auto` route and must be served:
the document states the gateway's own rules (the message content rule, content parts, tool calls,
tools, `stream_options` only with `stream`...), so no such body is refused, except for what JSON
Schema cannot say (an integral float such as `3.0` is an integer to it, and a prompt that with its
`max_tokens` fits no model's context window depends on the config)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests  # schemathesis's own HTTP client
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from gateway.edge import openapi  # noqa: E402
from gateway.simulator.openai_format import CALL_FIELDS, MESSAGE_FIELDS  # noqa: E402
from tests.procs import DEMO_KEY, Proc  # noqa: E402
from tests.test_fuzz import gateway  # noqa: E402,F401  (the module's running gateway fixture)

FULL = ["createChatCompletion", "createEmbedding", "healthz", "readyz"]  # every phase
BOUNDED_EXAMPLES = 3
schema = schemathesis.openapi.from_dict(openapi.document())
others = schemathesis.openapi.from_dict(openapi.document()).exclude(operation_id=FULL)
others.config.phases.coverage.enabled = False


def key_headers(path: str) -> dict[str, str]:
    """The key as each API's SDK sends it: anthropic's x-api-key, google-genai's x-goog-api-key."""
    if path.startswith("/v1/messages"):
        return {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"}
    if path.startswith("/v1beta/"):
        return {"x-goog-api-key": DEMO_KEY}
    return {"authorization": f"Bearer {DEMO_KEY}"}


def check_error(path: str, doc: Any) -> None:
    """A 4xx body in the shape of the path's API."""
    if path.startswith("/v1/messages"):
        assert doc["type"] == "error" and set(doc["error"]) == {"type", "message"}, doc
    elif path.startswith("/v1beta/"):
        assert set(doc["error"]) >= {"code", "message", "status"}, doc
        assert isinstance(doc["error"]["code"], int) and isinstance(doc["error"]["status"], str), doc
    else:
        assert set(doc["error"]) == {"message", "type", "param", "code"}, doc


INTEGERS = ("max_tokens", "max_completion_tokens", "n")


def positive_chat(case: Any) -> bool:
    """A chat body the document allows, aimed at a route the gateway has."""
    if case.operation.definition.raw.get("operationId") != "createChatCompletion" or case.meta is None:
        return False
    if case.meta.generation.mode.value != "positive" or not isinstance(case.body, dict):
        return False
    case.body["model"] = "auto"
    return True


def unknown_message_field(body: dict[str, Any], error: dict[str, Any]) -> bool:
    """The provider refused a message field it does not know: the document lets a message carry
    more (the gateway passes fields it does not know on, e.g. DeepSeek's `reasoning_content`),
    and OpenAI, like the simulator, refuses what it does not know, in a tool call too."""
    m = re.search(r"Additional properties are not allowed \(.*\) - 'messages\.(\d+)(?:\.tool_calls\.(\d+))?'",
                  error["message"])
    if m is None:
        return False
    message = body["messages"][int(m.group(1))]
    if m.group(2) is not None:
        return bool(set(message["tool_calls"][int(m.group(2))]) - CALL_FIELDS)
    return bool(set(message) - MESSAGE_FIELDS)


def check_served(body: dict[str, Any], status: int, error: dict[str, Any] | None) -> None:
    """A positive chat body is served, or refused only for what JSON Schema cannot state."""
    if status == 200:
        return
    assert status == 400 and error is not None, (status, error)
    if error["code"] == "context_length_exceeded":
        return
    if unknown_message_field(body, error):
        return
    assert error["param"] in INTEGERS and isinstance(body[error["param"]], float), (error, body)


def call(case: Any, gateway: Proc) -> None:  # noqa: F811
    served = positive_chat(case)
    response = case.call(base_url=gateway.url, headers=key_headers(case.path), timeout=30)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
    error = json.loads(response.text)["error"] if response.status_code >= 400 else None
    if response.status_code >= 400:
        check_error(case.path, json.loads(response.text))
    if served:
        check_served(case.body, response.status_code, error)


@schema.include(operation_id=FULL).parametrize()
@pytest.mark.filterwarnings("ignore")
def test_api_answers_within_its_contract(case, gateway: Proc) -> None:  # noqa: F811
    call(case, gateway)


@others.parametrize()
@settings(max_examples=BOUNDED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_other_apis_answer_within_their_contract(case, gateway: Proc) -> None:  # noqa: F811
    call(case, gateway)


def test_served_document_and_wrong_methods(gateway: Proc) -> None:  # noqa: F811
    """/openapi.json is the document; a method a path does not list is a 404/405 in its API's shape."""
    doc = openapi.document()
    with requests.Session() as client:
        assert client.get(f"{gateway.url}/openapi.json", timeout=30).json() == doc
        for path, item in doc["paths"].items():
            if not any("security" in op for op in item.values()):
                continue  # the probes answer plain text
            url = path.replace("{model}", "auto")
            method = "PUT" if "post" in item else "POST"
            response = client.request(method, gateway.url + url, headers=key_headers(path), json={}, timeout=30)
            assert response.status_code in (404, 405), (method, path, response.status_code)
            if response.status_code == 405:  # RFC 9110: it names the methods the path has
                assert "POST" in response.headers["Allow"] or "GET" in response.headers["Allow"], path
            check_error(path, response.json())
