"""Guardrail policies on whole requests: redaction where the prompt sits in each client API's
canonical body and own-format copy, JSON tool arguments kept valid, placeholders numbered per
value, block and log, which policy applies, the config's errors, the log line and the metric."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest
import yaml

from gateway.config import ApiKey, ConfigError, parse_config
from gateway.guard.apply import Guardrails, check
from gateway.guard.policy import GuardPolicy
from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.gemini import GeminiGenerate
from gateway.inbound.responses import Responses
from gateway.observe.log import RequestLog
from gateway.observe.metrics import Metrics
from gateway.observe.request import RequestObserver
from gateway.pipeline.record import Call
from gateway.providers.base import NATIVE
from tests.procs import config_yaml

ENV = {"SIMULATOR_API_KEY": "k"}
EMAIL, CARD, KEY = "dana.miller@example.com", "4111 1111 1111 1111", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"
GUARDRAILS = {
    "pii": {"detect": ["email", "phone", "card", "secret"], "custom": {"employee_id": "EMP-[0-9]{6}"}},
    "strict": {"detect": ["secret", "card"], "action": "block"},
    "audit": {"detect": ["email"], "action": "log"},
}


def config(**top: Any):
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    doc.update(top)
    return parse_config(doc, "cfg.yaml", ENV)


POLICIES = config().guardrails


def policy(name: str) -> GuardPolicy:
    return POLICIES[name]


def chat_body() -> dict[str, Any]:
    return {"model": "auto", "messages": [
        {"role": "system", "content": f"Support desk. Escalate to {EMAIL}."},
        {"role": "user", "content": [{"type": "text", "text": f"I am {EMAIL}, card {CARD}, id EMP-123456."},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,c2stcHJvai1BYj"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "lookup", "arguments": orjson.dumps({"email": EMAIL, "limit": 3, "dana@x.io": ["other@x.io"]}).decode()}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"found: other@x.io, key {KEY}"},
    ]}


def test_redact_replaces_every_finding_with_a_numbered_placeholder_one_number_per_value() -> None:
    body = chat_body()
    verdict = check(policy("pii"), body)
    assert verdict is not None and verdict.outcome == "redacted"
    assert dict(verdict.found) == {"secret": 1, "card": 1, "email": 2, "employee_id": 1}
    system, user, assistant, tool = body["messages"]
    assert system["content"] == "Support desk. Escalate to [EMAIL_1]."
    assert user["content"][0]["text"] == "I am [EMAIL_1], card [CARD_1], id [EMPLOYEE_ID_1]."
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64,c2stcHJvai1BYj"  # data is never read
    arguments = orjson.loads(assistant["tool_calls"][0]["function"]["arguments"])  # still valid JSON
    assert arguments == {"email": "[EMAIL_1]", "limit": 3, "dana@x.io": ["[EMAIL_2]"]}  # keys are not values
    assert tool["content"] == "found: [EMAIL_2], key [SECRET_1]"
    assert tool["tool_call_id"] == "call_1"
    assert EMAIL not in orjson.dumps(body).decode() and KEY not in orjson.dumps(body).decode()


def test_arguments_that_are_not_json_are_redacted_as_text_and_clean_ones_are_left_byte_for_byte() -> None:
    clean = '{ "q": "weather",  "days": 3 }'
    body = {"messages": [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": f'{{"to": "{EMAIL}"'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": clean}}]}]}
    check(policy("pii"), body)
    calls = body["messages"][0]["tool_calls"]
    assert calls[0]["function"]["arguments"] == '{"to": "[EMAIL_1]"'
    assert calls[1]["function"]["arguments"] is clean
    escaped = {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
        "name": "f", "arguments": '{"to": "dana\\u0040example.com"}'}}]}]}  # an escape hides the @ from the raw text
    assert check(policy("pii"), escaped) is not None
    assert orjson.loads(escaped["messages"][0]["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_1]"}


def test_a_placeholder_already_in_the_conversation_keeps_its_number() -> None:
    """A stored earlier turn (Responses previous_response_id) was redacted before it was kept: a
    new value must not take the number the model already knows as another value's."""
    body = {"messages": [{"role": "user", "content": "Earlier I gave [EMAIL_1] and [EMAIL_2]."},
                         {"role": "user", "content": f"Now write to {EMAIL}."}]}
    check(policy("pii"), body)
    assert body["messages"][1]["content"] == "Now write to [EMAIL_3]."
    # a client that resends the raw value first keeps the first number for it, whatever follows
    again = {"messages": [{"role": "user", "content": f"Mail {EMAIL}."},
                          {"role": "assistant", "content": "Sent to [EMAIL_1]."},
                          {"role": "user", "content": f"And {EMAIL} again, and other@x.io."}]}
    check(policy("pii"), again)
    assert [m["content"] for m in again["messages"]] == ["Mail [EMAIL_1].", "Sent to [EMAIL_1].",
                                                         "And [EMAIL_1] again, and [EMAIL_2]."]


