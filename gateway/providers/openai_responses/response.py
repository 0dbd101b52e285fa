"""Responses API answers → chat completions, whole (`from_upstream`) or streamed (`StreamDecoder`).

A Response's output items: `message` → `content` (its `output_text` parts joined, their
annotations, a web search's `url_citation`s, → the message's `annotations`; `refusal` parts →
`refusal`), `function_call` → `tool_calls` (the `call_id` is the call's id),
`custom_tool_call` → a custom tool call (`{"type": "custom", "custom": {"name", "input"}}`),
`reasoning` → `reasoning_content` (the summary's text, or the reasoning text where a model gives
it) and the items whole in the message's `reasoning_items` (encrypted content included, when the
request's `include` asked for it). Items of hosted tools (`web_search_call`, `file_search_call`...)
have no chat form: they join the reasoning items there, whole, in their order, so a Responses
client gets them back and a client that sends the message back sends them back. `status: incomplete` → finish_reason `length` (or `content_filter`),
tool calls → `tool_calls`. Usage: input (cached inside it), output (reasoning inside it).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage, estimate_tokens
from gateway.providers.base import StreamError
from gateway.providers.openai_side import ChunkWriter, assistant_message, choice, completion, stream_object
from gateway.providers.openai_responses import citations
from gateway.providers.openai_responses.request import REASONING

INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
CHAT_ITEMS = frozenset({"message", "function_call", "custom_tool_call"})  # the items chat has a place for
SEARCH_ITEM = "web_search_call"  # one per web search the model ran, billed per call


def usage_from(doc: Any) -> Usage:
    if not isinstance(doc, dict):
        return Usage()
    return Usage(prompt_tokens=int(doc.get("input_tokens") or 0), completion_tokens=int(doc.get("output_tokens") or 0),
                 cached_tokens=int((doc.get("input_tokens_details") or {}).get("cached_tokens") or 0),
                 reasoning_tokens=int((doc.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
                 reported=True)


def web_searches(output: Any) -> int:
    """The web search tool's calls: one `web_search_call` item each, billed per call (the usage
    block has no count)."""
    if not isinstance(output, list):
        return 0
    return sum(1 for item in output if isinstance(item, dict) and item.get("type") == SEARCH_ITEM)


def completion_id(response_id: Any) -> str:
    text = str(response_id or "")
    return "chatcmpl-" + (text[5:] if text.startswith("resp_") else text)


def finish_reason(response: dict[str, Any], has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE.get(reason, "length")
    return "tool_calls" if has_calls else "stop"


def reasoning_text(item: dict[str, Any]) -> str:
    """A reasoning item's readable text: its summary, else its reasoning text."""
    parts = item.get("summary") or item.get("content") or ()
    return "\n\n".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("output"), list):
        raise ValueError("upstream body is not a Response")
    if doc.get("status") == "failed":
        raise ValueError(f"upstream response failed: {(doc.get('error') or {}).get('message')}")
    texts, refusals, calls, reasoning, cited = [], [], [], [], []
    at = 0  # where the next text part starts in the message's content
    for item in doc["output"]:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                    cited.extend(a for a in (citations.to_chat(x, at) for x in part.get("annotations") or ()) if a)
                    at += len(texts[-1])
                elif part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
        elif kind == "function_call":
            calls.append({"id": item.get("call_id"), "type": "function",
                          "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or "{}"}})
        elif kind == "custom_tool_call":
            calls.append({"id": item.get("call_id"), "type": "custom",
                          "custom": {"name": item.get("name") or "", "input": item.get("input") or ""}})
        elif isinstance(kind, str):  # reasoning, and hosted tools' items (web_search_call...): whole
            reasoning.append(item)
    message = assistant_message(texts, calls)
    if cited:
        message["annotations"] = cited
    if refusals:
        message["refusal"] = "".join(refusals)
    if reasoning:
        thought = "\n\n".join(t for t in (reasoning_text(i) for i in reasoning if i.get("type") == "reasoning") if t)
        if thought:
            message["reasoning_content"] = thought
        message[REASONING] = reasoning
    usage = usage_from(doc.get("usage"))
    usage.web_searches = web_searches(doc["output"])
    body = completion(completion_id(doc.get("id")), doc.get("model") or dep.upstream,
                      [choice(0, message, finish_reason(doc, bool(calls)))], usage)
    return body, usage


class StreamDecoder(ChunkWriter):
    """Responses stream events → chat chunks.

    output_text / refusal deltas → `content` / `refusal`; an annotation (output_text.annotation.added)
    → a delta's `annotations`, its indices counted in the whole content; a function_call item's output_item.added
    → the call's id and name, its arguments deltas → argument fragments (a custom_tool_call's:
    a custom call, its custom_tool_call_input deltas → `custom.input` fragments); reasoning summary (or
    text) deltas → `reasoning_content`, the finished reasoning item (output_item.done, where its
    encrypted content is whole) → `reasoning_items`, and so does a hosted tool's finished item; response.completed / response.incomplete →
    the finish chunk, usage and `done`; response.failed and error → StreamError. Other events
    (content_part, *.done, hosted tools' progress) carry nothing new for a chat client."""

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        super().__init__(dep, include_usage, completion_id(None))
        self._calls: dict[str, int] = {}  # function_call item id → tool_calls index
        self._summaries: set[tuple[str, int]] = set()  # (reasoning item, summary part) seen, for the separator
        self._searches: set[str] = set()  # ids of the finished web_search_call items
        self._content = 0  # characters of content so far, where a text part's annotations count from
        self._parts: dict[tuple[str, int], int] = {}  # (message item, content index) → where its text starts

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        doc = stream_object(data, "stream event")
        kind = doc.get("type") or event.decode(errors="replace")
        out: list[bytes] = []
        if kind in ("response.created", "response.in_progress"):
            response = doc.get("response") or {}
            self.id = completion_id(response.get("id"))
            self.model = response.get("model") or self.model
            self._start(0, out)
        elif kind == "response.output_text.delta":
            self._parts.setdefault((str(doc.get("item_id")), int(doc.get("content_index") or 0)), self._content)
            self._text("content", doc.get("delta"), out)
        elif kind == "response.output_text.annotation.added":
            base = self._parts.get((str(doc.get("item_id")), int(doc.get("content_index") or 0)), self._content)
            cited = citations.to_chat(doc.get("annotation"), base)
            if cited is not None:
                self._start(0, out)
                out.append(self._delta(0, {"annotations": [cited]}))
        elif kind == "response.refusal.delta":
            self._text("refusal", doc.get("delta"), out)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            key = (str(doc.get("item_id")), int(doc.get("summary_index") or 0))
            if key not in self._summaries:
                if self._summaries:
                    self._text("reasoning_content", "\n\n", out)
                self._summaries.add(key)
            self._text("reasoning_content", doc.get("delta"), out)
        elif kind == "response.output_item.added":
            self._added(doc.get("item") or {}, out)
        elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            index = self._calls.get(str(doc.get("item_id")))
            fragment = doc.get("delta")
            if index is not None and isinstance(fragment, str) and fragment:
                self._chars += len(fragment)
                part = {"custom": {"input": fragment}} if kind.startswith("response.custom") else {"function": {"arguments": fragment}}
                out.append(self._delta(0, {"tool_calls": [{"index": index, **part}]}))
        elif kind == "response.output_item.done":
            item = doc.get("item") or {}
            if item.get("type") == SEARCH_ITEM:
                self._searches.add(str(item.get("id")))
                self.usage.web_searches = len(self._searches)
            if item.get("type") not in CHAT_ITEMS and isinstance(item.get("type"), str):
                self._start(0, out)
                out.append(self._delta(0, {REASONING: [item]}))
        elif kind in ("response.completed", "response.incomplete"):
            response = doc.get("response") or {}
            self._start(0, out)
            if response.get("usage"):
                self.usage = usage_from(response["usage"])
            self.usage.web_searches = max(len(self._searches), web_searches(response.get("output")))
            out.append(self._delta(0, {}, finish_reason(response, bool(self._calls))))
            self._usage_chunk(out)
            self.done = True
        elif kind == "response.failed":
            err = (doc.get("response") or {}).get("error") or {}
            raise StreamError(str(err.get("message") or "the upstream response failed"), err.get("code"))
        elif kind == "error":
            err = doc.get("error") if isinstance(doc.get("error"), dict) else doc
            raise StreamError(str(err.get("message") or "upstream stream error"), err.get("code"))
        return out

    def _text(self, key: str, text: Any, out: list[bytes]) -> None:
        if isinstance(text, str) and text:
            self._start(0, out)
            self._chars += len(text)
            if key == "content":
                self._content += len(text)
            out.append(self._delta(0, {key: text}))

    def _added(self, item: dict[str, Any], out: list[bytes]) -> None:
        kind = item.get("type")
        if kind not in ("function_call", "custom_tool_call"):
            return
        self._start(0, out)
        index = len(self._calls)
        self._calls[str(item.get("id"))] = index
        name = item.get("name") or ""
        self._chars += len(name)
        call = {"index": index, "id": item.get("call_id"), "type": "function", "function": {"name": name, "arguments": ""}}
        if kind == "custom_tool_call":
            call = {"index": index, "id": item.get("call_id"), "type": "custom", "custom": {"name": name, "input": ""}}
        out.append(self._delta(0, {"tool_calls": [call]}))

    def finish(self) -> list[bytes]:
        if not self.usage.reported and self._chars:
            self.usage.completion_tokens = estimate_tokens(self._chars)
        return []
