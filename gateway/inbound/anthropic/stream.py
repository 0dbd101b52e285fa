"""Canonical `chat.completion.chunk` frames → the Anthropic Messages event stream.

message_start (and a ping) at the first frame; a content block per run of one kind: `thinking`
(`reasoning_content` deltas, closed by its `signature_delta`), `text`, and one `tool_use` per
tool call (its argument fragments as `input_json_delta`; one Gemini signed after a thinking
block whose signature carries Gemini's, signatures.py); the finish chunk closes the open
block; `message_delta` (stop_reason, usage) and `message_stop` once the canonical stream has
ended, so the usage chunk that follows the finish chunk is in it. The canonical request always
asks for that usage chunk; without one (a provider that reports none) the output tokens are
estimated from the characters relayed, as the gateway's own accounting does.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.anthropic import signatures
from gateway.inbound.anthropic.reply import STOP_REASONS, error_doc, message_id, usage_doc
from gateway.pricing import estimate_tokens


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessagesStream:
    """One answered stream's encoder (gateway.inbound.base.StreamEncoder)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.index = -1           # the open block's index, -1 when none is open
        self.kind = ""            # the open block's kind: thinking, text or tool_use
        self.blocks = 0           # blocks started so far
        self.tools: dict[int, int] = {}  # canonical tool_calls index → block index
        self.stop_reason = "end_turn"
        self.usage: dict[str, Any] | None = None
        self.chars = 0

    def feed(self, frames: bytes) -> bytes:
        out: list[bytes] = []
        for frame in frames.split(b"\n\n"):
            if frame.startswith(b"data: {"):
                self._chunk(orjson.loads(frame[6:]), out)
        return b"".join(out)

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self.started = True
        message = {"id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
                   "model": chunk.get("model") or self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": usage_doc(None)}
        out.append(event("message_start", {"type": "message_start", "message": message}))
        out.append(event("ping", {"type": "ping"}))

    def _open(self, kind: str, block: dict[str, Any], out: list[bytes]) -> int:
        self._close(out)
        self.index, self.kind = self.blocks, kind
        self.blocks += 1
        out.append(event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                 "content_block": block}))
        return self.index

    def _close(self, out: list[bytes]) -> None:
        if self.index >= 0:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self.index}))
            self.index, self.kind = -1, ""

    def _delta(self, index: int, delta: dict[str, Any], out: list[bytes]) -> None:
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        if not self.started:
            self._start(chunk, out)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            self._thinking(delta, out)
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.kind != "text":
                    self._open("text", {"type": "text", "text": ""}, out)
                self.chars += len(text)
                self._delta(self.index, {"type": "text_delta", "text": text}, out)
            for call in delta.get("tool_calls") or ():
                self._tool_call(call, out)
            if choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
                self._close(out)

    def _thinking(self, delta: dict[str, Any], out: list[bytes]) -> None:
        text = delta.get("reasoning_content")
        if isinstance(text, str) and text:
            if self.kind != "thinking":
                self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self.chars += len(text)
            self._delta(self.index, {"type": "thinking_delta", "thinking": text}, out)
        for block in delta.get("thinking_blocks") or ():
            if block.get("type") == "redacted_thinking":
                self._open("redacted_thinking", block, out)
                self._close(out)
            elif block.get("signature"):
                if self.kind != "thinking":
                    self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
                self._delta(self.index, {"type": "signature_delta", "signature": block["signature"]}, out)
                self._close(out)  # a signature ends its thinking block

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        position = call.get("index", 0)
        fn = call.get("function") or {}
        index = self.tools.get(position)
        if index is None:
            signature = signatures.signature_of(call)
            if signature:  # Gemini's, in a thinking block just before its call (signatures.py)
                self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
                self._delta(self.index, {"type": "signature_delta",
                                         "signature": signatures.block(call.get("id") or "", signature)["signature"]}, out)
            block = {"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name") or "", "input": {}}
            index = self.tools[position] = self._open("tool_use", block, out)
            self.chars += len(block["name"])
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            self.chars += len(arguments)
            self._delta(index, {"type": "input_json_delta", "partial_json": arguments}, out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        if not self.started:
            self._start({}, out)
        self._close(out)
        usage = usage_doc(self.usage)
        if self.usage is None:
            usage["output_tokens"] = estimate_tokens(self.chars)
        out.append(event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                                           "usage": usage}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, err: GatewayError) -> bytes:
        return event("error", error_doc(err))
