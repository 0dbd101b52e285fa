"""Claude on Amazon Bedrock through InvokeModel (`format: bedrock_anthropic`): the Anthropic
Messages body and answers on Bedrock's paths, auth, errors and binary event stream, which is how
the anthropic SDK's `AnthropicBedrock` client and Claude Code reach Claude on Bedrock.

- `POST {base}/model/{modelId}/invoke`: the Messages body without `model` (the path names it)
  and without `stream` (the path says it), with `"anthropic_version": "bedrock-2023-05-31"`; the
  `anthropic-beta` header's betas go in the body as the `anthropic_beta` list, as the SDK puts
  them. The answer is Anthropic's message JSON (the anthropic adapter's `from_upstream`).
- `POST {base}/model/{modelId}/invoke-with-response-stream`: the same body; the answer is AWS's
  event stream (`eventstream.EventStreamParser`) whose `chunk` events hold `{"bytes": <base64>}`,
  each the JSON of one Anthropic stream event (message_start ... message_stop; Bedrock adds
  `amazon-bedrock-invocationMetrics` to the last, which is not billed from: Anthropic's own usage
  is). An exception message (`throttlingException`, `modelStreamErrorException`...) ends the
  stream with an error, as on Converse.
- A deployment's guardrail (`models.<name>.bedrock.guardrail`) goes as InvokeModel takes it: the
  `X-Amzn-Bedrock-GuardrailIdentifier`, `-GuardrailVersion` and `X-Amzn-Bedrock-Trace` headers
  (signed with the rest), a stream's processing mode as the body's
  `amazon-bedrock-guardrailConfig`. An intervention is an answer, not a failure: the body (or a
  stream chunk) says `"amazon-bedrock-guardrailAction": "INTERVENED"` and holds the guardrail's
  blocked message, which is the client's answer with finish_reason `content_filter`, as
  Converse's `guardrail_intervened` is. A Messages client answered natively gets Bedrock's body
  as it came, the action field included.
- A deployment's latency (`models.<name>.bedrock.latency`) goes as the
  `X-Amzn-Bedrock-PerformanceConfig-Latency` header, signed with the rest.
- Errors, auth (a Bedrock API key as a bearer token, or SigV4 for service `bedrock`), the
  provider's AWS settings and the health probe are the `bedrock` format's.

The Anthropic translation (OpenAI → Messages, and an Anthropic client's own fields passed through:
`native_format` "anthropic") is `gateway/providers/anthropic`'s, as for `vertex_anthropic`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage
from gateway.providers.anthropic import adapter as anthropic_adapter
from gateway.providers.anthropic.request import message_body
from gateway.providers.anthropic.stream import StreamDecoder as MessagesDecoder
from gateway.providers.base import ChatAdapterFunctions, UpstreamRequest, encode
from gateway.providers.bedrock.auth import request_headers
from gateway.providers.bedrock.extras import latency_headers
from gateway.providers.bedrock.eventstream import EventStreamParser
from gateway.providers.bedrock.request import error_from_upstream, health_probe, model_url
from gateway.providers.bedrock.stream import stream_exception
from gateway.providers.openai_side import stream_object

ANTHROPIC_VERSION = "bedrock-2023-05-31"
GUARDRAIL_ACTION = "amazon-bedrock-guardrailAction"
_ACTION = GUARDRAIL_ACTION.encode()
STREAM_MODES = {"sync": "SYNCHRONOUS", "async": "ASYNCHRONOUS"}  # the body's names for the config's


def guardrail_headers(dep: Deployment) -> dict[str, str]:
    """The deployment's guardrail as InvokeModel's request headers (none without one)."""
    g = dep.guardrail
    if g is None:
        return {}
    headers = {"x-amzn-bedrock-guardrailidentifier": g.identifier, "x-amzn-bedrock-guardrailversion": g.version}
    if g.trace:
        headers["x-amzn-bedrock-trace"] = g.trace.upper()
    return headers


def intervened(data: bytes) -> bool:
    """Whether a Messages body (or one stream event) says the guardrail intervened."""
    return _ACTION in data and orjson.loads(data).get(GUARDRAIL_ACTION) == "INTERVENED"


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body, extra, adapted = message_body(chat, dep, stream)
    body.pop("model", None)
    body.pop("stream", None)
    body["anthropic_version"] = ANTHROPIC_VERSION
    betas = [b.strip() for b in extra.get("anthropic-beta", "").split(",") if b.strip()]
    if betas:
        body["anthropic_beta"] = betas
    if stream and dep.guardrail is not None and dep.guardrail.stream_processing_mode:
        body["amazon-bedrock-guardrailConfig"] = {"streamProcessingMode":
                                                  STREAM_MODES[dep.guardrail.stream_processing_mode]}
    data = encode(body)
    url = model_url(dep, "invoke-with-response-stream" if stream else "invoke")
    # `accept: application/json` on both paths, as the SDK's Bedrock client sends it: for a stream
    # it names the chunks' body type (AWS's X-Amzn-Bedrock-Accept), the framing is the path's
    signed = {**guardrail_headers(dep), **latency_headers(dep)}
    return UpstreamRequest(url, request_headers(dep, url, data, "application/json", signed), data, adapted=adapted)


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    """The Messages answer, whose finish is `content_filter` when the guardrail intervened."""
    body, usage = anthropic_adapter.from_upstream(data, dep)
    if intervened(data):
        body["choices"][0]["finish_reason"] = "content_filter"
    return body, usage


class StreamDecoder(MessagesDecoder):
    """The event stream's `chunk` events, unwrapped, into the Anthropic stream decoder; an
    exception message raises StreamError; other events carry nothing. A chunk saying the
    guardrail intervened makes the finish `content_filter`."""

    _intervened = False

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        if event == b"chunk":
            payload = stream_object(data, "stream chunk").get("bytes")
            if not isinstance(payload, str):
                raise ValueError("a stream chunk has no bytes")
            try:
                inner = base64.b64decode(payload, validate=True)
            except binascii.Error:
                raise ValueError("a stream chunk's bytes are not base64") from None
            self._intervened = self._intervened or intervened(inner)
            return super().feed(b"", inner)
        if event.startswith((b"exception:", b"error:")):
            raise stream_exception(event, data)
        return []

    def _close(self) -> list[bytes]:
        if self._intervened:
            self._finish = "content_filter"
        return super()._close()


adapter = ChatAdapterFunctions("bedrock_anthropic", anthropic_adapter.capabilities, to_upstream, from_upstream,
                               error_from_upstream, StreamDecoder,
                               stream_framing=EventStreamParser, native_format="anthropic",
                               reads_hints=True, health_probe=health_probe)  # the same service: ListAsyncInvokes
