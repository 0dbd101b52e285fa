"""The Responses API and legacy completions translators alone: request → canonical chat body,
canonical answers and streams → the client's format, and what each refuses."""

from __future__ import annotations

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest
from openai.types import Completion
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.errors import GatewayError, upstream_failed
from gateway.inbound.completions import Completions
from gateway.inbound.responses import Responses
from gateway.inbound.responses.request import canonical_body

TOOL = {"type": "function", "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
EVENTS = TypeAdapter(ResponseStreamEvent)


def frame(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []}
    if usage:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


USAGE = {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
         "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}}


def events(raw: bytes) -> list[dict]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            name, data = block.split(b"\n")
            event = orjson.loads(data[6:])
            assert name == b"event: " + event["type"].encode()
            EVENTS.validate_python(event)  # the openai SDK's own event types
            out.append(event)
    return out


def test_input_items_become_chat_messages_in_order() -> None:
    body = {"model": "auto", "instructions": "Be terse.", "input": [
        {"role": "developer", "content": [{"type": "input_text", "text": "Rules"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"},
                                                        {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "sun"}]},
    ], "tools": [TOOL, {"type": "web_search"}], "tool_choice": {"type": "function", "name": "get_weather"},
        "reasoning": {"effort": "high", "summary": "auto"}, "max_output_tokens": 300, "store": False,
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}}}
    chat = canonical_body(body)
    assert chat["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": "Rules"},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "auto"}}]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_2", "content": "sun"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {k: v for k, v in TOOL.items() if k != "type"}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["reasoning_effort"] == "high" and chat["max_completion_tokens"] == 300
    assert chat["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True}}
    assert "store" not in chat and "text" not in chat


@pytest.mark.parametrize("body, param", [
    ({"input": "hi", "background": True}, "background"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}, "input[0].content[0]"),
    ({"input": [{"role": "narrator", "content": "x"}]}, "input[0].role"),
    ({"input": "hi", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"input": "hi", "tool_choice": "required"}, "tool_choice"),
    ({"input": 42}, "input"),
    ({"input": []}, "input"),
    ({"input": "hi", "store": "yes"}, "store"),
    ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),  # the client's own name, not the canonical one
    ({"input": "hi", "max_output_tokens": 10**9}, "max_output_tokens"),
])
def test_refused_requests_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(GatewayError) as err:
        Responses().parse(orjson.dumps({"model": "auto", **body}))
    assert err.value.status == 400 and err.value.param == param


def test_a_completion_becomes_a_response_object() -> None:
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi", "instructions": "Be kind", "metadata": {"a": "b"}}')
    answer = {"id": "chatcmpl-1", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "Hello", "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}], "usage": USAGE}
    resp = Response.model_validate(orjson.loads(inbound.reply(answer, chat)))
    assert resp.id.startswith("resp_") and resp.model == "gpt-x"
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output_text == "Hello" and resp.instructions == "Be kind" and resp.metadata == {"a": "b"}
    assert [(o.type, getattr(o, "call_id", None)) for o in resp.output] == [("message", None), ("function_call", "call_9")]
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (10, 7, 17)
    assert resp.usage.input_tokens_details.cached_tokens == 4
    assert resp.usage.output_tokens_details.reasoning_tokens == 3
    # what storage would keep: the input and the answer, as chat messages, without the instructions
    assert chat.turn.history == [{"role": "user", "content": "hi"}]
    assert chat.turn.answer[0]["content"] == "Hello" and chat.turn.answer[0]["tool_calls"][0]["id"] == "call_9"


def test_stream_events_in_order_with_sequence_numbers() -> None:
    inbound = Responses()
    encoder = inbound.stream(inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}'))
    raw = encoder.feed(frame({"role": "assistant", "content": ""}) + frame({"content": "Hel"}))
    raw += encoder.feed(frame({"content": "lo"}))
    raw += encoder.feed(frame({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                               "function": {"name": "f", "arguments": ""}}]})
                        + frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})
                        + frame({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}))
    raw += encoder.feed(frame({}, "tool_calls") + b"data: {not json\n\n" + frame({}, usage=USAGE))
    raw += encoder.finish()
    got = events(raw)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    assert [e["type"] for e in got] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    final = Response.model_validate(got[-1]["response"])
    assert final.output_text == "Hello" and final.output[1].arguments == '{"a":1}'
    assert [e["output_index"] for e in got if e["type"] == "response.output_item.done"] == [0, 1]
    assert final.usage.output_tokens_details.reasoning_tokens == 3


def test_a_stream_failing_after_its_start_ends_with_error_and_response_failed() -> None:
    inbound = Responses()
    encoder = inbound.stream(inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}'))
    raw = encoder.feed(frame({"content": "Hi"})) + encoder.error(upstream_failed(502, "cut", "upstream_stream_cut"))
    got = events(raw)
    assert [e["type"] for e in got][-2:] == ["error", "response.failed"]
    assert got[-2]["code"] == "upstream_stream_cut"
    assert got[-1]["response"]["status"] == "failed" and got[-1]["response"]["error"]["code"] == "server_error"


