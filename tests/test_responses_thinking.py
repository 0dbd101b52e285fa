"""Claude's signed thinking through the Responses inbound alone: the envelope both ways, the
reasoning items of a whole and a streamed answer, and the items sent back becoming the
`thinking_blocks` that open Claude's turn (and nothing an OpenAI-format provider sees)."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from gateway.errors import GatewayError
from gateway.inbound.responses import Responses
from gateway.inbound.responses.thinking import PREFIX, is_ours, seal, unseal
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.base import NATIVE, for_format
from gateway.providers.openai import adapter as openai_chat
from tests.providers.helpers import deployment
from tests.test_inbound_responses import THOUGHT, USAGE, events, frame

SIGNED = {"type": "thinking", "thinking": "Lisbon: call get_weather.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgB"}
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Lisbon"}'}


def item(blocks: list[dict], item_id: str = "rs_9") -> dict:
    return {"id": item_id, "type": "reasoning", "summary": [], "encrypted_content": seal(blocks)}


@settings(max_examples=60, deadline=None)
@given(text=st.text(), signature=st.text(min_size=1), data=st.text(min_size=1))
def test_the_envelope_round_trips(text: str, signature: str, data: str) -> None:
    blocks = [{"type": "thinking", "thinking": text, "signature": signature}, {"type": "redacted_thinking", "data": data}]
    sealed = item(blocks)
    assert sealed["encrypted_content"].startswith(PREFIX) and is_ours(sealed)
    assert unseal(sealed, "input[0]") == blocks


def test_openais_encrypted_content_is_not_ours() -> None:
    assert not is_ours(THOUGHT) and unseal(THOUGHT, "input[0]") is None
    assert unseal({"type": "reasoning", "encrypted_content": None}, "input[0]") is None


def _raw(payload: bytes) -> str:
    return PREFIX + base64.b64encode(payload).decode()


@pytest.mark.parametrize("content", [
    PREFIX + "not base64!", _raw(b"{not json"), _raw(b"[]"), _raw(b'{"type": "thinking"}'),
    _raw(orjson.dumps([{"type": "text", "text": "hi"}])), _raw(orjson.dumps([{"type": ["thinking"]}])),
    _raw(orjson.dumps([{"type": "thinking", "thinking": "x", "signature": ""}])),
    _raw(orjson.dumps([{"type": "thinking", "thinking": 1, "signature": "s"}])),
    _raw(orjson.dumps([{**SIGNED, "cache_control": {"type": "ephemeral"}}])),
])
def test_a_damaged_envelope_is_a_400_naming_the_item(content: str) -> None:
    body = {"model": "auto", "input": [{"role": "user", "content": "hi"},
                                       {"id": "rs_bad", "type": "reasoning", "summary": [], "encrypted_content": content},
                                       CALL]}
    with pytest.raises(GatewayError) as err:
        Responses().parse(orjson.dumps(body))
    assert err.value.status == 400 and err.value.param == "input[1].encrypted_content"
    assert err.value.code == "invalid_encrypted_content" and "'rs_bad'" in err.value.message
    assert err.value.body()["error"]["type"] == "invalid_request_error"


def test_reasoning_items_sent_back_open_claudes_turn_and_only_claudes() -> None:
    body = {"model": "auto", "reasoning": {"effort": "low"}, "input": [
        {"role": "user", "content": "Weather in Lisbon?"}, item([SIGNED]), item([REDACTED]), THOUGHT, CALL,
        {"type": "function_call_output", "call_id": "call_1", "output": "21C"},
        item([SIGNED], "rs_orphan"),  # nothing of the assistant follows: dropped
        {"role": "user", "content": "And tomorrow?"}]}
    chat = Responses().parse(orjson.dumps(body))
    messages = chat.body["messages"]
    assert messages[1]["role"] == "assistant" and messages[1]["thinking_blocks"] == [SIGNED, REDACTED]
    assert ["thinking_blocks" in m for m in messages] == [False, True, False, False]
    # a Responses deployment gets OpenAI's item, not the gateway's; OpenAI chat gets no blocks
    native = chat.body[NATIVE]
    assert native["body"]["input"] == [i for i in body["input"] if not is_ours(i)] and native["hints"] is True
    sent = openai_chat.to_upstream(for_format(chat.body, openai_chat.native_format, openai_chat.reads_hints),
                                   deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1"), False)
    assert b"thinking" not in sent.body and b"rs_9" not in sent.body
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    sent = anthropic.to_upstream(for_format(chat.body, anthropic.native_format, anthropic.reads_hints), dep, False)
    turn = orjson.loads(sent.body)["messages"][1]
    assert turn["role"] == "assistant" and turn["content"][:2] == [SIGNED, REDACTED]
    assert turn["content"][2]["type"] == "tool_use"


ANSWER = {"id": "chatcmpl-1", "model": "claude", "usage": USAGE, "choices": [{"index": 0, "finish_reason": "tool_calls",
          "message": {"role": "assistant", "content": None, "reasoning_content": SIGNED["thinking"],
                      "thinking_blocks": [SIGNED, REDACTED], "tool_calls": [
                          {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}


@pytest.mark.parametrize("summary", [None, "auto"])
def test_each_signed_block_is_a_reasoning_item_of_the_answer(summary: str | None) -> None:
    inbound = Responses()
    chat = inbound.parse(orjson.dumps({"model": "auto", "input": "hi", "reasoning": {"effort": "low", "summary": summary}}))
    resp = Response.model_validate(orjson.loads(inbound.reply(ANSWER, chat)))
    assert [o.type for o in resp.output] == ["reasoning", "reasoning", "function_call"]
    assert [unseal(o.model_dump(), "x") for o in resp.output[:2]] == [[SIGNED], [REDACTED]]
    assert [[s.text for s in o.summary] for o in resp.output[:2]] == ([[SIGNED["thinking"]], []] if summary else [[], []])
    assert chat.turn.answer[0]["thinking_blocks"] == [SIGNED, REDACTED]  # kept for previous_response_id


def test_a_streamed_block_goes_out_once_signed_with_the_text_before_it() -> None:
    """As the Anthropic and Bedrock decoders stream it: the text, then the signature alone."""
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi", "stream": true, "reasoning": {"summary": "detailed"}}')
    encoder = inbound.stream(chat)
    raw = encoder.feed(frame({"role": "assistant", "content": ""}) + frame({"reasoning_content": "Lisbon: call "})
                       + frame({"reasoning_content": "get_weather."})
                       + frame({"thinking_blocks": [{**SIGNED, "thinking": ""}]}) + frame({"thinking_blocks": [REDACTED]})
                       + frame({"content": "Checking."}) + frame({}, "stop") + frame({}, usage=USAGE))
    got = events(raw + encoder.finish())
    kinds = [e["type"] for e in got]
    assert kinds[2:8] == ["response.output_item.added", "response.reasoning_summary_part.added",
                          "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                          "response.reasoning_summary_part.done", "response.output_item.done"]
    assert got[4]["delta"] == SIGNED["thinking"] and kinds[8:10] == ["response.output_item.added", "response.output_item.done"]
    final = Response.model_validate(got[-1]["response"])
    assert [o.type for o in final.output] == ["reasoning", "reasoning", "message"]
    assert [unseal(o.model_dump(), "x") for o in final.output[:2]] == [[SIGNED], [REDACTED]]
    assert chat.turn.answer[0]["thinking_blocks"] == [SIGNED, REDACTED]
