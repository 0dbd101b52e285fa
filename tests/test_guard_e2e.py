"""Guardrails end to end: the official SDKs → the gateway (a real process) → the simulator, whose
`/_sim/requests` shows exactly what reached the provider. A redacting key's e-mail, card and key
never leave the gateway; a blocking key's request is refused in the client's own error format
and never sent; a key without a policy is untouched."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
import uuid
from typing import Any, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from tests.procs import DEMO_KEY, Proc, sim_requests, start_gateway
from tests.test_providers_e2e import config

REDACT_KEY, BLOCK_KEY = "sk-gateway-guard-redact", "sk-gateway-guard-block"
EMAIL, CARD, SECRET = "dana.miller@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE"
GUARDRAILS = """guardrails:
  pii: {detect: [email, phone, card, iban, secret], custom: {ticket: "TCK-[0-9]{5}"}, action: redact}
  strict: {detect: [secret, card], action: block}
"""


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = (config(sim.port).replace("prefix: prov", "prefix: guard")
            + f"  - {{name: redactor, sha256: {sha(REDACT_KEY)}, guardrail: pii}}\n"
            + f"  - {{name: blocker, sha256: {sha(BLOCK_KEY)}, guardrail: strict}}\n" + GUARDRAILS)
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def openai_client(gateway: Proc, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def upstream(sim: Proc, marker: str) -> dict[str, Any]:
    """The one body the simulator received that carries this test's marker."""
    bodies = [r["body"] for r in sim_requests(sim) if marker in json.dumps(r["body"])]
    assert len(bodies) == 1, bodies
    return bodies[0]


