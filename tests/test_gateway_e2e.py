"""The gateway end to end: real processes, real HTTP, a real engine, the official `openai` SDK."""

from __future__ import annotations

import json
import urllib.request
from typing import Iterator

import openai
import pytest

from tests.procs import DEMO_KEY, Proc, config_yaml, sim_calls, sim_set, start_gateway, wait_for


def raw(url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
        method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = config_yaml(sim.port, "e2e", server="request_timeout_s: 20\n  attempt_budget: 3\n  max_body_bytes: 65536")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url, workers=2) as proc:
        yield proc


MESSAGES = [{"role": "user", "content": "Hello there, how are you today?"}]


def test_plain_completion_carries_decision_headers(client: openai.OpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    completion = resp.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert resp.headers["x-gateway-model"] == "gpt-5.4-mini"
    assert resp.headers["x-gateway-provider"] == "sim"
    assert resp.headers["x-gateway-fallbacks"] == "0"
    assert resp.headers["x-request-id"].startswith("req_")
    expected = (completion.usage.prompt_tokens * 400_000 + completion.usage.completion_tokens * 1_600_000)
    assert float(resp.headers["x-gateway-cost-usd"]) == pytest.approx(-(-expected // 1_000_000) / 1e6)


def test_stream_read_chunk_by_chunk_equals_plain_answer(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="auto", messages=MESSAGES)
    chunks = list(client.chat.completions.create(model="auto", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices]) > 1
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_burst_and_paced_streams_carry_the_same_events(client: openai.OpenAI, sim: Proc) -> None:
    """A stream that arrives in one burst is answered in one piece (content-length); a paced one
    is relayed as it comes (chunked). The SDK reads the same events from both."""
    def read() -> tuple[object, list]:
        resp = client.chat.completions.with_raw_response.create(
            model="gpt-5.4-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        return resp.headers, list(resp.parse())

    burst_headers, burst = read()
    sim_set(sim, "gpt-5.4-mini", tokens_per_s=400)
    paced_headers, paced = read()
    assert burst_headers["content-type"].startswith("text/event-stream")
    assert paced_headers["content-type"].startswith("text/event-stream")
    assert "content-length" in burst_headers and "content-length" not in paced_headers
    assert paced_headers["transfer-encoding"] == "chunked"
    for chunks in (burst, paced):
        assert len([c for c in chunks if c.choices]) > 1
        assert chunks[-1].usage is not None and chunks[-1].choices == []
    text = ["".join(c.choices[0].delta.content or "" for c in chunks if c.choices) for chunks in (burst, paced)]
    assert text[0] == text[1] and text[0]
    assert burst[-1].usage.completion_tokens == paced[-1].usage.completion_tokens


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="auto", messages=MESSAGES, stream=True))
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_concrete_model_and_route_alias(client: openai.OpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(model="deepseek-v4-pro", messages=MESSAGES)
    assert resp.headers["x-gateway-model"] == "deepseek-v4-pro"
    resp = client.chat.completions.with_raw_response.create(model="frontier", messages=MESSAGES)
    assert resp.headers["x-gateway-model"] == "gpt-5.5"
    assert resp.headers["x-gateway-route"] == "frontier"


def test_models_lists_routes_and_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"auto", "frontier", "gpt-5.5", "gpt-5.4-mini", "deepseek-v4-pro"} <= ids


def test_fallback_when_primary_fails(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "gpt-5.4-mini", fail_status=503)
    resp = client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    assert resp.headers["x-gateway-model"] == "deepseek-v4-pro"
    assert resp.headers["x-gateway-fallbacks"] == "1"
    assert resp.parse().choices[0].message.content


def test_stream_fails_over_before_first_byte(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "gpt-5.5", fail_status=500)
    resp = client.chat.completions.with_raw_response.create(model="frontier", messages=MESSAGES, stream=True)
    assert resp.headers["x-gateway-model"] == "gpt-5.4"
    text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text


def test_all_upstreams_failing_gives_5xx(client: openai.OpenAI, sim: Proc) -> None:
    for model in ("gpt-5.5", "gpt-5.4"):
        sim_set(sim, model, fail_status=500)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="frontier", messages=MESSAGES)
    assert info.value.status_code in (502, 503)
    assert info.value.body["type"] in ("upstream_error", "service_unavailable")


def test_upstream_bad_request_is_not_retried(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "gpt-5.4-mini", fail_status=400)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=MESSAGES)
    assert sim_calls(sim).get("deepseek-v4-pro", 0) == 0


def test_bad_key_missing_key(gateway: Proc) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="auto", messages=MESSAGES)
    assert info.value.body["code"] == "invalid_api_key"
    status, _, body = raw(f"{gateway.url}/v1/chat/completions", b"{}", {"content-type": "application/json"})
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert info.value.body["code"] == "model_not_found"


def test_bad_fields_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=[])
    assert info.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[{"role": "wizard", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=MESSAGES, temperature=7)


def test_bad_json_is_400_in_openai_format(gateway: Proc) -> None:
    headers = {"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"}
    status, resp_headers, body = raw(f"{gateway.url}/v1/chat/completions", b"{not json", headers)
    assert status == 400
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "x-request-id" in {k.lower() for k in resp_headers}


def test_body_over_limit_is_413(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x" * 70_000}])
    assert info.value.status_code == 413
    assert info.value.body["code"] == "request_too_large"


def test_health_ready_metrics(gateway: Proc, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="auto", messages=MESSAGES)
    status, _, body = raw(f"{gateway.url}/healthz", method="GET")
    assert status == 200 and body == b"ok"
    status, _, body = raw(f"{gateway.url}/readyz", method="GET")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ready" and len(ready["config_hash"]) == 16
    status, headers, body = raw(f"{gateway.url}/metrics", method="GET")
    assert status == 200 and b"# TYPE gateway_requests_total counter" in body


def test_log_lines_hold_no_prompt_and_no_secret(gateway: Proc, client: openai.OpenAI) -> None:
    secret_prompt = "my-very-private-prompt-text-4242"
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": secret_prompt}])
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-live-abcdef123456", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="auto", messages=MESSAGES)
    wait_for(lambda: sum('"request"' in line for line in gateway.log_lines()) >= 2)
    text = "\n".join(gateway.log_lines())
    assert secret_prompt not in text
    assert DEMO_KEY not in text and "sk-live-abcdef123456" not in text and "sim-test-key" not in text
    requests = [json.loads(line) for line in gateway.log_lines() if line.startswith("{") and '"request"' in line]
    assert any(r.get("status") == 200 and r.get("model") for r in requests)
    assert any(r.get("status") == 401 for r in requests)


def test_responses_previous_id_needs_storage_which_is_off_by_default(client: openai.OpenAI) -> None:
    first = client.responses.create(model="auto", input="Hello")
    assert first.output_text and first.store is False  # not kept: storage is off
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="auto", input="Again", previous_response_id=first.id)
    assert info.value.body["code"] == "response_storage_disabled"
    assert info.value.body["param"] == "previous_response_id"