def test_completions_prompt_and_answers() -> None:
    inbound = Completions()
    chat = inbound.parse(b'{"model": "auto", "prompt": ["Once upon"], "stop": ["."], "n": 2}')
    assert chat.body["messages"] == [{"role": "user", "content": "Once upon"}]
    assert chat.max_tokens == 16 and chat.n == 2 and chat.body["stop"] == ["."]
    answer = {"id": "chatcmpl-7", "created": 5, "model": "m", "usage": USAGE, "choices": [
        {"index": 0, "message": {"content": "a time"}, "finish_reason": "stop"},
        {"index": 1, "message": {"content": "a hill"}, "finish_reason": "length"}]}
    done = Completion.model_validate(orjson.loads(inbound.reply(answer, chat)))
    assert done.id == "cmpl-7" and done.object == "text_completion"
    assert [(c.text, c.finish_reason) for c in done.choices] == [("a time", "stop"), ("a hill", "length")]
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (10, 7)
    encoder = inbound.stream(chat)
    raw = encoder.feed(frame({"role": "assistant", "content": ""}) + frame({"content": "a"}) + frame({}, "stop")
                       + frame({}, usage=USAGE)) + encoder.finish()
    chunks = [orjson.loads(b[6:]) for b in raw.split(b"\n\n") if b and b != b"data: [DONE]"]
    assert raw.endswith(b"data: [DONE]\n\n")
    assert [c["choices"] for c in chunks[:2]] == [[{"text": "a", "index": 0, "logprobs": None, "finish_reason": None}],
                                                  [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]]
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["total_tokens"] == 17
    Completion.model_validate(chunks[1])  # (OpenAI streams finish_reason null until the last text chunk)


@pytest.mark.parametrize("extra, param", [
    ({"echo": True}, "echo"), ({"suffix": "end"}, "suffix"), ({"logprobs": 3}, "logprobs"),
    ({"best_of": 3}, "best_of"), ({"prompt": ["a", "b"]}, "prompt"), ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": None}, "prompt"),
])
def test_completions_refusals_name_the_field(extra: dict, param: str) -> None:
    with pytest.raises(GatewayError) as err:
        Completions().parse(orjson.dumps({"model": "auto", "prompt": "x", **extra}))
    assert err.value.status == 400 and err.value.param == param and err.value.message


JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(
    ["", "auto", "user", "assistant", "message", "function_call", "function_call_output", "input_text",
     "json_schema", "function", "resp_1", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "role", "content", "text", "name", "call_id", "arguments", "output", "format", "schema",
         "effort", "parameters", "image_url", "file_data"]), inner, max_size=4), max_leaves=12)
FIELDS = ["model", "input", "instructions", "tools", "tool_choice", "text", "reasoning", "stream", "store",
          "max_output_tokens", "previous_response_id", "prompt", "echo", "suffix", "max_tokens", "stop", "n"]


ITEMS = st.lists(st.dictionaries(st.sampled_from(["type", "role", "content", "call_id", "name", "arguments",
                                                   "output"]), JSON, max_size=4), min_size=1, max_size=3)


@settings(max_examples=400, deadline=None)
@given(body=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6) | st.fixed_dictionaries({"input": ITEMS}),
       inbound=st.sampled_from([Responses(), Completions()]))
@example(body={"input": [{"type": []}]}, inbound=Responses())
@example(body={"input": [{"role": {}}]}, inbound=Responses())
def test_any_json_is_parsed_or_refused_with_a_400(body: dict, inbound) -> None:
    """Malformed input never escapes as anything but a 400 GatewayError (no 500 from a translator)."""
    try:
        inbound.parse(orjson.dumps({"model": "auto", **body}))
    except GatewayError as err:
        assert err.status == 400 and err.message


THOUGHT = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}],
           "encrypted_content": "gAAAA-opaque"}


def test_the_clients_own_body_travels_for_a_responses_deployment() -> None:
    """Under NATIVE, without what the gateway decides (the adapter writes those)."""
    from gateway.providers.base import NATIVE
    body = {"model": "auto", "input": [{"role": "user", "content": "hi"}, THOUGHT], "stream": True, "store": True,
            "max_output_tokens": 99, "include": ["reasoning.encrypted_content"], "tools": [{"type": "web_search"}],
            "prompt_cache_key": "k"}
    chat = Responses().parse(orjson.dumps(body))
    native = chat.body[NATIVE]
    assert native["format"] == "openai_responses"
    assert native["body"] == {k: body[k] for k in ("input", "include", "tools", "prompt_cache_key")}
    assert chat.body["max_completion_tokens"] == 99 and chat.body["stream"] is True


