"""Tracing end to end, the requests that never reach a model and the streams relayed as they came:
a request the gateway refuses (a bad key, a body too large, bad JSON, a rate limit, a guardrail
block) is a server span in the client's trace with its status and `error.type`, when the client's
`traceparent` says it is sampled; a stream answered in the provider's own format (an Anthropic
client on a Claude deployment, a Gemini client on Gemini) carries its finish reasons. The
official SDKs are the clients (raw HTTP only where no SDK would send the bytes: invalid JSON)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from typing import Any, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from gateway.observe.tracing.context import new_span_id, new_trace_id
from tests.otlp_collector import Collector
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, start_gateway
from tests.test_tracing_e2e import by_kind

LIMITED_KEY, BLOCK_KEY = "sk-trace-edge-limited", "sk-trace-edge-block"
MAX_BODY = 65_536
# the canonical (OpenAI) names the spans use on every path, whatever API the client spoke
CANONICAL = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
             "STOP": "stop", "MAX_TOKENS": "length"}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def config(sim: Proc, collector: Collector) -> str:
    base = sim.url
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2, max_body_bytes: {MAX_BODY}}}
state: {{prefix: tredge, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  sim: {{format: openai, base_url: {base}/v1, api_key_env: SIMULATOR_API_KEY}}
  anthropic: {{format: anthropic, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  gemini: {{format: gemini, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
  claude-opus-4.7: {{provider: anthropic, price: {{input: 15, output: 75}}}}
  gemini-2.5-flash: {{provider: gemini, price: {{input: 0.3, output: 2.5}}}}
routes:
  auto: {{primary: gpt-5.4-mini}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
  - {{name: limited, sha256: {sha(LIMITED_KEY)}, rpm: 1}}
  - {{name: blocker, sha256: {sha(BLOCK_KEY)}, guardrail: strict}}
guardrails:
  strict: {{detect: [secret, card], action: block}}
tracing:
  enabled: true
  endpoint: {collector.url}
  export_interval_s: 0.05
"""


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as c:
        yield c


@pytest.fixture(scope="module")
def gateway(sim: Proc, collector: Collector, redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim, collector), redis_url) as proc:
        yield proc


def traceparent(sampled: bool = True) -> tuple[str, str, dict[str, str]]:
    trace_id, parent = new_trace_id(), new_span_id()
    return trace_id, parent, {"traceparent": f"00-{trace_id}-{parent}-{'01' if sampled else '00'}"}


def openai_client(gateway: Proc, key: str = DEMO_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def hello(client: openai.OpenAI, headers: dict[str, str], content: str = "Say hello") -> Any:
    return client.chat.completions.create(model="auto", messages=[{"role": "user", "content": content}],
                                          extra_headers=headers)


def refused_span(collector: Collector, gateway: Proc, trace_id: str, parent: str, status: int) -> dict[str, Any]:
    """The one span of a refused request: a server span, child of the client's, no attempt."""
    server, attempts = by_kind(collector.trace(trace_id, 1))
    assert attempts == [] and server["parent_span_id"] == parent
    assert server["attributes"]["http.response.status_code"] == status
    assert server["status"] == 0  # a 4xx is the client's error: error.type set, status unset
    return server


def test_a_bad_key_is_a_span_in_each_apis_shape(gateway: Proc, collector: Collector) -> None:
    trace_id, parent, headers = traceparent()
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-not-a-key", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model="claude-opus-4.7", max_tokens=20, messages=[{"role": "user", "content": "hi"}],
                                extra_headers=headers)
    server = refused_span(collector, gateway, trace_id, parent, 401)
    attrs = server["attributes"]
    assert attrs["error.type"] == "invalid_api_key" and attrs["gateway.api"] == "anthropic.messages"
    assert server["name"] == "POST /v1/messages" and "gen_ai.request.model" not in attrs  # unread: not ""


def test_a_body_too_large_is_a_span(gateway: Proc, collector: Collector) -> None:
    trace_id, parent, headers = traceparent()
    with openai_client(gateway) as client, pytest.raises(openai.APIStatusError) as info:
        hello(client, headers, "x" * (MAX_BODY + 1))
    assert info.value.status_code == 413
    server = refused_span(collector, gateway, trace_id, parent, 413)
    assert server["attributes"]["error.type"] == info.value.code
    assert server["attributes"]["gateway.key"] == "demo"  # the key was read before the body


