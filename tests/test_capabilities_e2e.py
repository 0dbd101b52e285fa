"""Capability-aware routing through the running gateway: an image sent with the openai or the
anthropic SDK skips a text-only model (`models.<name>.supports`) for the next one of the chain,
which the simulator confirms by who was called; a model named outright that lacks the capability
is a 400 in the client's own error format."""

from __future__ import annotations

import json
import time
from typing import Iterator

import anthropic
import openai
import pytest

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_reset, start_gateway, wait_for

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
SIMPLE = {"x-gateway-task": "simple_chat"}


def config(sim_port: int, prefix: str) -> str:
    return f"""
server: {{request_timeout_s: 20}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  deepseek-v4-pro: {{provider: sim, price: {{input: 0.14, output: 0.28}}, supports: [tools]}}
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: deepseek-v4-pro, fallbacks: [gpt-5.4-mini]}}
  textonly: {{primary: deepseek-v4-pro}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("caps"), config(sim.port, f"caps-{time.time_ns()}"), redis_url) as gw:
        yield gw


@pytest.fixture
def oa(gateway: Proc, sim: Proc) -> Iterator[openai.OpenAI]:
    sim_reset(sim)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def claude(gateway: Proc, sim: Proc) -> Iterator[anthropic.Anthropic]:
    sim_reset(sim)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def logged(gateway: Proc, request_id: str) -> dict:
    """The request's log line (written once the answer has gone out)."""
    def line() -> dict | None:
        return next((json.loads(t) for t in gateway.log_lines() if request_id in t and '"request"' in t), None)
    wait_for(lambda: line() is not None)
    found = line()
    assert found is not None
    return found


def test_openai_image_skips_the_text_only_model(oa: openai.OpenAI, gateway: Proc, sim: Proc) -> None:
    raw = oa.chat.completions.with_raw_response.create(model="auto", extra_headers=SIMPLE, messages=[
        {"role": "user", "content": [{"type": "text", "text": "What colour is this pixel?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert raw.headers["x-gateway-model"] == "gpt-5.4-mini"
    assert raw.headers["x-gateway-fallbacks"] == "0"  # skipped by the plan, not tried and failed
    assert raw.parse().choices[0].message.content
    assert sim_calls(sim).get("deepseek-v4-pro", 0) == 0
    assert "deepseek-v4-pro:lacks:vision" in logged(gateway, raw.headers["x-request-id"])["skipped"]
    # the same route, text only: the text-only model serves it
    text = oa.chat.completions.with_raw_response.create(model="auto", extra_headers=SIMPLE,
                                                        messages=[{"role": "user", "content": "hello there"}])
    assert text.headers["x-gateway-model"] == "deepseek-v4-pro"


def test_openai_tools_are_what_the_text_only_model_takes(oa: openai.OpenAI) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    raw = oa.chat.completions.with_raw_response.create(
        model="auto", extra_headers=SIMPLE, tools=[tool],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    assert raw.headers["x-gateway-model"] == "deepseek-v4-pro"


def test_openai_no_capable_model_is_a_400(oa: openai.OpenAI, sim: Proc) -> None:
    image = [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                                          {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]
    for model, says in (("textonly", "No model of route 'textonly' accepts images"),
                        ("deepseek-v4-pro", "The model 'deepseek-v4-pro' does not accept images")):
        with pytest.raises(openai.BadRequestError) as info:
            oa.chat.completions.create(model=model, messages=image)  # type: ignore[arg-type]
        assert info.value.code == "unsupported_capability" and info.value.param == "messages"
        assert says in info.value.message and "supports" in info.value.message
    assert sim_calls(sim).get("deepseek-v4-pro", 0) == 0


def test_anthropic_image_block_skips_the_text_only_model(claude: anthropic.Anthropic, gateway: Proc,
                                                         sim: Proc) -> None:
    raw = claude.messages.with_raw_response.create(
        model="auto", max_tokens=64, extra_headers=SIMPLE,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "text", "text": "What colour is this pixel?"}]}])
    assert raw.headers["x-gateway-model"] == "gpt-5.4-mini"
    message = raw.parse()
    assert message.content and message.content[0].type == "text"
    assert sim_calls(sim).get("deepseek-v4-pro", 0) == 0
    assert "deepseek-v4-pro:lacks:vision" in logged(gateway, raw.headers["x-request-id"])["skipped"]


def test_anthropic_no_capable_model_is_a_400_in_anthropic_format(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="textonly", max_tokens=64, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "text", "text": "What is it?"}]}])
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "No model of route 'textonly' accepts images" in body["error"]["message"]