def test_metadata_reaches_bedrock_converse_only() -> None:
    """Bedrock makes it `requestMetadata`; OpenAI's chat API would refuse it without `store`, and
    the other adapters have nowhere to put it, so none of them is sent it."""
    from gateway.config import WIRE_FORMATS
    from gateway.providers import adapter_for
    from gateway.providers.base import for_format
    from tests.providers.helpers import deployment

    meta = {"team": "search", "cost-center": "cc 42/eu"}
    chat = Responses().parse(orjson.dumps({"model": "auto", "input": "hi", "metadata": meta, "user": "u-7"}))
    sent = {}
    for fmt in WIRE_FORMATS:
        adapter = adapter_for(fmt)
        body = for_format(chat.body, adapter.native_format, adapter.reads_hints)
        req = adapter.to_upstream(body, deployment(fmt, "m", "http://127.0.0.1:9"), False)
        sent[fmt] = orjson.loads(req.body)
    assert sent["bedrock"]["requestMetadata"] == {**meta, "user_id": "u-7"}
    assert sent["openai_responses"]["metadata"] == meta  # the client's own field, to its own API
    claude = [fmt for fmt, body in sent.items() if body.get("metadata") == {"user_id": "u-7"}]  # `user`, as ever
    assert sorted(claude) == ["anthropic", "bedrock_anthropic", "vertex_anthropic"]
    assert [fmt for fmt, body in sent.items() if "metadata" in body and fmt not in claude] == ["openai_responses"]
    assert [fmt for fmt, body in sent.items() if "requestMetadata" in body] == ["bedrock"]
    plain = Responses().parse(orjson.dumps({"model": "auto", "input": "hi", "metadata": {}}))
    assert "metadata" not in plain.body and "requestMetadata" not in adapter_for("bedrock").to_upstream(
        plain.body, deployment("bedrock", "m", "http://127.0.0.1:9"), False).body.decode()


def test_metadata_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(GatewayError) as err:
        Responses().parse(orjson.dumps({"model": "auto", "input": "hi", "metadata": ["a"]}))
    assert err.value.status == 400 and err.value.param == "metadata"


def test_reasoning_items_from_the_answer_reach_the_client_whole_and_stored() -> None:
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi"}')
    answer = {"id": "chatcmpl-1", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Hello", "reasoning_content": "Think.", "reasoning_items": [THOUGHT]}}],
        "usage": USAGE}
    resp = Response.model_validate(orjson.loads(inbound.reply(answer, chat)))
    assert [o.type for o in resp.output] == ["reasoning", "message"]
    assert resp.output[0].encrypted_content == "gAAAA-opaque" and resp.output_text == "Hello"
    assert chat.turn.answer[0]["reasoning_items"] == [THOUGHT]  # kept for previous_response_id
    streamed = inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}')
    encoder = inbound.stream(streamed)
    raw = encoder.feed(frame({"role": "assistant", "content": ""}) + frame({"reasoning_content": "Think."})
                       + frame({"reasoning_items": [THOUGHT]}) + frame({"content": "Hello"}))
    raw += encoder.feed(frame({}, "stop") + frame({}, usage=USAGE)) + encoder.finish()
    got = events(raw)
    assert [e["type"] for e in got][2:9] == [  # the reasoning item, its summary as its events, then the message
        "response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added"]
    assert got[4]["delta"] == got[5]["text"] == THOUGHT["summary"][0]["text"] and got[2]["item"]["summary"] == []
    final = Response.model_validate(got[-1]["response"])
    assert [o.type for o in final.output] == ["reasoning", "message"] and final.output_text == "Hello"
    assert [e["output_index"] for e in got if e["type"] == "response.output_item.done"] == [0, 1]
    assert streamed.turn.answer[0]["reasoning_items"] == [THOUGHT]


def test_a_responses_deployments_stream_keeps_summary_events_and_hosted_tool_items() -> None:
    from gateway.providers.openai_responses import adapter
    from tests.providers.helpers import deployment
    decoder = adapter.StreamDecoder(deployment("openai_responses", "m", "http://127.0.0.1:1/v1"), True)
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed",
              "action": {"type": "search", "query": "weather oslo"}}
    upstream = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "m"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**THOUGHT, "summary": []}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "Think."},
        {"type": "response.output_item.done", "output_index": 0, "item": THOUGHT},
        {"type": "response.output_item.added", "output_index": 1, "item": {**search, "status": "in_progress"}},
        {"type": "response.web_search_call.completed", "output_index": 1, "item_id": "ws_1"},
        {"type": "response.output_item.done", "output_index": 1, "item": search},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 2, "delta": "Sunny."},
        {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "usage": None}}]
    frames = b"".join(f for e in upstream for f in decoder.feed(e["type"].encode(), orjson.dumps(e)))
    inbound = Responses()
    chat = inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}')
    encoder = inbound.stream(chat)
    got = events(encoder.feed(frames) + encoder.finish())
    kinds = [e["type"] for e in got]
    assert "response.reasoning_summary_text.delta" in kinds
    final = Response.model_validate(got[-1]["response"])
    assert [o.type for o in final.output] == ["reasoning", "web_search_call", "message"]
    assert final.output[1].action.query == "weather oslo" and final.output_text == "Sunny."
    assert chat.turn.answer[0]["reasoning_items"] == [THOUGHT, search]  # stored, sent back to the deployment
