"""Pure pieces: cost arithmetic, the SSE parser, the OpenAI adapter, auth, metrics."""

from __future__ import annotations

import hashlib

import orjson
import pytest
import yaml

from gateway.auth import Authenticator
from gateway.config import ApiKey, Price, parse_config
from gateway.errors import GatewayError
from gateway.observe.log import redact
from gateway.observe.metrics import Metrics
from gateway.pricing import Usage, cost_micro, max_cost_micro
from gateway.providers import client_status, retry_after_seconds
from gateway.providers.anthropic.response import usage_from as anthropic_usage
from gateway.providers.bedrock.response import usage_from as bedrock_usage
from gateway.providers.openai_side import usage_body
from gateway.net.sse import SSEParser
from tests.procs import config_yaml

PRICE = Price(input=2_500_000, output=15_000_000, cached_input=250_000)


def test_cost_is_exact_micro_dollars() -> None:
    # 1,000 prompt (200 cached) + 500 completion at $2.50 / $15 / $0.25 per million:
    # 800*2.5 + 200*0.25 + 500*15 = 2000 + 50 + 7500 micro-dollars
    assert cost_micro(Usage(1000, 500, cached_tokens=200), PRICE) == 9550
    assert cost_micro(Usage(1, 0), PRICE) == 3  # 2.5 rounds up: never under-charge
    assert cost_micro(Usage(), PRICE) == 0
    assert max_cost_micro(1000, 100, PRICE) == 2500 + 1500


def test_reasoning_tokens_billed_at_their_own_price() -> None:
    price = Price(input=1_000_000, output=4_000_000, cached_input=1_000_000, reasoning=8_000_000)
    assert cost_micro(Usage(10, 100, reasoning_tokens=40), price) == 10 + 60 * 4 + 40 * 8


def test_cache_writes_billed_at_their_own_prices_and_reserved_for() -> None:
    # $3 input, $0.30 cached, $3.75 written for 5 minutes, $6 for an hour, $15 output:
    price = Price(input=3_000_000, output=15_000_000, cached_input=300_000, cache_write=3_750_000,
                  cache_write_1h=6_000_000)
    usage = Usage(2000, 10, cached_tokens=500, cache_write_tokens=1200, cache_write_1h_tokens=200)
    # 300 fresh, 500 read, 1000 written for 5 minutes, 200 for an hour, 10 out
    assert cost_micro(usage, price) == 300 * 3 + 500 * 0.3 + 1000 * 3.75 + 200 * 6 + 10 * 15
    assert cost_micro(Usage(100, 0, cache_write_tokens=100), Price(input=3_000_000, output=0, cached_input=0)) == 300
    # the reservation prices every prompt token at the dearest input price
    assert max_cost_micro(2000, 10, price) == 2000 * 6 + 10 * 15
    assert cost_micro(Usage(2000, 10, cache_write_tokens=2000, cache_write_1h_tokens=2000), price) <= \
        max_cost_micro(2000, 10, price)


def test_claude_models_default_to_anthropics_cache_write_prices() -> None:
    doc = yaml.safe_load(config_yaml(9100, "t"))
    doc["providers"]["claude"] = {"format": "anthropic", "base_url": "https://api.anthropic.com",
                                  "api_key_env": "SIMULATOR_API_KEY"}
    doc["providers"]["aws"] = {"format": "bedrock", "base_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
                               "api_key_env": "SIMULATOR_API_KEY"}
    doc["models"].update({
        "c": {"provider": "claude", "upstream": "claude-sonnet-4-6", "price": {"input": 3, "output": 15}},
        "c-own": {"provider": "claude", "price": {"input": 3, "output": 15, "cache_write": 4, "cache_write_1h": 5}},
        "br-claude": {"provider": "aws", "upstream": "us.anthropic.claude-sonnet-4-6-v1:0",
                      "price": {"input": 3, "output": 15}},
        "br-nova": {"provider": "aws", "upstream": "amazon.nova-lite-v1:0", "price": {"input": 0.06, "output": 0.24}},
    })
    deps = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"}).deployments
    assert (deps["c"].price.cache_write, deps["c"].price.cache_write_1h) == (3_750_000, 6_000_000)
    assert (deps["c-own"].price.cache_write, deps["c-own"].price.cache_write_1h) == (4_000_000, 5_000_000)
    assert deps["br-claude"].price.cache_write == 3_750_000
    assert deps["br-nova"].price.cache_write is None and deps["gpt-5.4-mini"].price.cache_write is None


