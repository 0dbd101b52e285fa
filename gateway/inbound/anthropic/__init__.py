"""Anthropic Messages inbound: `POST /v1/messages` (JSON and SSE) and `/v1/messages/count_tokens`.

`request` builds the canonical body, `reply` the message and error bodies, `stream` the event
stream; `count` answers count_tokens without an upstream call. On an Anthropic-format deployment
(`anthropic`, `vertex_anthropic`, `bedrock_anthropic`: adapters whose `native_format` is
"anthropic") the request goes out as it came and the answer comes back as Claude gave it
(`native`, gateway.inbound.base.AnswersNatively): server-tool blocks, citations, the whole
usage, every stream event. Any other deployment answers through the canonical form.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.anthropic.native import NativeStream, native_reply
from gateway.inbound.anthropic.reply import error_body, message_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.inbound.anthropic.stream import MessagesStream
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth


class AnthropicMessages:
    """The Messages API over the canonical request (gateway.inbound.base.Inbound, and AnswersNatively)."""

    name = "anthropic.messages"
    native_format = "anthropic"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        body = parse_json(raw)
        check_depth(raw, body)
        return chat_request(to_canonical(body, headers))

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(message_body(body))

    def stream(self, chat: ChatRequest) -> MessagesStream:
        return MessagesStream(chat.model)

    def native_reply(self, data: bytes, chat: ChatRequest, model: str) -> bytes:
        return native_reply(data, model)

    def native_stream(self, chat: ChatRequest, model: str) -> NativeStream:
        return NativeStream(model)

    def error_body(self, err: GatewayError) -> bytes:
        return error_body(err)


__all__ = ["AnthropicMessages"]
