"""Custom (freeform) tools in the translators alone: the Responses request → the canonical body,
that body for a function-only provider (gateway.pipeline.custom_tools) and its answers back,
whole and streamed, and the `openai_responses` adapter both ways."""

from __future__ import annotations

import orjson
from openai.types.responses import Response

from gateway.inbound.openai_chat import OpenAIChat
from gateway.inbound.responses import Responses
from gateway.pipeline.custom_tools import CustomCallStream, as_functions, input_of, restore
from gateway.providers.openai_responses.request import responses_body
from gateway.providers.openai_responses.response import StreamDecoder, from_upstream
from tests.providers.helpers import deployment
from tests.test_inbound_responses import events, frame

GRAMMAR = 'start: "*** Begin Patch" LF hunk+ "*** End Patch"\n'
TOOL = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}}
PATCH = '*** Begin Patch\n+ "quoted" \\ line\n*** End Patch'
TURN = [{"role": "user", "content": "edit"},
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done"}]


def canonical(**extra) -> dict:
    return Responses().parse(orjson.dumps({"model": "auto", "input": TURN, "tools": [TOOL], **extra})).body


def test_a_responses_request_keeps_custom_tools_calls_and_outputs_in_the_chat_shape() -> None:
    chat = Responses().parse(orjson.dumps({"model": "auto", "input": TURN, "tools": [TOOL],
                                           "tool_choice": {"type": "custom", "name": "apply_patch"}}))
    assert chat.custom_tools == {"apply_patch"}
    assert chat.body["tools"] == [{"type": "custom", "custom": {
        "name": "apply_patch", "description": "Edit files.",
        "format": {"type": "grammar", "grammar": {"definition": GRAMMAR, "syntax": "lark"}}}}]
    assert chat.body["tool_choice"] == {"type": "custom", "custom": {"name": "apply_patch"}}
    assert chat.body["messages"][1:] == [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "custom", "custom": {"name": "apply_patch", "input": PATCH}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Done"}]


def test_a_function_only_provider_gets_a_function_with_one_string_and_the_grammar() -> None:
    body = canonical(tool_choice={"type": "custom", "name": "apply_patch"})
    sent = as_functions(body)
    (tool,) = sent["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "apply_patch"
    assert tool["function"]["parameters"]["properties"] == {"input": {"type": "string", "description": "The tool's whole input."}}
    assert tool["function"]["description"].startswith("Edit files.\n\n") and GRAMMAR in tool["function"]["description"]
    assert "Lark grammar" in tool["function"]["description"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    call = sent["messages"][1]["tool_calls"][0]
    assert call["type"] == "function" and orjson.loads(call["function"]["arguments"]) == {"input": PATCH}
    assert body["tools"][0]["type"] == "custom" and body["messages"][1]["tool_calls"][0]["type"] == "custom"


def test_the_functions_answer_comes_back_as_a_custom_call() -> None:
    names = frozenset({"apply_patch"})
    answer = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
              "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "apply_patch",
                                                                         "arguments": orjson.dumps({"input": PATCH}).decode()}},
                             {"id": "c2", "type": "function", "function": {"name": "other", "arguments": "{}"}}]}}]}
    calls = restore(answer, names)["choices"][0]["message"]["tool_calls"]
    assert calls[0] == {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": PATCH}}
    assert calls[1]["type"] == "function"
    assert input_of('{"patch": "x"}') == "x" and input_of("not json") == "not json" and input_of('{"a": 1}') == '{"a": 1}'


def test_a_streamed_function_call_reaches_a_responses_client_as_custom_tool_call_events() -> None:
    inbound = Responses()
    chat = inbound.parse(orjson.dumps({"model": "auto", "input": "edit", "tools": [TOOL], "stream": True}))
    encoder = CustomCallStream(inbound.stream(chat), chat.custom_tools)
    arguments = orjson.dumps({"input": PATCH}).decode()
    head = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "apply_patch", "arguments": ""}}
    raw = encoder.feed(frame({"role": "assistant", "content": "Patching."}) + frame({"tool_calls": [head]}))
    for i in range(0, len(arguments), 7):  # fragments split anywhere, escapes included
        raw += encoder.feed(frame({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i:i + 7]}}]}))
    raw += encoder.feed(frame({}, "tool_calls")) + encoder.finish()
    got = events(raw)  # each checked against the openai SDK's event types
    kinds = [e["type"] for e in got]
    assert "response.function_call_arguments.delta" not in kinds
    deltas = "".join(e["delta"] for e in got if e["type"] == "response.custom_tool_call_input.delta")
    done = next(e for e in got if e["type"] == "response.custom_tool_call_input.done")
    assert deltas == done["input"] == PATCH
    final = Response.model_validate(got[-1]["response"])
    assert [item.type for item in final.output] == ["message", "custom_tool_call"]
    assert final.output[1].input == PATCH and final.output[1].call_id == "call_9"
    assert chat.turn.answer[0]["tool_calls"] == [{"id": "call_9", "type": "custom",
                                                  "custom": {"name": "apply_patch", "input": PATCH}}]


