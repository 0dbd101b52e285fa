"""The Gemini API inbound: `POST /v1beta/models/{model}:{method}` (and `/v1/`), as google-genai and
Gemini CLI send it.

`request` (+ `config`) builds the canonical body, `reply` the response and error bodies,
`stream` the streamed responses, `embed` embedContent / batchEmbedContents, `count` countTokens
without an upstream call, and `endpoint` reads the model and method from the path and sends each
to its pipeline.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.gemini.reply import error_body, response_body
from gateway.inbound.gemini.request import to_canonical
from gateway.inbound.gemini.stream import GeminiStream
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth
from gateway.providers.base import NATIVE


class GeminiGenerate:
    """generateContent / streamGenerateContent over the canonical request (gateway.inbound.base.Inbound).
    Made per request: the model and the streaming mode come from the path, not the body."""

    name = "gemini.generate_content"
    __slots__ = ("model", "streaming", "sse", "thoughts")

    def __init__(self, model: str = "auto", streaming: bool = False, sse: bool = True) -> None:
        self.model, self.streaming, self.sse = model, streaming, sse
        self.thoughts = False  # whether the client asked for thoughts (generationConfig.thinkingConfig)

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        body = parse_json(raw)
        check_depth(raw, body)
        canonical, self.thoughts = to_canonical(body, self.model)
        # what a Gemini deployment gets as it came (gateway.providers.base.NATIVE); the model and
        # the streaming mode are the path's, not the body's
        canonical[NATIVE] = {"format": "gemini", "body": {k: v for k, v in body.items() if k != "model"}, "headers": {}}
        if self.streaming:
            canonical["stream"] = True
            canonical["stream_options"] = {"include_usage": True}
        return chat_request(canonical)

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(response_body(body, self.thoughts))

    def stream(self, chat: ChatRequest) -> GeminiStream:
        return GeminiStream(chat.model, self.sse, self.thoughts)

    def error_body(self, err: GatewayError) -> bytes:
        return error_body(err)


__all__ = ["GeminiGenerate"]
