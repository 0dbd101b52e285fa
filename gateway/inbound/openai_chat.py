"""OpenAI chat completions, the canonical API: its translator is the identity."""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError, sse_error
from gateway.inbound.base import NO_HEADERS
from gateway.pipeline.request import ChatRequest, parse_chat

DONE = b"data: [DONE]\n\n"


class _PassThrough:
    """Canonical frames are already the client's frames."""

    __slots__ = ()

    def feed(self, frames: bytes) -> bytes:
        return frames

    def finish(self) -> bytes:
        return DONE

    def error(self, err: GatewayError) -> bytes:
        return sse_error(err) + DONE


_PASS_THROUGH = _PassThrough()


class OpenAIChat:
    name = "openai.chat"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        return parse_chat(raw)

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(body)

    def stream(self, chat: ChatRequest) -> _PassThrough:
        return _PASS_THROUGH

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())
