"""Gemini `streamGenerateContent?alt=sse` chunks → OpenAI `chat.completion.chunk` frames.

Split out of :mod:`gateway.providers.gemini.request`, which re-exports `StreamDecoder` as the adapter's.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage, estimate_tokens
from gateway.providers.gemini.response import _finish, _tool_call, completion_id, usage_body, usage_from
from gateway.providers.openai import StreamError


class StreamDecoder:
    """Gemini SSE chunks (each a partial GenerateContentResponse) → OpenAI chunks.

    Every candidate gets a role chunk when it first appears; a function call (Gemini sends it
    whole) becomes an id+name delta then one arguments delta; a candidate's finishReason gives
    its finish chunk. The stream is done once every candidate seen has finished.
    """

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.model = dep.upstream
        self.usage = Usage()
        self.done = False
        self.id: str | None = None
        self._rid: Any = None
        self.created = int(time.time())
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finished: set[int] = set()
        self._chars = 0

    def _frame(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage_body(usage)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._frame([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def _start(self, index: int, out: list[bytes]) -> None:
        if index not in self._started:
            self._started.add(index)
            out.append(self._delta(index, {"role": "assistant", "content": ""}))

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ValueError(f"stream chunk is not JSON: {data[:80]!r}") from None
        if not isinstance(doc, dict):
            raise ValueError("stream chunk is not a JSON object")
        if "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            raise StreamError(str(err.get("message") or "upstream stream error"),
                              str(err.get("status") or err.get("code") or "") or None)
        if self.id is None:
            self._rid = doc.get("responseId")
            self.id = completion_id(self._rid)
        out: list[bytes] = []
        candidates = doc.get("candidates") or ()
        for pos, cand in enumerate(candidates):
            index = int(cand.get("index") or pos)
            self._start(index, out)
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    continue
                if part.get("text"):
                    self._chars += len(part["text"])
                    out.append(self._delta(index, {"content": part["text"]}))
                elif "functionCall" in part:
                    n = self._calls.get(index, 0)
                    self._calls[index] = n + 1
                    call = _tool_call(part, self._rid, index, n)
                    args = call["function"]["arguments"]
                    self._chars += len(args) + len(call["function"]["name"])
                    first = {"index": n, "id": call["id"], "type": "function",
                             "function": {"name": call["function"]["name"], "arguments": ""}}
                    if "extra_content" in call:
                        first["extra_content"] = call["extra_content"]
                    out.append(self._delta(index, {"tool_calls": [first]}))
                    out.append(self._delta(index, {"tool_calls": [{"index": n, "function": {"arguments": args}}]}))
            if cand.get("finishReason") and index not in self._finished:
                self._finished.add(index)
                out.append(self._delta(index, {}, _finish(cand["finishReason"], index in self._calls)))
        if not candidates and (doc.get("promptFeedback") or {}).get("blockReason"):
            self._start(0, out)
            self._finished.add(0)
            out.append(self._delta(0, {}, "content_filter"))
        if doc.get("usageMetadata"):
            self.usage = usage_from(doc["usageMetadata"])
        if self._finished and self._finished >= self._started:
            self.done = True
            if self.include_usage:
                out.append(self._frame([], self.usage))
        return out

    def finish(self) -> list[bytes]:
        if not self.usage.reported and self._chars:
            self.usage.completion_tokens = estimate_tokens(self._chars)
        return []
