"""`format: openai_responses`: chat → Responses requests, Responses answers and stream events →
chat completions, and a Responses client's own body sent as it came (NATIVE)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.providers.base import NATIVE, for_format
from gateway.providers.openai_responses import adapter
from tests.providers.helpers import deployment, reassemble, run_decoder

DEP = deployment("openai_responses", "gpt-5.4-codex", "https://api.openai.com/v1")
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
THOUGHT = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}],
           "encrypted_content": "gAAAA-opaque"}


def request(chat: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    req = adapter.to_upstream({"model": "auto", **chat}, DEP, stream)
    assert req.url == "https://api.openai.com/v1/responses"
    assert req.headers["authorization"] == "Bearer sk-test-key"
    return orjson.loads(req.body)


def test_a_conversation_becomes_input_items_in_order() -> None:
    body = request({"messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "Look"},
                                     {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}]},
        {"role": "assistant", "content": "Calling.", "tool_calls": [CALL], "reasoning_items": [THOUGHT]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "developer", "content": [{"type": "text", "text": "Now answer."}]},
        {"role": "user", "content": "Thanks"}]})
    assert body["input"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "input_text", "text": "Look"},
                                     {"type": "input_image", "image_url": "https://x/a.png", "detail": "low"}]},
        THOUGHT,
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Calling."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
        {"role": "developer", "content": "Now answer."},
        {"role": "user", "content": "Thanks"}]
    assert body["model"] == "gpt-5.4-codex" and body["store"] is False and "stream" not in body


def test_parameters_are_translated() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    schema = {"name": "out", "schema": {"type": "object"}, "strict": True}
    body = request({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 300,
                    "reasoning_effort": "high", "verbosity": "low", "temperature": 0.2, "top_p": 0.9,
                    "user": "u-1", "prompt_cache_key": "k", "parallel_tool_calls": False, "seed": 7,
                    "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "f"}},
                    "response_format": {"type": "json_schema", "json_schema": schema},
                    "stream_options": {"include_usage": True}}, stream=True)
    assert body["max_output_tokens"] == 300 and body["reasoning"] == {"effort": "high"}
    assert body["text"] == {"format": {"type": "json_schema", **schema}, "verbosity": "low"}
    # the Responses API's tools are strict unless told otherwise; chat's are not
    assert body["tools"] == [{"type": "function", "name": "f", "description": "d",
                              "parameters": {"type": "object"}, "strict": False}]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["stream"] is True and "stream_options" not in body and "seed" not in body
    assert (body["temperature"], body["top_p"], body["user"], body["prompt_cache_key"]) == (0.2, 0.9, "u-1", "k")
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize("field", [{"n": 2}, {"stop": ["END"]}, {"logprobs": True}, {"modalities": ["audio"]},
                                   {"messages": [{"role": "function", "content": "x"}]}])
def test_what_the_api_cannot_say_is_a_400(field: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as err:
        request({"messages": [{"role": "user", "content": "hi"}], **field})
    assert err.value.status == 400


def test_a_responses_clients_body_goes_as_it_came() -> None:
    own = {"input": [{"role": "user", "content": "hi"}, THOUGHT, {**THOUGHT, "id": "rs_2", "encrypted_content": None}],
           "include": ["reasoning.encrypted_content"], "tools": [{"type": "web_search"}],
           "text": {"verbosity": "low"}, "max_output_tokens": 999, "previous_response_id": "resp_x"}
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 500,
            NATIVE: {"format": "openai_responses", "body": own, "headers": {}}}
    body = request(chat, stream=True)
    assert body["input"] == own["input"][:2]  # the item without encrypted content cannot be found upstream
    assert body["include"] == own["include"] and body["tools"] == own["tools"] and body["text"] == own["text"]
    assert body["max_output_tokens"] == 500 and "previous_response_id" not in body
    assert body["store"] is False and body["stream"] is True and body["model"] == "gpt-5.4-codex"
    # another format's native body never reaches this adapter; nor this one's any other adapter
    other = {**chat, NATIVE: {"format": "anthropic", "body": {"x": 1}, "headers": {}}}
    assert "x" not in request(for_format(other, adapter.native_format))
    assert NATIVE not in for_format(chat, "anthropic")


RESPONSE = {
    "id": "resp_abc", "object": "response", "status": "completed", "model": "gpt-5.4-codex-2026",
    "output": [THOUGHT,
               {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "It is ", "annotations": []},
                            {"type": "output_text", "text": "sunny.", "annotations": []}]},
               {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "get_weather",
                "arguments": '{"city":"Oslo"}', "status": "completed"},
               {"id": "ws_1", "type": "web_search_call", "status": "completed"}],
    "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 30,
              "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 130}}


def test_a_response_becomes_a_chat_completion() -> None:
    body, usage = adapter.from_upstream(orjson.dumps(RESPONSE), DEP)
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-abc"
    choice = body["choices"][0]
    message = choice["message"]
    assert message["content"] == "It is sunny." and choice["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == [{"id": "call_9", "type": "function",
                                      "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    assert message["reasoning_content"] == "Think."
    assert message["reasoning_items"] == [THOUGHT, RESPONSE["output"][3]]  # the hosted tool's item rides along
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens) == (100, 40, 30, 12)
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 40
    cut = {**RESPONSE, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
           "output": RESPONSE["output"][1:2]}
    assert adapter.from_upstream(orjson.dumps(cut), DEP)[0]["choices"][0]["finish_reason"] == "length"
    with pytest.raises(ValueError):
        adapter.from_upstream(b'{"object": "chat.completion"}', DEP)


def sse(*events: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(e["type"].encode(), orjson.dumps(e)) for e in events]


STREAM = sse(
    {"type": "response.created", "response": {"id": "resp_s1", "model": "gpt-5.4-codex", "status": "in_progress"}},
    {"type": "response.output_item.added", "output_index": 0, "item": {**THOUGHT, "encrypted_content": None}},
    {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "Thi"},
    {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "nk."},
    {"type": "response.output_item.done", "output_index": 0, "item": THOUGHT},
    {"type": "response.output_item.added", "output_index": 1, "item": {"id": "msg_1", "type": "message"}},
    {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "It is "},
    {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "sunny."},
    {"type": "response.output_item.added", "output_index": 2,
     "item": {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": ""}},
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"city":'},
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '"Oslo"}'},
    {"type": "response.completed", "response": {**RESPONSE, "id": "resp_s1"}},
)


def test_a_stream_becomes_chunks_with_usage() -> None:
    decoder = adapter.StreamDecoder(DEP, True)
    chunks = run_decoder(decoder, STREAM)
    assert decoder.done and decoder.usage.prompt_tokens == 100 and decoder.usage.reasoning_tokens == 12
    whole = reassemble(chunks)
    message = whole["choices"][0]["message"]
    assert message["content"] == "It is sunny." and whole["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["id"] == "call_9"
    assert message["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert whole["usage"]["completion_tokens"] == 30
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Think."
    assert [i for d in deltas for i in d.get("reasoning_items", ())] == [THOUGHT]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 100


def test_a_failed_stream_raises_and_a_cut_one_estimates() -> None:
    from gateway.providers.base import StreamError
    decoder = adapter.StreamDecoder(DEP, False)
    with pytest.raises(StreamError, match="overloaded"):
        run_decoder(decoder, sse({"type": "response.failed", "response": {
            "status": "failed", "error": {"code": "server_error", "message": "overloaded"}}}))
    cut = adapter.StreamDecoder(DEP, False)
    run_decoder(cut, STREAM[:8])
    assert not cut.done and not cut.usage.reported and cut.usage.completion_tokens > 0


def test_errors_keep_openais_shape_and_statuses() -> None:
    err = adapter.error_from_upstream(429, b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}',
                                      {"retry-after": "2"})
    assert (err.status, err.code, err.retryable, err.retry_after_s) == (429, "rate_limit_exceeded", True, 2.0)
    assert adapter.error_from_upstream(401, b'{"error": {"message": "bad key"}}', {}).status == 502
    assert adapter.health_probe(DEP.provider)[0] == "https://api.openai.com/v1/models"
