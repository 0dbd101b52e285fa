"""OpenAI chat completions, the canonical API: its translator is the identity."""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError, sse_error
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.chat_lists import EntryNumbers, has_list_field, without_entry_numbers
from gateway.pipeline.request import ChatRequest, parse_chat

DONE = b"data: [DONE]\n\n"


class _PassThrough:
    """Canonical frames are already the client's frames, but for the numbers of list entries
    (chat_lists.py), given only once a frame has such a list."""

    __slots__ = ("_numbers",)

    def __init__(self) -> None:
        self._numbers: EntryNumbers | None = None

    def feed(self, frames: bytes) -> bytes:
        if self._numbers is None:
            if not has_list_field(frames):
                return frames
            self._numbers = EntryNumbers()
        return self._numbers.number(frames)

    def finish(self) -> bytes:
        return DONE

    def error(self, err: GatewayError) -> bytes:
        return sse_error(err) + DONE


class OpenAIChat:
    name = "openai.chat"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        chat = parse_chat(raw)
        without_entry_numbers(chat.messages)
        return chat

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(body)

    def stream(self, chat: ChatRequest) -> _PassThrough:
        return _PassThrough()

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())
