"""The Anthropic Messages API end to end: the official `anthropic` SDK → the gateway → the simulator
speaking each provider's own format (OpenAI, Azure OpenAI, Anthropic, Gemini), over real HTTP."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Iterator

import anthropic
import pytest

from gateway.auth import INVALID_KEY
from tests.procs import DEMO_KEY, Proc, sim_reset, sim_set, start_gateway, wait_for
from tests.test_gateway_e2e import raw
from tests.test_providers_e2e import PRICES, PROVIDERS
from tests.test_providers_e2e import config as providers_config

TIGHT_KEY = "sk-gateway-tight"
WEATHER = {"name": "get_weather", "description": "Current weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
SYSTEM = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
ASK = [{"role": "user", "content": "Tell me something nice about the sea."}]


def config(sim_port: int) -> str:
    """The provider tests' config (a deployment per wire format), with a key allowed one request
    a minute."""
    sha = hashlib.sha256(TIGHT_KEY.encode()).hexdigest()
    return providers_config(sim_port).replace("prefix: prov", "prefix: amsg") + f"  - {{name: tight, sha256: {sha}, rpm: 1}}\n"


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port), redis_url) as proc:
        yield proc


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> Iterator[anthropic.Anthropic]:
    sim_reset(sim)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def cost(model: str, usage: anthropic.types.Usage) -> float:
    pin, pout, pcached = PRICES[model]
    cached = usage.cache_read_input_tokens or 0
    return math.ceil((usage.input_tokens * pin + cached * pcached + usage.output_tokens * pout) / 1_000_000) / 1e6


@pytest.mark.parametrize("model", PROVIDERS)
def test_create_plain_carries_usage_cost_and_headers(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(model=model, max_tokens=200, system=SYSTEM, messages=ASK,
                                                    metadata={"user_id": "user-42"})
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"] and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-gateway-provider"] == PROVIDERS[model][0]
    assert raw.headers["x-gateway-model"] == model
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(cost(model, message.usage), abs=1e-9)


@pytest.mark.parametrize("model", PROVIDERS)
def test_stream_reassembles_to_the_plain_answer_with_real_usage(client: anthropic.Anthropic, model: str) -> None:
    plain = client.messages.create(model=model, max_tokens=200, system=SYSTEM, messages=ASK)
    with client.messages.stream(model=model, max_tokens=200, system=SYSTEM, messages=ASK) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert final.content[0].text == plain.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.usage.input_tokens == plain.usage.input_tokens


@pytest.mark.parametrize("model", PROVIDERS)
def test_tool_round_trip(client: anthropic.Anthropic, model: str) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris? Use get_weather."}]
    first = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=ask)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    with client.messages.stream(model=model, max_tokens=200, tools=[WEATHER], messages=ask) as stream:
        streamed = stream.get_final_message()
    streamed_call = next(b for b in streamed.content if b.type == "tool_use")
    assert streamed_call.input == call.input and streamed.stop_reason == "tool_use"
    follow = ask + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                  "content": "18 degrees and sunny"}]}]
    second = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=follow)
    assert second.stop_reason == "end_turn" and second.content[0].type == "text" and second.content[0].text


@pytest.mark.parametrize("model", PROVIDERS)
def test_count_tokens_bounds_what_the_provider_bills(client: anthropic.Anthropic, model: str) -> None:
    counted = client.messages.count_tokens(model=model, system=SYSTEM, messages=ASK).input_tokens
    billed = client.messages.create(model=model, max_tokens=50, system=SYSTEM, messages=ASK).usage
    assert billed.input_tokens + (billed.cache_read_input_tokens or 0) <= counted < 4 * billed.input_tokens + 50
    with_tools = client.messages.count_tokens(model=model, system=SYSTEM, messages=ASK, tools=[WEATHER])
    assert with_tools.input_tokens > counted


def test_models_list_is_anthropics_page(gateway: Proc, client: anthropic.Anthropic) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert ids[0] == "auto" and set(PROVIDERS) <= set(ids) and page.has_more is False
    assert all(m.type == "model" and m.created_at.year >= 2026 for m in page.data)
    with pytest.raises(anthropic.AuthenticationError) as info:
        anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0).models.list()
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "authentication_error"


def test_route_with_fallback_across_formats(client: anthropic.Anthropic, sim: Proc) -> None:
    sim_set(sim, "claude-opus-4.7", fail_status=529)
    raw = client.messages.with_raw_response.create(model="claude-first", max_tokens=100, messages=ASK)
    assert raw.parse().content[0].text
    assert raw.headers["x-gateway-provider"] == "openai" and raw.headers["x-gateway-fallbacks"] == "1"


def test_errors_are_the_sdk_exception_classes(gateway: Proc, client: anthropic.Anthropic) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as exc:
            bad.messages.create(model="auto", max_tokens=10, messages=ASK)
    assert exc.value.body["type"] == "error" and exc.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as bad_request:
        client.messages.create(model="auto", max_tokens=10, messages=[{"role": "tool", "content": "hi"}])
    assert bad_request.value.body["error"]["type"] == "invalid_request_error"
    assert "messages.0.role" in bad_request.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=10, messages=ASK)
    with anthropic.Anthropic(base_url=gateway.url, api_key=TIGHT_KEY, max_retries=0) as tight:
        tight.messages.create(model="auto", max_tokens=10, messages=ASK)
        with pytest.raises(anthropic.RateLimitError) as limited:
            tight.messages.create(model="auto", max_tokens=10, messages=ASK)
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_stream_failing_after_its_start_ends_with_an_error_event(client: anthropic.Anthropic, sim: Proc) -> None:
    sim_set(sim, "gpt-5.4-mini", stream_abort_after=3, output_tokens=40)
    with pytest.raises(anthropic.APIStatusError) as exc:
        with client.messages.stream(model="gpt-5.4-mini", max_tokens=200, messages=ASK) as stream:
            for _ in stream:
                pass
    assert exc.value.body["type"] == "error" and exc.value.body["error"]["type"] == "api_error"


def test_every_client_key_header_is_accepted(gateway: Proc, sim: Proc) -> None:
    sim_reset(sim)
    body = {"model": "auto", "max_tokens": 20, "messages": ASK}
    with anthropic.Anthropic(base_url=gateway.url, auth_token=DEMO_KEY, max_retries=0) as bearer:
        assert bearer.messages.create(**body).content[0].text  # ANTHROPIC_AUTH_TOKEN: Bearer
    chat = {"model": "auto", "messages": ASK}

    def post(path: str, doc: dict, key: str, header: str) -> tuple[int, dict]:
        status, _, data = raw(f"{gateway.url}{path}", json.dumps(doc).encode(),
                              {header: key, "content-type": "application/json"})
        return status, json.loads(data)

    for header in ("x-api-key", "api-key"):
        status, doc = post("/v1/chat/completions", chat, DEMO_KEY, header)
        assert status == 200 and doc["object"] == "chat.completion"
        status, doc = post("/v1/messages", body, DEMO_KEY, header)
        assert status == 200 and doc["type"] == "message"
    status, doc = post("/v1/messages", body, "sk-nope", "x-api-key")
    assert status == 401 and doc == {"type": "error", "error": {"type": "authentication_error",
                                                                "message": INVALID_KEY}}
    status, doc = post("/v1/chat/completions", chat, "sk-nope", "x-api-key")
    assert status == 401 and doc["error"]["code"] == "invalid_api_key"


def test_messages_log_line_has_api_task_model_and_cost(client: anthropic.Anthropic, gateway: Proc) -> None:
    raw = client.messages.with_raw_response.create(model="claude-opus-4.7", max_tokens=50, messages=ASK)
    rid = raw.headers["x-request-id"]

    def line() -> dict | None:
        return next((json.loads(text) for text in gateway.log_lines() if rid in text and '"request"' in text), None)

    wait_for(lambda: line() is not None)
    record = line()
    assert record["api"] == "anthropic.messages" and record["model"] == "claude-opus-4.7"
    assert record["task"] == raw.headers["x-gateway-task"] and record["provider"] == "anthropic"
    assert record["cost_usd"] == float(raw.headers["x-gateway-cost-usd"]) > 0
