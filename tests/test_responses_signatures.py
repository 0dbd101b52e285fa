"""Gemini's thought signatures through the Responses inbound alone: the envelope both ways, the
reasoning item before each signed call of a whole and a streamed answer, the items sent back
putting the signature on the call they name, and no other format seeing it."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from gateway.errors import GatewayError
from gateway.inbound.responses import Responses
from gateway.inbound.responses.signatures import PREFIX, is_ours, item, unseal
from gateway.inbound.responses.thinking import is_ours as is_thinking
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.base import NATIVE, for_format
from gateway.providers.gemini import adapter as gemini
from gateway.providers.openai import adapter as openai_chat
from gateway.providers.vertex import vertex_gemini
from tests.providers.helpers import deployment
from tests.test_inbound_responses import THOUGHT, USAGE, events, frame

CALL = {"type": "function_call", "call_id": "call_r1_0", "name": "get_weather", "arguments": '{"city":"Lisbon"}'}
SECOND = {"type": "function_call", "call_id": "call_r1_1", "name": "get_weather", "arguments": '{"city":"Porto"}'}
OUTPUT = {"type": "function_call_output", "call_id": "call_r1_0", "output": "21C"}
SIGNED = {"extra_content": {"google": {"thought_signature": "c2lnLTE="}}}


@settings(max_examples=60, deadline=None)
@given(call_id=st.text(min_size=1), signature=st.text(min_size=1))
def test_the_envelope_round_trips(call_id: str, signature: str) -> None:
    sealed = item("rs_1", call_id, signature)
    assert sealed["encrypted_content"].startswith(PREFIX) and is_ours(sealed) and not is_thinking(sealed)
    assert unseal(sealed, "input[0]") == (call_id, signature)


def test_other_reasoning_items_are_not_ours() -> None:
    assert not is_ours(THOUGHT) and unseal(THOUGHT, "input[0]") is None


def _raw(payload: bytes) -> str:
    return PREFIX + base64.b64encode(payload).decode()


@pytest.mark.parametrize("content", [
    PREFIX + "not base64!", _raw(b"{not json"), _raw(b"[]"), _raw(b'{"call_id": "c"}'),
    _raw(orjson.dumps({"call_id": "c", "thought_signature": ""})),
    _raw(orjson.dumps({"call_id": 1, "thought_signature": "s"})),
    _raw(orjson.dumps({"call_id": "c", "thought_signature": "s", "more": 1})),
])
def test_a_damaged_envelope_is_a_400_naming_the_item(content: str) -> None:
    body = {"model": "auto", "input": [{"role": "user", "content": "hi"},
                                       {"id": "rs_bad", "type": "reasoning", "summary": [], "encrypted_content": content},
                                       CALL, OUTPUT]}
    with pytest.raises(GatewayError) as err:
        Responses().parse(orjson.dumps(body))
    assert err.value.status == 400 and err.value.param == "input[1].encrypted_content"
    assert err.value.code == "invalid_encrypted_content" and "'rs_bad'" in err.value.message


def _turn() -> dict:
    return {"model": "auto", "input": [
        {"role": "user", "content": "Weather in Lisbon and Porto?"}, THOUGHT,
        item("rs_1", "call_r1_0", "c2lnLTE="), CALL, SECOND, OUTPUT,
        {"type": "function_call_output", "call_id": "call_r1_1", "output": "19C"},
        item("rs_2", "call_gone", "b3JwaGFu")]}  # names no call: nothing to sign


def test_items_sent_back_sign_their_calls_for_gemini_only() -> None:
    chat = Responses().parse(orjson.dumps(_turn()))
    calls = chat.body["messages"][1]["tool_calls"]
    assert [c.get("extra_content") for c in calls] == [SIGNED["extra_content"], None]
    native = chat.body[NATIVE]
    assert native["signatures"] is True and native["hints"] is False
    assert native["body"]["input"] == [i for i in _turn()["input"] if not is_ours(i)]  # OpenAI's item stays
    for adapter in (gemini, vertex_gemini):
        dep = deployment(adapter.name, "gemini-3-flash", "https://g.example")
        sent = orjson.loads(adapter.to_upstream(for_format(chat.body, adapter.native_format, adapter.reads_hints),
                                                dep, False).body)
        parts = sent["contents"][1]["parts"]
        assert parts[0]["thoughtSignature"] == "c2lnLTE=" and "thoughtSignature" not in parts[1]
    sent = openai_chat.to_upstream(for_format(chat.body, openai_chat.native_format, openai_chat.reads_hints),
                                   deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1"), False)
    assert b"c2lnLTE=" not in sent.body and b"extra_content" not in sent.body
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    sent = anthropic.to_upstream(for_format(chat.body, anthropic.native_format, anthropic.reads_hints), dep, False)
    assert b"c2lnLTE=" not in sent.body
    assert "extra_content" in chat.body["messages"][1]["tool_calls"][0]  # for_format copied, did not edit


ANSWER = {"id": "chatcmpl-1", "model": "gemini-3-flash", "usage": USAGE, "choices": [{
    "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_r1_0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}, **SIGNED},
        {"id": "call_r1_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}


def test_a_signed_call_has_its_reasoning_item_just_before_it() -> None:
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi"}')
    resp = Response.model_validate(orjson.loads(inbound.reply(ANSWER, chat)))
    assert [o.type for o in resp.output] == ["reasoning", "function_call", "function_call"]
    assert unseal(resp.output[0].model_dump(), "x") == ("call_r1_0", "c2lnLTE=")
    assert [c.get("extra_content") for c in chat.turn.answer[0]["tool_calls"]] == [SIGNED["extra_content"], None]
    assert b"thoughtSignature" not in inbound.reply(ANSWER, chat) and b"thought_signature" not in inbound.reply(ANSWER, chat)


def test_a_streamed_signed_call_has_its_reasoning_item_first() -> None:
    """As the Gemini decoder streams a call: the id, name and signature, then the arguments whole."""
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}')
    encoder = inbound.stream(chat)
    head = {"index": 0, "id": "call_r1_0", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    raw = encoder.feed(frame({"role": "assistant", "content": ""}) + frame({"content": "Checking."})
                       + frame({"tool_calls": [{**head, **SIGNED}]})
                       + frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Lisbon"}'}}]})
                       + frame({}, "tool_calls") + frame({}, usage=USAGE))
    got = events(raw + encoder.finish())
    added = [e["item"]["type"] for e in got if e["type"] == "response.output_item.added"]
    assert added == ["message", "reasoning", "function_call"]
    final = Response.model_validate(got[-1]["response"])
    assert [o.type for o in final.output] == ["message", "reasoning", "function_call"]
    assert unseal(final.output[1].model_dump(), "x") == ("call_r1_0", "c2lnLTE=")
    assert chat.turn.answer[0]["tool_calls"][0]["extra_content"] == SIGNED["extra_content"]
