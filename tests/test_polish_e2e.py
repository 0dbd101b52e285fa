"""Rough edges of a newcomer audit (real SDKs against a running gateway): each answer is the one
the client's own API gives, in its own error shape, with a message that says what to do."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from gateway.auth import INVALID_KEY
from tests.procs import ADMIN_KEY, DEMO_KEY, Proc, config_yaml, start_gateway


@pytest.fixture(scope="module")
def gw(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A gateway with the defaults: response storage off."""
    proc = start_gateway(tmp_path_factory.mktemp("polish"), config_yaml(sim.port, f"polish{time.time_ns()}"),
                         redis_url)
    yield proc
    proc.stop()


@pytest.fixture
def client(gw: Proc) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def refused(client: openai.OpenAI, messages: list[dict[str, Any]]) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=messages)  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    return body


@pytest.mark.parametrize("message", [{"role": "user"}, {"role": "user", "content": None},
                                     {"role": "system", "content": None}, {"role": "developer"}])
def test_a_message_without_content_is_a_400_naming_it(client: openai.OpenAI, message: dict[str, Any]) -> None:
    """OpenAI refuses a user, system or developer message without content; it was a 200."""
    body = refused(client, [message] if message["role"] == "user" else [message, {"role": "user", "content": "Hi"}])
    assert body["param"] == "messages[0].content"
    assert "messages[0].content" in body["message"]


def test_only_an_assistant_turn_with_tool_calls_may_go_without_content(client: openai.OpenAI) -> None:
    """OpenAI's rule: an assistant message's content is "required unless tool_calls or
    function_call is specified"; a tool message needs its content."""
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    asked = {"role": "user", "content": "Weather?"}
    ok = client.chat.completions.create(model="auto", messages=[
        asked, {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}])
    assert ok.choices[0].message.content
    body = refused(client, [asked, {"role": "assistant", "tool_calls": [call]},
                            {"role": "tool", "tool_call_id": "call_1", "content": None}])
    assert body["param"] == "messages[2].content"
    body = refused(client, [asked, {"role": "assistant", "content": None}, {"role": "user", "content": "Hm?"}])
    assert body["param"] == "messages[1].content" and "tool_calls" in body["message"]


def test_stored_response_calls_say_storage_is_off(gw: Proc, client: openai.OpenAI) -> None:
    """`responses.retrieve` (and delete, cancel, input_items) was a 404 "Unknown path": with
    storage off, each is a 404 in OpenAI's shape that says why and how to turn storage on."""
    calls = [lambda: client.responses.retrieve("resp_abc"), lambda: client.responses.delete("resp_abc"),
             lambda: client.responses.cancel("resp_abc"), lambda: client.responses.input_items.list("resp_abc")]
    for send in calls:
        with pytest.raises(openai.NotFoundError) as info:
            send()
        error = info.value.body
        assert isinstance(error, dict) and error["code"] == "response_storage_disabled", error
        assert "does not store responses" in error["message"] and "responses.enabled" in error["message"]
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="sk-wrong", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError):
            stranger.responses.retrieve("resp_abc")


def post_raw(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={"content-type": "application/json",
                                                                          **headers})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    return info.value.code, json.loads(info.value.read())


def test_a_model_path_posted_without_a_method_answers_in_the_clients_shape(gw: Proc,
                                                                          client: openai.OpenAI) -> None:
    """`POST /v1/models/{model}` without `:method` answered in Gemini's shape even to an OpenAI
    client; each client gets its own API's 404 now, a Gemini client still Google's."""
    with pytest.raises(openai.NotFoundError) as info:
        client.post("/models/gpt-5.4", cast_to=object, body={})
    assert info.value.body["code"] == "unknown_url" and set(info.value.body) == {"message", "type", "param", "code"}
    assert "POST" in info.value.body["message"] and "/v1/models/gpt-5.4" in info.value.body["message"]
    status, doc = post_raw(f"{gw.url}/v1/models/gpt-5.4", {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"})
    assert status == 404 and doc["type"] == "error" and doc["error"]["type"] == "not_found_error"
    for url, headers in ((f"{gw.url}/v1/models/gpt-5.4", {"x-goog-api-key": DEMO_KEY}),
                         (f"{gw.url}/v1/models/gpt-5.4?key={DEMO_KEY}", {}),
                         (f"{gw.url}/v1beta/models/gpt-5.4", {"authorization": f"Bearer {DEMO_KEY}"})):
        status, doc = post_raw(url, headers)
        assert status == 404 and doc["error"]["status"] == "NOT_FOUND", doc


def test_the_admin_key_on_a_model_endpoint_is_told_model_endpoints_need_a_virtual_key(gw: Proc) -> None:
    """It got a bare "Invalid API key."; it is told model endpoints take a virtual key and the
    admin key opens only the admin API. Every wrong key gets the same words: an admin key told
    apart here would answer admin-key guesses outside admin.failures_* (no leak)."""
    for key in (ADMIN_KEY, "sk-wrong"):
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError) as info:
                client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}])
        assert info.value.body["message"] == INVALID_KEY and ADMIN_KEY not in INVALID_KEY
        assert "virtual key" in INVALID_KEY and "admin key" in INVALID_KEY
        with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0) as claude:
            with pytest.raises(anthropic.AuthenticationError) as ainfo:
                claude.messages.create(model="auto", max_tokens=16, messages=[{"role": "user", "content": "Hi"}])
        assert ainfo.value.body["error"]["message"] == INVALID_KEY


def test_a_missing_key_is_told_the_header_of_its_own_api(gw: Proc) -> None:
    """The missing-key message named `Authorization: Bearer` on every path."""
    status, doc = post_raw(f"{gw.url}/v1/messages", {"anthropic-version": "2023-06-01"})
    assert status == 401 and doc["error"]["type"] == "authentication_error"
    assert doc["error"]["message"].startswith("Missing API key") and "'x-api-key'" in doc["error"]["message"]
    for url in (f"{gw.url}/v1beta/models/auto:generateContent", f"{gw.url}/v1beta/models/auto:countTokens"):
        status, doc = post_raw(url, {})
        assert status == 401 and "x-goog-api-key" in doc["error"]["message"] and "?key=" in doc["error"]["message"]
    status, doc = post_raw(f"{gw.url}/v1/chat/completions", {})
    assert status == 401 and "Authorization: Bearer" in doc["error"]["message"]


def test_the_openapi_document_lists_get_one_model(gw: Proc) -> None:
    """`GET /v1/models/{model}` was served but only its `/v1beta` twin was in /openapi.json."""
    with urllib.request.urlopen(f"{gw.url}/openapi.json") as answer:
        doc = json.loads(answer.read())
    operation = doc["paths"]["/v1/models/{model}"]["get"]
    assert operation["parameters"][0]["name"] == "model" and operation["parameters"][0]["in"] == "path"
    assert set(operation["responses"]) >= {"200", "401", "404"}
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        assert client.models.retrieve("auto").id == "auto"  # what the entry describes
