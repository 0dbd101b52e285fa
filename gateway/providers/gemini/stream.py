"""Gemini `streamGenerateContent?alt=sse` chunks → OpenAI `chat.completion.chunk` frames.

Every chunk is written with `openai_side.ChunkWriter`; this module reads Gemini's chunks.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Deployment
from gateway.pricing import estimate_tokens
from gateway.providers.base import StreamError
from gateway.providers.gemini.grounding import annotations, queries, search_items
from gateway.providers.gemini.response import call_of, completion_id, finish_reason, search_queries, usage_from
from gateway.providers.openai_side import ChunkWriter, stream_object
from gateway.providers.search_options import ITEMS


class StreamDecoder(ChunkWriter):
    """Gemini SSE chunks (each a partial GenerateContentResponse) → OpenAI chunks.

    Every candidate gets a role chunk when it first appears; a function call (Gemini sends it
    whole) becomes an id+name delta then one arguments delta; a candidate's finishReason gives
    its finish chunk. The stream is done once every candidate seen has finished. A candidate's
    grounding (`groundingMetadata`, usually on its last chunk) becomes one delta's `annotations`
    over its text so far, before its finish chunk; a citation sent once is not sent again. Its
    search queries then become one delta's `reasoning_items` (`web_search_call` items), each once.
    """

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        super().__init__(dep, include_usage, None)
        self._rid: Any = None
        self._calls: dict[int, int] = {}
        self._finished: set[int] = set()
        self._searches: dict[int, int] = {}  # candidate → its grounding queries (the chunk that has them says all)
        self._texts: dict[int, list[str]] = {}  # candidate → its content so far, where grounding offsets count
        self._cited: dict[int, list[dict[str, Any]]] = {}  # candidate → the annotations already sent
        self._searched: dict[int, int] = {}  # candidate → how many of its search queries were sent as items

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        doc = stream_object(data, "stream chunk")
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
            queries = search_queries(cand)
            if queries:
                self._searches[index] = max(queries, self._searches.get(index, 0))
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    continue
                if part.get("text"):
                    self._chars += len(part["text"])
                    self._texts.setdefault(index, []).append(part["text"])
                    out.append(self._delta(index, {"content": part["text"]}))
                elif "functionCall" in part:
                    n = self._calls.get(index, 0)
                    self._calls[index] = n + 1
                    call = call_of(part, self._rid, index, n)
                    args = call["function"]["arguments"]
                    self._chars += len(args) + len(call["function"]["name"])
                    first = {"index": n, "id": call["id"], "type": "function",
                             "function": {"name": call["function"]["name"], "arguments": ""}}
                    if "extra_content" in call:
                        first["extra_content"] = call["extra_content"]
                    out.append(self._delta(index, {"tool_calls": [first]}))
                    out.append(self._delta(index, {"tool_calls": [{"index": n, "function": {"arguments": args}}]}))
            if cand.get("groundingMetadata"):
                self._cite(index, cand["groundingMetadata"], out)
                self._search_items(index, cand["groundingMetadata"], out)
            if cand.get("finishReason") and index not in self._finished:
                self._finished.add(index)
                out.append(self._delta(index, {}, finish_reason(cand["finishReason"], index in self._calls)))
        if not candidates and (doc.get("promptFeedback") or {}).get("blockReason"):
            self._start(0, out)
            self._finished.add(0)
            out.append(self._delta(0, {}, "content_filter"))
        if doc.get("usageMetadata"):
            self.usage = usage_from(doc["usageMetadata"])
        self.usage.web_searches = sum(self._searches.values())
        if self._finished and self._finished >= self._started:
            self.done = True
            self._usage_chunk(out)
        return out

    def _cite(self, index: int, meta: Any, out: list[bytes]) -> None:
        """The grounding's citations not sent yet, over the candidate's whole text so far."""
        sent = self._cited.setdefault(index, [])
        fresh = [a for a in annotations(meta, ["".join(self._texts.get(index, ()))]) if a not in sent]
        if fresh:
            sent.extend(fresh)
            out.append(self._delta(index, {"annotations": fresh}))

    def _search_items(self, index: int, meta: Any, out: list[bytes]) -> None:
        """The search items of the grounding's queries not sent yet (after its citations, so a
        Responses client gets them on the message they cite)."""
        sent = self._searched.get(index, 0)
        fresh = search_items({"webSearchQueries": queries(meta)[sent:]})
        if fresh:
            self._searched[index] = sent + len(fresh)
            out.append(self._delta(index, {ITEMS: fresh}))

    def finish(self) -> list[bytes]:
        if not self.usage.reported and self._chars:
            self.usage.completion_tokens = estimate_tokens(self._chars)
        return []
