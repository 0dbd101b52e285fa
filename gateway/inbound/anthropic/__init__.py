"""Anthropic Messages inbound: `POST /v1/messages` (JSON and SSE) and `/v1/messages/count_tokens`.

`request` builds the canonical body, `reply` the message and error bodies, `stream` the event
stream; `count` answers count_tokens without an upstream call.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.anthropic.reply import error_body, message_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.inbound.anthropic.stream import MessagesStream
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth


class AnthropicMessages:
    """The Messages API over the canonical request (gateway.inbound.base.Inbound)."""

    name = "anthropic.messages"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        body = parse_json(raw)
        check_depth(raw, body)
        return chat_request(to_canonical(body, headers))

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(message_body(body))

    def stream(self, chat: ChatRequest) -> MessagesStream:
        return MessagesStream(chat.model)

    def error_body(self, err: GatewayError) -> bytes:
        return error_body(err)


__all__ = ["AnthropicMessages"]