def test_providers_report_cache_writes_apart() -> None:
    claude = anthropic_usage({"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50,
                              "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20},
                              "output_tokens": 5})
    assert (claude.prompt_tokens, claude.cached_tokens, claude.cache_write_tokens, claude.cache_write_1h_tokens) == \
        (160, 100, 50, 20)
    converse = bedrock_usage({"inputTokens": 10, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 40,
                              "cacheDetails": [{"ttl": "1h", "inputTokens": 40}], "outputTokens": 3})
    assert (converse.prompt_tokens, converse.cache_write_tokens, converse.cache_write_1h_tokens) == (50, 40, 40)
    assert usage_body(claude)["prompt_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 50}
    assert usage_body(Usage(5, 1))["prompt_tokens_details"] == {"cached_tokens": 0}  # OpenAI's shape when none


def test_sse_parser_joins_split_events() -> None:
    parser = SSEParser()
    stream = b'event: a\ndata: {"x":1}\n\ndata: line1\ndata: line2\n\n: comment\ndata: [DONE]\n\n'
    events = []
    for i in range(len(stream)):
        events += parser.feed(stream[i:i + 1])
    assert events == [(b"a", b'{"x":1}'), (b"", b"line1\nline2"), (b"", b"[DONE]")]
    assert parser.feed(b"data: tail") == []
    assert parser.close() == [(b"", b"tail")]


def test_sse_parser_handles_crlf() -> None:
    assert SSEParser().feed(b"data: x\r\n\r\n") == [(b"", b"x")]


def test_retry_after_and_status_mapping() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert client_status(400) == (400, "invalid_request_error")
    assert client_status(401) == (502, "upstream_error")
    assert client_status(529) == (502, "upstream_error")
    assert client_status(504) == (504, "timeout")


def test_authenticator_accepts_only_the_right_key() -> None:
    key = ApiKey(name="demo", sha256=hashlib.sha256(b"sk-right").digest())
    auth = Authenticator((key,))
    assert auth.authenticate("Bearer sk-right") is key
    for header in (None, "", "Bearer", "Basic sk-right", "Bearer sk-wrong", "sk-right"):
        with pytest.raises(GatewayError) as info:
            auth.authenticate(header)
        assert info.value.status == 401
    with pytest.raises(GatewayError) as info:
        auth.authenticate_admin("Bearer sk-right")
    assert info.value.status == 403


def test_redact_masks_credentials() -> None:
    assert "sk-abcdef123456" not in redact("key sk-abcdef123456 used")
    assert "tok123456789" not in redact("Authorization: Bearer tok123456789")
    assert redact("plain words stay") == "plain words stay"


def test_metrics_render_prometheus_text() -> None:
    m = Metrics()
    m.requests.inc(("auto", "m", "p", "200"))
    m.latency.observe(("auto", "m"), 0.02)
    m.latency.observe(("auto", "m"), 100.0)
    text = m.render()
    assert 'gateway_requests_total{route="auto",model="m",provider="p",status="200",worker="' in text
    assert 'le="0.025"} 1\n' in text and 'le="+Inf"} 2\n' in text
    assert "gateway_request_duration_seconds_count" in text


def test_openai_error_body_shape() -> None:
    body = orjson.loads(GatewayError(400, "bad", "invalid_request_error", "c", "p").response().body)
    assert body == {"error": {"message": "bad", "type": "invalid_request_error", "param": "p", "code": "c"}}


def test_provider_quirks_are_data() -> None:
    from gateway.config import Quirks
    from gateway.providers.openai import apply_quirks

    body = {"model": "m", "max_completion_tokens": 50, "stream_options": {"include_usage": False}, "seed": 1}
    apply_quirks(body, Quirks(), stream=True)
    assert body["stream_options"] == {"include_usage": True} and body["max_completion_tokens"] == 50
    old_server = Quirks(stream_usage=False, max_tokens_field="max_tokens", drop_fields=("seed",))
    body = {"model": "m", "max_completion_tokens": 50, "stream_options": {"include_usage": True}, "seed": 1}
    apply_quirks(body, old_server, stream=True)
    assert body == {"model": "m", "max_tokens": 50}


def test_quirks_from_config() -> None:
    import yaml

    from gateway.config import ConfigError, parse_config
    from tests.procs import config_yaml

    doc = yaml.safe_load(config_yaml(9100, "t"))
    doc["providers"]["sim"]["quirks"] = {"stream_usage": False, "max_tokens_field": "max_tokens",
                                         "drop_fields": ["seed"]}
    quirks = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"}).providers["sim"].quirks
    assert (quirks.stream_usage, quirks.max_tokens_field, quirks.drop_fields) == (False, "max_tokens", ("seed",))
    doc["providers"]["sim"]["quirks"] = {"stream_usage": "no"}
    with pytest.raises(ConfigError, match="providers.sim.quirks.stream_usage"):
        parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"})
