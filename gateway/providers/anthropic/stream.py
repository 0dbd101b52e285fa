"""Anthropic Messages stream events → OpenAI `chat.completion.chunk` frames.

Every chunk is written with `openai_side.ChunkWriter`; this module reads Anthropic's events.
"""

from __future__ import annotations

import orjson

from gateway.config import Deployment
from gateway.pricing import estimate_tokens
from gateway.providers.anthropic.search import RESULT, annotations, is_search_call, search_item
from gateway.providers.anthropic.structured import JSON_TOOL
from gateway.providers.anthropic.response import STOP_REASONS, completion_id, usage_from, web_searches
from gateway.providers.base import StreamError
from gateway.providers.openai_side import ChunkWriter, stream_object
from gateway.providers.search_options import ITEMS


class StreamDecoder(ChunkWriter):
    """Anthropic stream events → OpenAI `chat.completion.chunk` frames.

    message_start → the role chunk; content_block_start (tool_use) → the tool call's id and name;
    content_block_delta → text or argument fragments, thinking as `reasoning_content` and its
    signature (or a redacted block) as `thinking_blocks`; message_delta → the finish chunk;
    message_stop → the usage chunk (when asked for) and `done`. The forced JSON-mode tool's
    `input_json_delta` fragments are `content`, and its `tool_use` stop is "stop". A text block's
    web search citations (`citations_delta`, which Claude sends ahead of the text they cite) are
    held until the block's content_block_stop, then sent as one delta's `annotations` over the
    block's span of the content, as the whole answer has them (`search.py`). A web search's
    query arrives as its call block's `input_json_delta` fragments and its result block whole:
    the result sends the search's `web_search_call` item as a delta's `reasoning_items`.
    """

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        super().__init__(dep, include_usage, completion_id(None))
        self._tools: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index
        self._json: set[int] = set()  # block indexes of the JSON-mode tool
        self._finish: str | None = None
        self._finished = False
        self._output_reported = False
        self._content = 0  # characters of content sent so far, where a text block's span starts
        self._texts: dict[int, tuple[int, list[object]]] = {}  # text block index → (its start, its citations)
        self._searching: dict[int, tuple[object, list[str]]] = {}  # search call block index → (its id, its input)
        self._queries: dict[object, object] = {}  # a finished search call's id → its query, until its result

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        doc = stream_object(data, "stream event")
        kind = doc.get("type") or event.decode(errors="replace")
        out: list[bytes] = []
        if kind == "message_start":
            message = doc.get("message") or {}
            self.id = completion_id(message.get("id"))
            self.usage = usage_from(message.get("usage"))
            self._start(0, out)
        elif kind == "content_block_start":
            self._start(0, out)
            block = doc.get("content_block") or {}
            if block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
                self._json.add(int(doc.get("index") or 0))
            elif block.get("type") == "tool_use":
                index = len(self._tools)
                self._tools[int(doc.get("index") or 0)] = index
                name = block.get("name") or ""
                self._chars += len(name)
                call = {"index": index, "id": block.get("id"), "type": "function",
                        "function": {"name": name, "arguments": ""}}
                out.append(self._delta(0, {"tool_calls": [call]}))
            elif block.get("type") == "redacted_thinking":
                out.append(self._delta(0, {"thinking_blocks": [block]}))
            elif block.get("type") == "text":
                self._texts[int(doc.get("index") or 0)] = (self._content, list(block.get("citations") or ()))
                self._content_delta(block.get("text"), out)
            elif is_search_call(block):  # its input comes as fragments (a whole one, if any, is the first)
                given = block.get("input")
                self._searching[int(doc.get("index") or 0)] = (
                    block.get("id"), [orjson.dumps(given).decode()] if isinstance(given, dict) and given else [])
            elif block.get("type") == RESULT and block.get("tool_use_id") in self._queries:
                item = search_item(self._queries.pop(block.get("tool_use_id")), block)
                out.append(self._delta(0, {ITEMS: [item]}))
        elif kind == "content_block_delta":
            self._start(0, out)
            delta = doc.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                self._content_delta(delta.get("text"), out)
            elif dtype == "citations_delta":
                held = self._texts.get(int(doc.get("index") or 0))
                if held is not None:
                    held[1].append(delta.get("citation"))
            elif dtype == "input_json_delta":
                fragment = delta.get("partial_json") or ""
                searching = self._searching.get(int(doc.get("index") or 0))
                if searching is not None:
                    searching[1].append(fragment)
                if fragment and int(doc.get("index") or 0) in self._json:
                    self._content_delta(fragment, out)
                index = self._tools.get(int(doc.get("index") or 0))
                if fragment and index is not None:
                    self._chars += len(fragment)
                    out.append(self._delta(0, {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
            elif dtype == "thinking_delta":
                text = delta.get("thinking") or ""
                if text:
                    self._chars += len(text)
                    out.append(self._delta(0, {"reasoning_content": text}))
            elif dtype == "signature_delta" and delta.get("signature"):
                out.append(self._delta(0, {"thinking_blocks": [{"type": "thinking", "thinking": "",
                                                                "signature": delta["signature"]}]}))
        elif kind == "content_block_stop":
            self._cite(self._texts.pop(int(doc.get("index") or 0), None), out)
            self._search_called(self._searching.pop(int(doc.get("index") or 0), None))
        elif kind == "message_delta":
            delta = doc.get("delta") or {}
            if delta.get("stop_reason"):
                self._finish = STOP_REASONS.get(delta["stop_reason"], "stop")
                if self._finish == "tool_calls" and self._json and not self._tools:  # only the JSON-mode tool was called
                    self._finish = "stop"
            usage = doc.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.usage.completion_tokens = int(usage["output_tokens"])
                self._output_reported = True
            if usage.get("input_tokens") is not None:  # newer API versions repeat the input counts here
                self.usage = usage_from({**usage, "output_tokens": self.usage.completion_tokens})
            elif usage.get("server_tool_use") is not None:  # the searches, counted at the end
                self.usage.web_searches = web_searches(usage)
        elif kind == "message_stop":
            self._start(0, out)
            out.extend(self._close())
            self.done = True
        elif kind == "error":
            err = doc.get("error") or {}
            raise StreamError(str(err.get("message") or "upstream stream error"), err.get("type"))
        # "ping" and unknown event types are ignored, as Anthropic's versioning policy asks
        return out

    def _content_delta(self, text: object, out: list[bytes]) -> None:
        if isinstance(text, str) and text:
            self._chars += len(text)
            self._content += len(text)
            out.append(self._delta(0, {"content": text}))

    def _search_called(self, held: tuple[object, list[str]] | None) -> None:
        """A finished search call: its query, from its input's fragments, waits for its result."""
        if held is None:
            return
        try:
            given = orjson.loads("".join(held[1]) or "{}")
        except orjson.JSONDecodeError:
            given = {}
        self._queries[held[0]] = given.get("query") if isinstance(given, dict) else None

    def _cite(self, held: tuple[int, list[object]] | None, out: list[bytes]) -> None:
        """A finished text block's citations, over its span, as a delta's `annotations`."""
        cited = annotations(held[1], held[0], self._content) if held is not None else []
        if cited:
            self._start(0, out)
            out.append(self._delta(0, {"annotations": cited}))

    def _close(self) -> list[bytes]:
        if self._finished:
            return []
        self._finished = True
        out: list[bytes] = []
        for index in sorted(self._texts):  # a block the stream never stopped
            self._cite(self._texts.pop(index), out)
        out.append(self._delta(0, {}, self._finish or "stop"))
        self._usage_chunk(out)
        return out

    def finish(self) -> list[bytes]:
        if not self._output_reported and self._chars:
            self.usage.completion_tokens = max(self.usage.completion_tokens, estimate_tokens(self._chars))
        return []