def test_openai_sdk_redacting_key_sends_placeholders_upstream(gateway: Proc, sim: Proc) -> None:
    marker = uuid.uuid4().hex
    arguments = json.dumps({"to": EMAIL, "ticket": "TCK-12345"})
    with openai_client(gateway, REDACT_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=[
            {"role": "system", "content": f"Case {marker}. Escalate to {EMAIL}."},
            {"role": "user", "content": f"Charge card {CARD} and mail me at {EMAIL}; key {SECRET}."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "notify", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": f"notified {EMAIL}"},
            {"role": "user", "content": "Summarise."}])
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-gateway-guardrail"] == "redacted"
    body = upstream(sim, marker)
    sent = json.dumps(body)
    assert EMAIL not in sent and CARD not in sent and SECRET not in sent and "TCK-12345" not in sent
    messages = body["messages"]
    assert messages[0]["content"] == f"Case {marker}. Escalate to [EMAIL_1]."
    assert messages[1]["content"] == "Charge card [CARD_1] and mail me at [EMAIL_1]; key [SECRET_1]."
    assert json.loads(messages[2]["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_1]",
                                                                                "ticket": "[TICKET_1]"}
    assert messages[3]["content"] == "notified [EMAIL_1]"


def test_a_redacted_stream_carries_the_header(gateway: Proc, sim: Proc) -> None:
    marker = uuid.uuid4().hex
    with openai_client(gateway, REDACT_KEY) as client:
        with client.chat.completions.with_streaming_response.create(
                model="auto", stream=True, messages=[{"role": "user", "content": f"{marker} call +44 20 7946 0958"}]
        ) as response:
            assert response.headers["x-gateway-guardrail"] == "redacted"
            assert any(chunk.choices for chunk in response.parse())
    assert upstream(sim, marker)["messages"][0]["content"] == f"{marker} call [PHONE_1]"


def test_a_key_without_a_policy_is_untouched(gateway: Proc, sim: Proc) -> None:
    marker = uuid.uuid4().hex
    text = f"{marker}: mail {EMAIL}, card {CARD}"
    with openai_client(gateway, DEMO_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto",
                                                               messages=[{"role": "user", "content": text}])
    assert "x-gateway-guardrail" not in raw.headers
    assert upstream(sim, marker)["messages"][0]["content"] == text


def test_blocking_key_gets_openai_400_guardrail_blocked_and_nothing_goes_upstream(gateway: Proc, sim: Proc) -> None:
    marker = uuid.uuid4().hex
    with openai_client(gateway, BLOCK_KEY) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="auto", messages=[
                {"role": "user", "content": f"{marker} my card is {CARD}, key {SECRET}"}])
    err = info.value
    assert err.status_code == 400 and err.code == "guardrail_blocked"
    assert err.response.headers["x-gateway-guardrail"] == "blocked"
    assert "secret, card" in err.message and CARD not in err.message and SECRET not in err.message
    assert not any(marker in json.dumps(r["body"]) for r in sim_requests(sim))
    # a clean request of the same key goes through
    with openai_client(gateway, BLOCK_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto",
                                                               messages=[{"role": "user", "content": "Say hi"}])
    assert raw.parse().choices[0].message.content and "x-gateway-guardrail" not in raw.headers


def test_anthropic_sdk_blocked_in_its_own_error_shape_and_redacted_on_a_claude_deployment(
        gateway: Proc, sim: Proc) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key=BLOCK_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(model="claude-opus-4.7", max_tokens=50,
                                   messages=[{"role": "user", "content": f"key {SECRET}"}])
    assert info.value.status_code == 400
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "invalid_request_error"
    assert "secret" in info.value.body["error"]["message"] and SECRET not in info.value.body["error"]["message"]

    marker = uuid.uuid4().hex
    with anthropic.Anthropic(base_url=gateway.url, api_key=REDACT_KEY, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="claude-opus-4.7", max_tokens=50, system=f"Case {marker}, owner {EMAIL}",
            messages=[{"role": "user", "content": [{"type": "text", "text": "IBAN DE89 3704 0044 0532 0130 00"}]}])
    assert raw.headers["x-gateway-guardrail"] == "redacted" and raw.parse().content
    body = upstream(sim, marker)  # the Messages body a format: anthropic deployment received, as it came
    assert body["system"] == f"Case {marker}, owner [EMAIL_1]"
    assert body["messages"][0]["content"][0]["text"] == "IBAN [IBAN_1]"


def test_gemini_sdk_blocked_in_googles_error_shape(gateway: Proc) -> None:
    client = genai.Client(api_key=BLOCK_KEY, http_options=types.HttpOptions(
        base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1)))
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents=f"card {CARD}")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "card" in info.value.message and CARD not in info.value.message


def test_embeddings_inputs_are_redacted(gateway: Proc, sim: Proc) -> None:
    marker = uuid.uuid4().hex
    with openai_client(gateway, REDACT_KEY) as client:
        raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                         input=[marker, f"contact {EMAIL}"])
    assert raw.headers["x-gateway-guardrail"] == "redacted" and len(raw.parse().data) == 2
    assert upstream(sim, marker)["input"] == [marker, "contact [EMAIL_1]"]


def test_metrics_and_log_line_name_detectors_never_values(gateway: Proc) -> None:
    marker = uuid.uuid4().hex
    with openai_client(gateway, REDACT_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"{marker} {EMAIL}"}],
            extra_headers={"x-request-id": marker})
    assert raw.headers["x-gateway-guardrail"] == "redacted"
    with openai_client(gateway, BLOCK_KEY) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"card {CARD}"}])
    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'gateway_guardrail_findings_total{detector="email",action="redact"' in metrics
    assert 'gateway_guardrail_findings_total{detector="card",action="block"' in metrics

    def line() -> dict[str, Any] | None:
        return next((json.loads(t) for t in gateway.log_lines() if marker in t and '"request"' in t), None)

    deadline = time.monotonic() + 10
    while line() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    found = line()
    assert found is not None and found["guardrail"] == {"policy": "pii", "action": "redacted", "detectors": ["email"]}
    assert not any(EMAIL in t or CARD in t or SECRET in t for t in gateway.log_lines())
