"""The list fields of a chat stream numbered for the openai SDK's stream helper (gateway/inbound/chat_lists.py)."""

from __future__ import annotations

from typing import Any

import orjson
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from gateway.inbound.chat_lists import EntryNumbers, without_entry_numbers
from gateway.inbound.openai_chat import OpenAIChat

SIGNED = [{"type": "thinking", "thinking": "", "signature": "c2lnLTE="},
          {"type": "thinking", "thinking": "", "signature": "c2lnLTI="}]
ITEMS = [{"type": "web_search_call", "id": "ws_gw_1", "status": "completed"},
         {"type": "web_search_call", "id": "ws_gw_2", "status": "completed"}]


def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "claude-opus-4.7",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def stream() -> list[bytes]:
    return [frame({"role": "assistant", "content": ""}), frame({"reasoning_content": "first"}),
            frame({"thinking_blocks": [SIGNED[0]]}), frame({"reasoning_items": [ITEMS[0]]}),
            frame({"content": "Fares rose."}), frame({"thinking_blocks": [SIGNED[1]]}),
            frame({"reasoning_items": [ITEMS[1]]}), frame({}, "stop")]


def assembled(frames: list[bytes]) -> dict[str, Any]:
    """What the openai SDK's stream helper makes of the frames."""
    state = ChatCompletionStreamState()
    for event in b"".join(frames).split(b"\n\n"):
        if event.startswith(b"data: {"):
            state.handle_chunk(ChatCompletionChunk.model_validate_json(event[6:]))
    return state.get_final_completion().choices[0].message.model_dump(exclude_none=True)


def test_the_sdk_assembles_numbered_lists_sent_in_several_chunks() -> None:
    encoder = OpenAIChat().stream(None)  # type: ignore[arg-type]
    message = assembled([encoder.feed(f) for f in stream()])
    assert message["content"] == "Fares rose."
    assert [{k: v for k, v in b.items() if k != "index"} for b in message["thinking_blocks"]] == SIGNED
    assert [b["index"] for b in message["thinking_blocks"]] == [0, 1]
    assert [i["id"] for i in message["reasoning_items"]] == ["ws_gw_1", "ws_gw_2"]


def test_frames_without_a_list_field_pass_as_they_came() -> None:
    encoder = OpenAIChat().stream(None)  # type: ignore[arg-type]
    plain = frame({"content": 'a "thinking_blocks" word in the text'})
    assert encoder.feed(plain) is plain


def test_a_frame_batch_is_numbered_across_its_events() -> None:
    numbers = EntryNumbers()
    out = numbers.number(frame({"annotations": [{"type": "url_citation"}]}) + frame({"annotations": [
        {"type": "url_citation"}, {"type": "url_citation"}]}))
    events = [orjson.loads(e[6:]) for e in out.split(b"\n\n") if e]
    assert [[a["index"] for a in e["choices"][0]["delta"]["annotations"]] for e in events] == [[0], [1, 2]]


def test_the_numbers_are_taken_out_of_messages_sent_back() -> None:
    messages = [{"role": "user", "content": "fares?"},
                {"role": "assistant", "content": "Fares rose.", "thinking_blocks": [{**SIGNED[0], "index": 0}],
                 "annotations": [{"type": "url_citation", "index": 0}]}]
    without_entry_numbers(messages)
    assert messages[1]["thinking_blocks"] == [SIGNED[0]] and messages[1]["annotations"] == [{"type": "url_citation"}]
