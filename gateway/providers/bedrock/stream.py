"""ConverseStream events → OpenAI `chat.completion.chunk` frames.

The events come out of `eventstream.EventStreamParser` as (event type, JSON payload) pairs; every
chunk is written with `openai_side.ChunkWriter`.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Deployment
from gateway.pricing import estimate_tokens
from gateway.providers.base import StreamError
from gateway.providers.bedrock.response import completion_id, finish_reason, usage_from
from gateway.providers.json_mode import JSON_TOOL
from gateway.providers.openai_side import ChunkWriter, stream_object


def stream_exception(event: bytes, data: bytes) -> StreamError:
    """An exception or error message of the event stream (`exception:throttlingException`,
    `{"message": ...}`) as the StreamError that ends the stream; every Bedrock stream has them."""
    kind, _, name = event.decode(errors="replace").partition(":")
    doc = stream_object(data or b"{}", f"stream {kind}")
    return StreamError(str(doc.get("message") or doc.get("Message") or f"upstream {name}"), name or None)


class StreamDecoder(ChunkWriter):
    """messageStart → the role chunk; contentBlockStart with `toolUse` → the tool call's id and
    name; contentBlockDelta → text, or the tool input's JSON fragments as argument deltas (as content
    for JSON mode's forced tool);
    reasoningContent deltas as the Anthropic decoder writes thinking: text → `reasoning_content`,
    a signature → a `thinking_blocks` entry carrying it, redacted content → a `redacted_thinking`
    one; messageStop → the finish chunk; metadata (the last event, with usage) → the usage chunk
    and `done`. An exception message raises StreamError."""

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        super().__init__(dep, include_usage, completion_id())
        self._tools: dict[int, int] = {}  # Converse content block index → OpenAI tool_calls index
        self._json_blocks: set[int] = set()  # blocks of JSON mode's forced tool: streamed as content
        self._stopped = False

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        if event.startswith((b"exception:", b"error:")):
            raise stream_exception(event, data)
        doc = stream_object(data, "stream event")
        out: list[bytes] = []
        if event == b"messageStart":
            self._start(0, out)
        elif event == b"contentBlockStart":
            self._start(0, out)
            use = (doc.get("start") or {}).get("toolUse")
            if isinstance(use, dict) and use.get("name") == JSON_TOOL:  # JSON mode: its input is content
                self._json_blocks.add(int(doc.get("contentBlockIndex") or 0))
            elif isinstance(use, dict):
                index = len(self._tools)
                self._tools[int(doc.get("contentBlockIndex") or 0)] = index
                name = str(use.get("name") or "")
                self._chars += len(name)
                call = {"index": index, "id": use.get("toolUseId"), "type": "function",
                        "function": {"name": name, "arguments": ""}}
                out.append(self._delta(0, {"tool_calls": [call]}))
        elif event == b"contentBlockDelta":
            self._start(0, out)
            delta = doc.get("delta") or {}
            if delta.get("text"):
                self._chars += len(delta["text"])
                out.append(self._delta(0, {"content": delta["text"]}))
            elif isinstance(delta.get("reasoningContent"), dict):
                self._reasoning(delta["reasoningContent"], out)
            elif isinstance(delta.get("toolUse"), dict):
                fragment = str(delta["toolUse"].get("input") or "")
                block = int(doc.get("contentBlockIndex") or 0)
                index = self._tools.get(block)
                if fragment and block in self._json_blocks:
                    self._chars += len(fragment)
                    out.append(self._delta(0, {"content": fragment}))
                elif fragment and index is not None:
                    self._chars += len(fragment)
                    out.append(self._delta(0, {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        elif event == b"messageStop":
            self._start(0, out)
            if not self._stopped:
                self._stopped = True
                finish = finish_reason(doc.get("stopReason"))
                if finish == "tool_calls" and not self._tools:  # only JSON mode's tool was called
                    finish = "stop"
                out.append(self._delta(0, {}, finish))
        elif event == b"metadata":
            if doc.get("usage"):
                self.usage = usage_from(doc["usage"])
            if self._stopped:
                self.done = True
                self._usage_chunk(out)
        # contentBlockStop and unknown events carry nothing the OpenAI stream needs
        return out

    def _reasoning(self, delta: dict[str, Any], out: list[bytes]) -> None:
        if delta.get("text"):
            self._chars += len(delta["text"])
            out.append(self._delta(0, {"reasoning_content": delta["text"]}))
        elif delta.get("signature"):
            signed = {"type": "thinking", "thinking": "", "signature": str(delta["signature"])}
            out.append(self._delta(0, {"thinking_blocks": [signed]}))
        elif delta.get("redactedContent"):
            redacted = {"type": "redacted_thinking", "data": str(delta["redactedContent"])}
            out.append(self._delta(0, {"thinking_blocks": [redacted]}))

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        if not self.usage.reported and self._chars:
            self.usage.completion_tokens = estimate_tokens(self._chars)
        if self._stopped and not self.done:  # the answer was whole; only its metadata never came
            self.done = True
            self._usage_chunk(out)
        return out