def test_anthropic_request_is_redacted_in_the_canonical_body_and_in_the_clients_own_copy() -> None:
    raw = orjson.dumps({"model": "claude-opus-4.7", "max_tokens": 100,
                        "system": [{"type": "text", "text": f"Owner: {EMAIL}", "cache_control": {"type": "ephemeral"}}],
                        "messages": [
                            {"role": "user", "content": f"My card is {CARD}"},
                            {"role": "assistant", "content": [
                                {"type": "thinking", "thinking": f"user card {CARD}", "signature": "c2lnbmF0dXJl"},
                                {"type": "tool_use", "id": "toolu_1", "name": "charge", "input": {"card": CARD}}]},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                          "content": [{"type": "text", "text": f"charged {CARD}"}]},
                                                         {"type": "document", "source": {
                                                             "type": "text", "media_type": "text/plain",
                                                             "data": f"contact {EMAIL}"}}]}]})
    body = AnthropicMessages().parse(raw).body
    check(policy("pii"), body)
    # the thinking block travels as it came (signed): only to a Claude deployment, the one that wrote it
    canonical = orjson.dumps([{k: v for k, v in m.items() if k != "thinking_blocks"} for m in body["messages"]]).decode()
    assert CARD not in canonical and EMAIL not in canonical and "[CARD_1]" in canonical
    own = body[NATIVE]["body"]
    assert own["system"][0]["text"] == "Owner: [EMAIL_1]" and own["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert own["messages"][0]["content"] == "My card is [CARD_1]"
    thinking, tool_use = own["messages"][1]["content"]
    assert thinking["thinking"] == f"user card {CARD}"  # signed by the provider: sent back as it came
    assert tool_use["input"] == {"card": "[CARD_1]"}
    result, document = own["messages"][2]["content"]
    assert result["content"][0]["text"] == "charged [CARD_1]"
    assert document["source"]["data"] == "contact [EMAIL_1]"


def test_gemini_and_responses_own_bodies_are_redacted() -> None:
    gemini = GeminiGenerate("gemini-2.5-flash").parse(orjson.dumps({
        "systemInstruction": {"parts": [{"text": f"Owner {EMAIL}"}]},
        "contents": [{"role": "user", "parts": [{"text": f"key {KEY}"}]},
                     {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"to": EMAIL}}}]}]})).body
    check(policy("pii"), gemini)
    own = gemini[NATIVE]["body"]
    assert own["systemInstruction"]["parts"][0]["text"] == "Owner [EMAIL_1]"
    assert own["contents"][0]["parts"][0]["text"] == "key [SECRET_1]"
    assert own["contents"][1]["parts"][0]["functionCall"]["args"] == {"to": "[EMAIL_1]"}
    assert KEY not in orjson.dumps(gemini["messages"]).decode()

    responses = Responses().parse(orjson.dumps({
        "model": "gpt-5.4-mini", "instructions": f"Owner {EMAIL}",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": f"card {CARD}"}]},
                  {"type": "function_call", "call_id": "c1", "name": "f", "arguments": orjson.dumps({"to": EMAIL}).decode()},
                  {"type": "function_call_output", "call_id": "c1", "output": f"sent to {EMAIL}"}]})).body
    check(policy("pii"), responses)
    text = orjson.dumps(responses).decode()
    assert EMAIL not in text and CARD not in text
    own = responses[NATIVE]["body"]
    assert own["instructions"] == "Owner [EMAIL_1]"
    assert orjson.loads(own["input"][1]["arguments"]) == {"to": "[EMAIL_1]"}


def test_embeddings_input_string_or_list() -> None:
    one = {"model": "auto", "input": f"mail {EMAIL}"}
    assert check(policy("pii"), one, embedding=True) is not None and one["input"] == "mail [EMAIL_1]"
    many = {"model": "auto", "input": ["plain", f"card {CARD}", f"again {EMAIL}"]}
    check(policy("pii"), many, embedding=True)
    assert many["input"] == ["plain", "card [CARD_1]", "again [EMAIL_1]"]
    tokens = {"model": "auto", "input": [[1, 2, 3]]}
    assert check(policy("pii"), tokens, embedding=True) is None and tokens["input"] == [[1, 2, 3]]


def test_log_counts_and_changes_nothing_and_block_names_kinds_never_text() -> None:
    body, before = chat_body(), chat_body()
    verdict = check(policy("audit"), body)
    assert body == before and verdict is not None
    assert (verdict.outcome, verdict.found) == ("logged", (("email", 2),))
    blocked = check(policy("strict"), chat_body())
    assert blocked is not None and blocked.outcome == "blocked" and blocked.detectors == ["secret", "card"]
    err = blocked.error()
    assert (err.status, err.type, err.code) == (400, "invalid_request_error", "guardrail_blocked")
    assert "secret, card" in err.message and CARD not in err.message and KEY not in err.message
    assert check(policy("pii"), {"messages": [{"role": "user", "content": "Nothing to see."}]}) is None


