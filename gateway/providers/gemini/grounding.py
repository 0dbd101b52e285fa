"""Web search between chat completions and Gemini: `web_search_options` → grounding with Google
Search, and a candidate's `groundingMetadata` → the message's `url_citation` annotations.

Request: a `{"googleSearch": {}}` tool (the camelCase the adapter writes every field in) beside
any `functionDeclarations` one. Google Search grounding takes neither a context size nor a
location (Vertex's `retrievalConfig.latLng` wants coordinates, not a city): both are dropped,
as the module docstring of `request.py` says.

Answer: `groundingSupports[]` tie a segment of the answer (`segment.startIndex` / `endIndex`,
UTF-8 byte offsets into the part `segment.partIndex` names; absent, into the answer's text, as
Google's own samples read them against `response.text`) to sources
(`groundingChunkIndices` → `groundingChunks[i].web.{uri, title}`). Each (support, source) pair
becomes one url_citation, its offsets turned into character indices of the candidate's joined
content. A stream's parts are split across chunks, and its grounding (in the candidate's last
chunk) counts into the whole text so far, as a whole answer of one text part does.

The search itself: each of `webSearchQueries` is one `web_search_call` item in the message's
`reasoning_items` (`search_options.search_call`), the way the canonical answer says a search ran;
in a stream they come with the grounding, after the text (Gemini says what it searched for only
on the candidate's last chunk).
"""

from __future__ import annotations

from typing import Any

from gateway.providers import search_options

SEARCH_TOOL = "googleSearch"


def search_tool() -> dict[str, Any]:
    """Gemini's Google Search grounding tool."""
    return {SEARCH_TOOL: {}}


def queries(meta: Any) -> list[str]:
    """The Google Search queries a candidate was grounded with, in order."""
    found = meta.get("webSearchQueries") if isinstance(meta, dict) else None
    return [str(q) for q in found if isinstance(q, str)] if isinstance(found, list) else []


def search_items(meta: Any) -> list[dict[str, Any]]:
    """One `web_search_call` item per search query of a candidate's grounding."""
    return [search_options.search_call(q) for q in queries(meta)]


def _chars(encoded: bytes, offset: Any) -> int | None:
    """The character index of byte `offset` of `encoded` (a cut inside a character counts it
    out); None for an offset that is not a whole number."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        return None
    offset = max(0, min(offset, len(encoded)))
    return len(encoded[:offset].decode("utf-8", errors="ignore"))


def annotations(meta: Any, parts: list[str | None]) -> list[dict[str, Any]]:
    """A candidate's grounding as chat url_citations. `parts`: its content's parts in order, each
    the text it adds to `content`, or None (a thought, a function call: not in it). A support
    naming a part not in the content, or citing no web source, gives none."""
    if not isinstance(meta, dict):
        return []
    chunks = meta.get("groundingChunks")
    supports = meta.get("groundingSupports")
    if not isinstance(chunks, list) or not isinstance(supports, list):
        return []
    encoded: list[bytes | None] = [p.encode() if p is not None else None for p in parts]
    starts = [0]  # each part's first character in the joined content
    for part in parts:
        starts.append(starts[-1] + len(part or ""))
    whole = "".join(p for p in parts if p is not None).encode()
    out: list[dict[str, Any]] = []
    for support in supports:
        segment = support.get("segment") if isinstance(support, dict) else None
        if not isinstance(segment, dict):
            continue
        index = segment.get("partIndex") or 0
        if index == 0:  # absent (proto3 JSON leaves out a 0): into the answer's text, as Google's samples read it
            text, base = whole, 0
        else:
            text = encoded[index] if isinstance(index, int) and 0 < index < len(parts) else None
            base = starts[index] if text is not None else 0
        if text is None:
            continue
        start = _chars(text, segment.get("startIndex") or 0)
        end = _chars(text, segment.get("endIndex"))
        if start is None or end is None or end < start:
            continue
        for i in support.get("groundingChunkIndices") or ():
            chunk = chunks[i] if isinstance(i, int) and 0 <= i < len(chunks) else None
            web = chunk.get("web") if isinstance(chunk, dict) else None
            if isinstance(web, dict) and web.get("uri"):
                out.append(search_options.url_citation(web["uri"], web.get("title"), base + start, base + end))
    return out
