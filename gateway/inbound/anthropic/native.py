"""Anthropic-format deployments' own answers, relayed to a Messages client (AnswersNatively).

On `anthropic`, `vertex_anthropic` and `bedrock_anthropic` the client's body already goes out as
it came; this is the way back, so what only Anthropic answers carry reaches the client:
server-tool blocks (`server_tool_use`, `web_search_tool_result`, code execution results),
`citations`, `redacted_thinking`, `container`, `stop_sequence`, the whole `usage`
(`server_tool_use`, `cache_creation`, `service_tier`) and every stream event in its order
(`signature_delta`, `citations_delta`, `ping`...).

What the gateway still changes, and why:
- `model` is the deployment's upstream model, as the canonical answer (and every other inbound
  API) names it, so a client sees one name for one deployment whichever way it was answered
  (Anthropic itself may answer with a dated snapshot of an alias, Bedrock and Vertex with their
  own spellings). Only the whole answer and the stream's `message_start` hold it.
- Bedrock's InvokeModel stream is AWS's binary event stream whose `chunk` events hold base64
  Anthropic events: each is unwrapped into the plain `event: <type>` SSE event it carries.
- The framing is Anthropic's (`\\n`), not the CRLF of gateway.pipeline.native.sse_frame.
An error after the 200 is the gateway's `error` event, as on the canonical path.
"""

from __future__ import annotations

import base64

import orjson

from gateway.errors import GatewayError
from gateway.inbound.anthropic.reply import error_doc

EVENT, DATA, CHUNK = b"event: ", b"data: ", b"event: chunk\r\n"


def native_reply(data: bytes, model: str) -> bytes:
    """A whole Messages answer with the deployment's `model` (the bytes themselves when it has it)."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("model") == model:
        return data
    doc["model"] = model
    return orjson.dumps(doc)


def _event(name: bytes, data: bytes) -> bytes:
    """One SSE event, LF-delimited; a multi-line data keeps its lines."""
    head = EVENT + name + b"\n" if name else b""
    return head + DATA + data.replace(b"\n", b"\n" + DATA) + b"\n\n"


def _type(data: bytes) -> bytes:
    """An event's `type`: read off the front where Anthropic writes it, else parsed."""
    if data.startswith(b'{"type":"'):
        end = data.find(b'"', 9)
        if end > 0:
            return data[9:end]
    return str(orjson.loads(data).get("type") or "").encode()


class NativeStream:
    """One natively answered stream's encoder (gateway.inbound.base.StreamEncoder): the provider's
    events (gateway.pipeline.native.ProviderEvents frames) out as Anthropic sends them."""

    __slots__ = ("model", "started")

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False  # message_start has gone out (with the model set)

    def feed(self, frames: bytes) -> bytes:
        if self.started and CHUNK not in frames:  # the usual case: only the framing changes
            return frames.replace(b"\r\n", b"\n")
        out = []
        for frame in frames.split(b"\r\n\r\n"):
            name, data = b"", b""
            for line in frame.split(b"\r\n"):
                if line.startswith(EVENT):
                    name = line[7:]
                elif line.startswith(DATA):
                    data = data + b"\n" + line[6:] if data else line[6:]
            if name == b"chunk":  # Bedrock: {"bytes": <base64 of one Anthropic event>}
                data = base64.b64decode(orjson.loads(data)["bytes"])  # the decoder has checked it
                name = _type(data)
            if name == b"message_start":
                data = self._start(data)
            if data:
                out.append(_event(name, data))
        return b"".join(out)

    def _start(self, data: bytes) -> bytes:
        self.started = True
        doc = orjson.loads(data)
        message = doc.get("message")
        if not isinstance(message, dict) or message.get("model") == self.model:
            return data
        message["model"] = self.model
        return orjson.dumps(doc)

    def finish(self) -> bytes:
        return b""  # message_stop was Anthropic's own last event

    def error(self, err: GatewayError) -> bytes:
        return _event(b"error", orjson.dumps(error_doc(err)))
