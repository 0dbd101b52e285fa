"""Canonical `chat.completion.chunk` frames → Gemini's streamed `GenerateContentResponse`s.

Each canonical chunk with text (or thoughts, when asked for) becomes one response event holding
that text, as Gemini streams it. Gemini sends a function call whole, while the canonical stream
sends its arguments in fragments: calls are gathered and go out in the last event, with every
candidate's `finishReason` and the `usageMetadata` (the canonical request always asks for the
usage chunk, which follows the finish chunk). Without a usage chunk the output is estimated
from the characters relayed, as the gateway's own accounting does.

Framing: with `?alt=sse` (what google-genai and Gemini CLI ask for) `data: {...}` events, CRLF
delimited as Google sends them; without it one JSON array, its elements written as they come.
An error after the 200 is one more element, `{"error": {...}}`, which google-genai raises as
`APIError` mid-iteration.

`NativeStream` is the encoder when a Gemini deployment answers: its events go out as Gemini sent
them (the adapter always asks for SSE; for a client that did not, each event's JSON becomes an
element of the array).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.frames import chunks
from gateway.inbound.gemini.reply import FINISH_REASONS, call_part, error_doc, response_id, usage_doc
from gateway.pricing import estimate_tokens


class _Call:
    __slots__ = ("id", "name", "arguments", "extra")

    def __init__(self) -> None:
        self.id, self.name, self.arguments, self.extra = "", "", "", None


class Framing:
    """Gemini's two stream framings: `data:` events, or one JSON array written element by element."""

    def __init__(self, sse: bool) -> None:
        self.sse = sse
        self.sent = 0  # elements written (the JSON array's commas)

    def _data(self, data: bytes) -> bytes:
        self.sent += 1
        if self.sse:  # a multi-line data keeps its lines
            return b"".join(b"data: " + line + b"\r\n" for line in data.split(b"\n")) + b"\r\n"
        return (b"[" if self.sent == 1 else b",\r\n") + data

    def _element(self, doc: dict[str, Any]) -> bytes:
        return self._data(orjson.dumps(doc))

    def _close(self, tail: bytes) -> bytes:
        """The last bytes: the array's end when it is one (an empty one if nothing came)."""
        if self.sse:
            return tail
        return tail + b"]" if self.sent else b"[]"

    def error(self, err: GatewayError) -> bytes:
        return self._close(self._element(error_doc(err)))


def with_model(data: bytes, model: str) -> bytes:
    """A GenerateContentResponse's JSON with `modelVersion` the deployment's upstream model, as the
    translated answers (and every other inbound API) name it: one name for one deployment, however
    it was answered (Gemini may name a dated version of an alias, Vertex its own). The bytes
    themselves when they already say so (parsed only otherwise)."""
    quoted = orjson.dumps(model)
    if b'"modelVersion":' + quoted in data or b'"modelVersion": ' + quoted in data:
        return data
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or "error" in doc:
        return data
    doc["modelVersion"] = model
    return orjson.dumps(doc)


class NativeStream(Framing):
    """A Gemini deployment's own events (gateway.pipeline.native.ProviderEvents frames) relayed as
    they came, but for `modelVersion` (`with_model`): `data:` events for `alt=sse`, else the
    array's elements."""

    def __init__(self, sse: bool, model: str) -> None:
        super().__init__(sse)
        self.model = model

    def feed(self, frames: bytes) -> bytes:
        out = []
        for frame in frames.split(b"\r\n\r\n"):
            data = b"\n".join(line[6:] for line in frame.split(b"\r\n") if line.startswith(b"data: "))
            if data:
                out.append(self._data(with_model(data, self.model)))
        return b"".join(out)

    def finish(self) -> bytes:
        return self._close(b"")


class GeminiStream(Framing):
    """One answered stream's encoder (gateway.inbound.base.StreamEncoder)."""

    def __init__(self, model: str, sse: bool, thoughts: bool) -> None:
        super().__init__(sse)
        self.model, self.thoughts = model, thoughts
        self.id = ""
        self.finishes: dict[int, str] = {}     # candidate index → finishReason
        self.calls: dict[int, dict[int, _Call]] = {}  # candidate index → tool_calls index → call
        self.usage: dict[str, Any] | None = None
        self.chars = 0

    def _response(self, candidates: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        doc: dict[str, Any] = {"candidates": candidates}
        if usage is not None:
            doc["usageMetadata"] = usage
        doc["modelVersion"] = self.model
        doc["responseId"] = self.id
        return self._element(doc)

    def feed(self, frames: bytes) -> bytes:
        out: list[bytes] = []
        for chunk in chunks(frames):
            if not self.id:
                self.id = response_id(chunk.get("id"))
                self.model = chunk.get("model") or self.model
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            candidates = []
            for choice in chunk.get("choices") or ():
                index = int(choice.get("index") or 0)
                delta = choice.get("delta") or {}
                parts = self._parts(delta)
                for call in delta.get("tool_calls") or ():
                    self._gather(index, call)
                if choice.get("finish_reason"):
                    self.finishes[index] = FINISH_REASONS.get(choice["finish_reason"], "OTHER")
                else:
                    self.finishes.setdefault(index, "")
                if parts:
                    candidates.append({"content": {"parts": parts, "role": "model"}, "index": index})
            if candidates:
                out.append(self._response(candidates))
        return b"".join(out)

    def _parts(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            self.chars += len(reasoning)
            if self.thoughts:
                parts.append({"text": reasoning, "thought": True})
        text = delta.get("content")
        if isinstance(text, str) and text:
            self.chars += len(text)
            parts.append({"text": text})
        return parts

    def _gather(self, index: int, fragment: dict[str, Any]) -> None:
        calls = self.calls.setdefault(index, {})
        call = calls.get(fragment.get("index", 0))
        if call is None:
            call = calls[fragment.get("index", 0)] = _Call()
        fn = fragment.get("function") or {}
        call.id = fragment.get("id") or call.id
        call.name = fn.get("name") or call.name
        if isinstance(fn.get("arguments"), str):
            call.arguments += fn["arguments"]
            self.chars += len(fn["arguments"])
        if fragment.get("extra_content"):
            call.extra = fragment["extra_content"]

    def finish(self) -> bytes:
        candidates = []
        for index in sorted(self.finishes or {0: ""}):
            parts = [call_part({"id": c.id, "function": {"name": c.name, "arguments": c.arguments},
                                "extra_content": c.extra}) for c in self.calls.get(index, {}).values()]
            candidates.append({"content": {"parts": parts or [{"text": ""}], "role": "model"},
                               "finishReason": self.finishes.get(index) or "STOP", "index": index})
        usage = usage_doc(self.usage)
        if self.usage is None:
            usage["candidatesTokenCount"] = estimate_tokens(self.chars)
            usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]
        return self._close(self._response(candidates, usage))
