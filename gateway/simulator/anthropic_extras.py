"""Anthropic server tools in the simulator: the web search tool (`{"type": "web_search_20250305",
"name": "web_search"}`, or a later dated version), answered as the Messages API answers it.

When the request declares it and the answer is text (no custom tool called), Claude searches
once before answering: a `server_tool_use` block (id `srvtoolu_...`, input `{"query": ...}`, the
last user text's first words), a `web_search_tool_result` block holding two `web_search_result`s
(title, url, `encrypted_content`, `page_age`), then the answer's text block with one
`web_search_result_location` citation of the first result. The results are input: their tokens
are in `input_tokens`, and `usage.server_tool_use.web_search_requests` is 1. In a stream the
query arrives as `input_json_delta` fragments, the result block whole in its content_block_start,
and the text block starts with `"citations": []` and a `citations_delta` ahead of its text;
message_start's usage is the count before the search, message_delta's the final one, as the API
sends them. `max_uses: 0` turns the search off. Server tools are never called as custom tools.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from typing import Any

import orjson

from .core import Outcome
from .text import billed_prompt_tokens
from .wire import sse_event

WEB_SEARCH = re.compile(r"^web_search_\d{8}$")
PAGE_AGE = "June 2, 2026"


def custom(tool: Any) -> bool:
    """A client tool (Claude answers it with `tool_use`), not a server or Anthropic-defined one."""
    return isinstance(tool, dict) and tool.get("type", "custom") == "custom"


def _opaque(*parts: str) -> str:
    return base64.b64encode(hashlib.sha256("\x1f".join(parts).encode()).digest()).decode()


@dataclasses.dataclass(frozen=True, slots=True)
class Search:
    """One web search Claude ran before answering."""

    call_id: str
    query: str
    results: tuple[dict[str, Any], ...]
    tokens: int  # the results' input tokens

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return [{"type": "server_tool_use", "id": self.call_id, "name": "web_search", "input": {"query": self.query}},
                {"type": "web_search_tool_result", "tool_use_id": self.call_id, "content": list(self.results)}]

    def citation(self, text: str) -> dict[str, Any]:
        first = self.results[0]
        return {"type": "web_search_result_location", "cited_text": text[:150] or first["title"],
                "url": first["url"], "title": first["title"], "encrypted_index": _opaque("index", first["url"])}

    def usage(self) -> dict[str, int]:
        return {"web_search_requests": 1, "web_fetch_requests": 0}

    def events(self, at: int) -> list[tuple[bytes, int]]:
        """Blocks `at` (the call, its query in two fragments) and `at + 1` (the results)."""
        query = orjson.dumps({"query": self.query}).decode()
        half = len(query) // 2
        start = {"type": "server_tool_use", "id": self.call_id, "name": "web_search", "input": {}}
        out = [("content_block_start", {"type": "content_block_start", "index": at, "content_block": start})]
        for piece in ("", query[:half], query[half:]):
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": at}))
        result = self.blocks[1]
        out.append(("content_block_start", {"type": "content_block_start", "index": at + 1, "content_block": result}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": at + 1}))
        return [(sse_event(name, doc), 0) for name, doc in out]


def web_search(body: dict[str, Any], texts: list[str], out: Outcome, seed: int) -> tuple[Search | None, Outcome]:
    """The search a request with the web search tool gets (None: no tool, or a tool call answers),
    and the outcome with the results' tokens in the prompt."""
    tool = next((t for t in body.get("tools") or () if isinstance(t, dict) and WEB_SEARCH.match(str(t.get("type")))),
                None)
    if tool is None or tool.get("max_uses") == 0 or out.replies[0].tool_call is not None:
        return None, out
    query = " ".join((texts[-1] if texts else "").split()[:8]) or "news"
    words = query.title()
    results = tuple({"type": "web_search_result", "title": title, "url": url,
                     "encrypted_content": _opaque(str(seed), query, url), "page_age": PAGE_AGE}
                    for title, url in ((f"{words} - Example News", "https://example.com/a"),
                                       (f"About {words}", "https://example.org/b")))
    tokens = billed_prompt_tokens([orjson.dumps(r).decode() for r in results])
    call_id = "srvtoolu_" + hashlib.sha256(f"{seed}\x1f{query}".encode()).hexdigest()[:24]
    return Search(call_id, query, results, tokens), dataclasses.replace(out, prompt_tokens=out.prompt_tokens + tokens)