def test_a_chat_client_stream_gets_one_custom_input_delta_before_the_finish() -> None:
    encoder = CustomCallStream(OpenAIChat().stream(None), frozenset({"apply_patch"}))
    head = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "apply_patch", "arguments": '{"inp'}}
    raw = encoder.feed(frame({"tool_calls": [head]}) + frame({"tool_calls": [{"index": 0, "function": {"arguments": 'ut": "x"}'}}]}))
    raw += encoder.feed(frame({}, "tool_calls")) + encoder.finish()
    chunks = [orjson.loads(f[6:]) for f in raw.split(b"\n\n") if f.startswith(b"data: {")]
    calls = [c for chunk in chunks for c in chunk["choices"][0]["delta"].get("tool_calls", ())]
    assert calls == [{"index": 0, "id": "call_9", "type": "custom", "custom": {"name": "apply_patch", "input": ""}},
                     {"index": 0, "custom": {"input": "x"}}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and raw.endswith(b"data: [DONE]\n\n")


def test_the_responses_adapter_sends_custom_tools_and_reads_custom_calls() -> None:
    body = responses_body({k: v for k, v in canonical(tool_choice={"type": "custom", "name": "apply_patch"}).items()
                           if k != "x_gateway_native"})
    assert body["tools"] == [TOOL] and body["tool_choice"] == {"type": "custom", "name": "apply_patch"}
    assert body["input"][1:] == TURN[1:]
    dep = deployment("openai_responses", "m", "http://127.0.0.1:1/v1")
    answer, _ = from_upstream(orjson.dumps({"id": "resp_1", "status": "completed", "output": [
        {"id": "ctc_1", "type": "custom_tool_call", "status": "completed", "call_id": "call_2", "name": "apply_patch",
         "input": PATCH}]}), dep)
    assert answer["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_2", "type": "custom", "custom": {"name": "apply_patch", "input": PATCH}}]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    decoder = StreamDecoder(dep, False)
    item = {"id": "ctc_1", "type": "custom_tool_call", "status": "in_progress", "call_id": "call_2",
            "name": "apply_patch", "input": ""}
    out = decoder.feed(b"", orjson.dumps({"type": "response.output_item.added", "output_index": 0, "item": item}))
    out += decoder.feed(b"", orjson.dumps({"type": "response.custom_tool_call_input.delta", "item_id": "ctc_1",
                                           "output_index": 0, "delta": "*** Begin"}))
    deltas = [orjson.loads(f[6:])["choices"][0]["delta"]["tool_calls"][0] for f in out if b"tool_calls" in f]
    assert deltas == [{"index": 0, "id": "call_2", "type": "custom", "custom": {"name": "apply_patch", "input": ""}},
                      {"index": 0, "custom": {"input": "*** Begin"}}]


SIGNED = {"extra_content": {"google": {"thought_signature": "c2lnLTE="}}}  # Gemini 3's, on its first call


def test_a_custom_calls_thought_signature_stays_on_it_both_ways() -> None:
    """Gemini 3 refuses a tool turn whose signed call comes back unsigned: as_functions, restore
    and the stream keep the call's `extra_content`."""
    body = canonical()
    body["messages"][1]["tool_calls"][0].update(SIGNED)
    assert as_functions(body)["messages"][1]["tool_calls"][0]["extra_content"] == SIGNED["extra_content"]
    arguments = orjson.dumps({"input": PATCH}).decode()
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "apply_patch", "arguments": arguments}, **SIGNED}]}}]}
    assert restore(answer, frozenset({"apply_patch"}))["choices"][0]["message"]["tool_calls"][0] == {
        "id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": PATCH}, **SIGNED}
    encoder = CustomCallStream(OpenAIChat().stream(None), frozenset({"apply_patch"}))
    head = {"index": 0, "id": "c1", "type": "function", "function": {"name": "apply_patch", "arguments": arguments}}
    raw = encoder.feed(frame({"tool_calls": [{**head, **SIGNED}]}) + frame({}, "tool_calls")) + encoder.finish()
    chunks = [orjson.loads(f[6:]) for f in raw.split(b"\n\n") if f.startswith(b"data: {")]
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["type"] == "custom" and first["extra_content"] == SIGNED["extra_content"]
