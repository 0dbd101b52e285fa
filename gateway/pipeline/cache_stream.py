"""Streams and the response cache: a streamed miss collected into one canonical completion (so it
is stored like a whole answer), and a stored completion replayed as canonical chunks (so a hit
reaches a streaming client through its API's own encoder).

Both work on the canonical `chat.completion.chunk` frames, the form every client encoder reads,
so one stored answer serves every client API, whole or streamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.frames import chunks

if TYPE_CHECKING:
    from gateway.inbound.base import StreamEncoder

KEEP_FIRST = frozenset({"id", "type", "role"})  # a delta's string fields that are not pieces of a text


def _merge(into: dict[str, Any], delta: dict[str, Any]) -> None:
    """Add one delta to what came before: text pieces are joined, tool calls merged by index,
    other lists extended, objects merged, other values replaced."""
    for name, value in delta.items():
        if value is None:
            continue
        have = into.get(name)
        if name == "tool_calls" and isinstance(value, list):
            calls: list[dict[str, Any]] = into.setdefault("tool_calls", [])
            for call in value:
                if not isinstance(call, dict):
                    continue
                at = call.get("index", len(calls))
                while len(calls) <= at:
                    calls.append({})
                _merge(calls[at], {k: v for k, v in call.items() if k != "index"})
        elif isinstance(value, str) and isinstance(have, str) and name not in KEEP_FIRST:
            into[name] = have + value
        elif isinstance(value, dict) and isinstance(have, dict):
            _merge(have, value)
        elif isinstance(value, list) and isinstance(have, list):
            have.extend(value)
        elif isinstance(value, dict):
            into[name] = {}
            _merge(into[name], value)
        elif isinstance(value, list):
            into[name] = list(value)
        elif have is None or name not in KEEP_FIRST:
            into[name] = value


class Collector:
    """Canonical chunks in, the whole completion they make out (one choice: n == 1)."""

    __slots__ = ("envelope", "message", "finish_reason", "usage")

    def __init__(self) -> None:
        self.envelope: dict[str, Any] = {}
        self.message: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, frames: bytes) -> None:
        for chunk in chunks(frames):
            if not self.envelope:
                self.envelope = {k: v for k, v in chunk.items() if k not in ("choices", "usage", "object")}
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                if isinstance(choice.get("delta"), dict):
                    _merge(self.message, choice["delta"])
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]

    def completion(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": None, **self.message}
        body = {**self.envelope, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}]}
        if self.usage is not None:
            body["usage"] = self.usage
        return body


class CollectingEncoder:
    """A `StreamEncoder` in front of the client's that also collects the canonical frames."""

    __slots__ = ("inner", "collector")

    def __init__(self, inner: "StreamEncoder", collector: Collector) -> None:
        self.inner, self.collector = inner, collector

    def feed(self, frames: bytes) -> bytes:
        self.collector.feed(frames)
        return self.inner.feed(frames)

    def finish(self) -> bytes:
        return self.inner.finish()

    def error(self, err: GatewayError) -> bytes:
        return self.inner.error(err)


def _frame(envelope: dict[str, Any], delta: dict[str, Any] | None, finish: str | None = None,
           usage: Any = None) -> bytes:
    chunk: dict[str, Any] = {**envelope, "object": "chat.completion.chunk",
                             "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def replay(completion: dict[str, Any], include_usage: bool) -> bytes:
    """A stored completion as canonical chunks: the message, its tool calls, the finish reason,
    then the usage when the client asked for it (`stream_options.include_usage`)."""
    envelope = {k: v for k, v in completion.items() if k not in ("choices", "usage", "object")}
    choice = completion["choices"][0]
    message = {k: v for k, v in choice["message"].items() if v is not None}
    calls = message.pop("tool_calls", None)
    out = [_frame(envelope, message)]
    if calls:
        out.append(_frame(envelope, {"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]}))
    out.append(_frame(envelope, {}, choice.get("finish_reason") or "stop"))
    if include_usage and completion.get("usage") is not None:
        out.append(_frame(envelope, None, usage=completion["usage"]))
    return b"".join(out)
