"""The Gemini API inbound: `POST /v1beta/models/{model}:{method}` (and `/v1/`), as google-genai and
Gemini CLI send it.

`request` (+ `config`) builds the canonical body, `reply` the response and error bodies,
`stream` the streamed responses, `embed` embedContent / batchEmbedContents, `count` countTokens
without an upstream call, and `endpoint` reads the model and method from the path and sends each
to its pipeline. On a Gemini or Vertex Gemini deployment (adapters whose `native_format` is
"gemini") the request goes out as it came and the answer comes back as Gemini sent it
(gateway.inbound.base.AnswersNatively): grounding, safety ratings, citations, prompt feedback,
thought parts and signatures, the whole `usageMetadata`; only `modelVersion` is rewritten to
the deployment's upstream model, as the canonical answer names it. Any other deployment answers
through the canonical form.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.gemini.reply import error_body, response_body
from gateway.inbound.gemini.request import cached_content, held_files, to_canonical
from gateway.inbound.gemini.stream import GeminiStream, NativeStream, with_model
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth
from gateway.providers.base import NATIVE


class GeminiGenerate:
    """generateContent / streamGenerateContent over the canonical request (gateway.inbound.base.Inbound,
    and AnswersNatively). Made per request: the model and the streaming mode come from the path,
    not the body."""

    name = "gemini.generate_content"
    native_format = "gemini"
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
        native = canonical[NATIVE] = {"format": "gemini", "body": {k: v for k, v in body.items() if k != "model"},
                                      "headers": {}}
        if held_files(body):  # a file in the API key's project: only the Gemini API may serve it
            native["only"] = "fileData"
        elif cached_content(body):  # a cache in the provider's project: only a Gemini deployment may serve it
            native["only"] = "cachedContent"
        if self.streaming:
            canonical["stream"] = True
            canonical["stream_options"] = {"include_usage": True}
        return chat_request(canonical)

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(response_body(body, self.thoughts))

    def stream(self, chat: ChatRequest) -> GeminiStream:
        return GeminiStream(chat.model, self.sse, self.thoughts)

    def native_reply(self, data: bytes, chat: ChatRequest, model: str) -> bytes:
        return with_model(data, model)  # generateContent's own answer, but for modelVersion

    def native_stream(self, chat: ChatRequest, model: str) -> NativeStream:
        return NativeStream(self.sse, model)

    def error_body(self, err: GatewayError) -> bytes:
        return error_body(err)


__all__ = ["GeminiGenerate"]