def test_a_body_that_is_not_json_is_a_span(gateway: Proc, collector: Collector) -> None:
    trace_id, parent, headers = traceparent()
    request = urllib.request.Request(f"{gateway.url}/v1/chat/completions", data=b'{"model": "auto", "messages": [',
                                     method="POST", headers={**headers, "authorization": f"Bearer {DEMO_KEY}",
                                                             "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    body = json.loads(info.value.read())
    server = refused_span(collector, gateway, trace_id, parent, 400)
    assert server["attributes"]["error.type"] == body["error"]["code"] or body["error"]["type"]


def test_a_rate_limited_request_is_a_span(gateway: Proc, collector: Collector) -> None:
    with openai_client(gateway, LIMITED_KEY) as client:
        hello(client, {})  # the key's one request a minute
        trace_id, parent, headers = traceparent()
        with pytest.raises(openai.RateLimitError) as info:
            hello(client, headers)
    server = refused_span(collector, gateway, trace_id, parent, 429)
    assert server["attributes"]["error.type"] == info.value.code == "rate_limit_exceeded"
    assert server["attributes"]["gateway.key"] == "limited" and server["attributes"]["gateway.route"] == "auto"


def test_a_guardrail_block_is_a_span_and_the_prompt_is_not_on_it(gateway: Proc, collector: Collector) -> None:
    trace_id, parent, headers = traceparent()
    card = "4111 1111 1111 1111"
    with openai_client(gateway, BLOCK_KEY) as client, pytest.raises(openai.BadRequestError) as info:
        hello(client, headers, f"my card is {card}")
    server = refused_span(collector, gateway, trace_id, parent, 400)
    assert server["attributes"]["error.type"] == info.value.code == "guardrail_blocked"
    assert card not in json.dumps(server)


def test_an_unsampled_refusal_makes_no_span(gateway: Proc, collector: Collector) -> None:
    """The client's flag decides, as for any request: the unsampled refusal is queued before the
    sampled one (one worker, one queue in order), so once the second has arrived the first would have."""
    quiet_id, _, quiet = traceparent(sampled=False)
    loud_id, loud_parent, loud = traceparent()
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-not-a-key", max_retries=0) as bad:
        for headers in (quiet, loud):
            with pytest.raises(openai.AuthenticationError):
                hello(bad, headers)
    refused_span(collector, gateway, loud_id, loud_parent, 401)
    assert not [s for s in collector.spans if s["trace_id"] == quiet_id]


def test_an_anthropic_stream_relayed_natively_has_its_finish_reasons(gateway: Proc, collector: Collector) -> None:
    trace_id, _, headers = traceparent()
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as client:
        with client.messages.stream(model="claude-opus-4.7", max_tokens=200, extra_headers=headers,
                                    messages=[{"role": "user", "content": "Say hello"}]) as stream:
            final = stream.get_final_message()
    server, (attempt,) = by_kind(collector.trace(trace_id, 2))
    want = [CANONICAL[final.stop_reason]]
    assert server["attributes"]["gen_ai.response.finish_reasons"] == want
    assert attempt["attributes"]["gen_ai.response.finish_reasons"] == want
    assert server["attributes"]["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_a_gemini_stream_relayed_natively_has_its_finish_reasons(gateway: Proc, collector: Collector) -> None:
    trace_id, _, headers = traceparent()
    client = genai.Client(api_key=DEMO_KEY, http_options=types.HttpOptions(
        base_url=gateway.url, headers=headers, retry_options=types.HttpRetryOptions(attempts=1)))
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hello"))
    reasons = [c.candidates[0].finish_reason.value for c in chunks if c.candidates and c.candidates[0].finish_reason]
    server, (attempt,) = by_kind(collector.trace(trace_id, 2))
    want = [CANONICAL[r] for r in reasons]
    assert want and server["attributes"]["gen_ai.response.finish_reasons"] == want
    assert attempt["attributes"]["gen_ai.response.finish_reasons"] == want