def key(guardrail: str | None = None) -> ApiKey:
    return ApiKey(name="k", sha256=b"\0" * 32, guardrail=guardrail)


def test_the_key_then_the_route_then_the_default_decide_and_none_turns_it_off() -> None:
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    doc["default_guardrail"] = "audit"
    doc["routes"]["frontier"]["guardrail"] = "strict"
    doc["routes"]["auto"]["guardrail"] = "pii"
    guard = Guardrails(parse_config(doc, "cfg.yaml", ENV))
    name = lambda p: p.name if p else None  # noqa: E731
    assert name(guard.policy(key(), "auto")) == "pii"             # auto is the default route
    assert name(guard.policy(key(), "frontier")) == "strict"
    assert name(guard.policy(key(), "gpt-5.5")) == "audit"        # a model asked by name: the default
    assert name(guard.policy(key("strict"), "auto")) == "strict"   # the key wins
    assert guard.policy(key("none"), "frontier") is None
    doc["routes"]["auto"]["guardrail"] = "none"
    assert Guardrails(parse_config(doc, "cfg.yaml", ENV)).policy(key(), "auto") is None
    assert Guardrails.of(parse_config(yaml.safe_load(config_yaml(9100, "g")), "cfg.yaml", ENV)) is None


def test_a_file_key_names_its_policy() -> None:
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    doc["keys"][0]["guardrail"] = "strict"
    assert parse_config(doc, "cfg.yaml", ENV).keys[0].guardrail == "strict"


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["guardrails"]["pii"]["custom"].update(bad="(unclosed"), "guardrails.pii.custom.bad"),
    (lambda d: d["guardrails"]["pii"]["custom"].update(empty="a*"), "guardrails.pii.custom.empty"),
    (lambda d: d["guardrails"]["pii"]["custom"].update(email="x"), "guardrails.pii.custom.email"),
    (lambda d: d["guardrails"]["pii"].update(detect=["emails"]), "guardrails.pii.detect[0]"),
    (lambda d: d["guardrails"]["pii"].update(action="mask"), "guardrails.pii.action"),
    (lambda d: d["guardrails"]["pii"].update(extra=1), "guardrails.pii.extra"),
    (lambda d: d["guardrails"].update(none={"detect": ["email"]}), "guardrails.none"),
    (lambda d: d["guardrails"].update(empty={"detect": []}), "guardrails.empty.detect"),
    (lambda d: d.update(default_guardrail="nope"), "default_guardrail"),
    (lambda d: d["keys"][0].update(guardrail="nope"), "keys[0].guardrail"),
    (lambda d: d["routes"]["auto"].update(guardrail="nope"), "routes.auto.guardrail"),
])
def test_config_errors_name_the_path(mutate: Any, where: str) -> None:
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    mutate(doc)
    with pytest.raises(ConfigError, match=re.escape(f"cfg.yaml: {where}")):
        parse_config(doc, "cfg.yaml", ENV)


def test_header_log_line_and_metric_carry_kinds_and_counts_never_values() -> None:
    body = chat_body()
    call = Call.start(None)
    guard = Guardrails(config(default_guardrail="pii"))
    guard.apply(call, key(), "auto", body)
    assert call.headers()["x-gateway-guardrail"] == "redacted"
    field = call.log_fields()["guardrail"]
    assert field == {"policy": "pii", "action": "redacted", "detectors": ["secret", "card", "email", "employee_id"]}
    lines: list[dict[str, Any]] = []
    log = RequestLog()
    log.write = lines.append  # type: ignore[method-assign]
    metrics = Metrics()
    RequestObserver(metrics, log, None).finish(call)
    assert EMAIL not in orjson.dumps(lines, default=str).decode()
    assert metrics.guardrail.values == {("secret", "redact", "prompt"): 1, ("card", "redact", "prompt"): 1,
                                        ("email", "redact", "prompt"): 2, ("employee_id", "redact", "prompt"): 1}
    assert 'gateway_guardrail_findings_total{detector="email",action="redact"' in metrics.render()
    blocked = Call.start(None)
    with pytest.raises(Exception) as info:
        Guardrails(config(default_guardrail="strict")).apply(blocked, key(), "auto", chat_body())
    assert getattr(info.value, "code", None) == "guardrail_blocked"
    assert blocked.headers()["x-gateway-guardrail"] == "blocked"
    clean = Call.start(None)
    guard.apply(clean, key(), "auto", {"messages": [{"role": "user", "content": "hi"}]})
    assert "x-gateway-guardrail" not in clean.headers() and clean.log_fields()["guardrail"] is None
