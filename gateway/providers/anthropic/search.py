"""Web search between chat completions and Claude: `web_search_options` → Anthropic's web search
tool, and the cited text blocks of its answer → the message's `url_citation` annotations.

Request: `{"type": "web_search_20250305", "name": "web_search", "max_uses": n}` with the
location as Anthropic takes it (`{"type": "approximate", city, region, country, timezone}`).
`max_uses` comes from `search_context_size` (MAX_USES: low 1, medium or absent 3, high 5):
OpenAI's size says how much of the web the answer may read, and Claude reads more by searching
more often; Anthropic enforces the bound, and it never passes the reservation's
(gateway.pipeline.searches.DEFAULT_SEARCHES), so a budget holds.

Answer: Claude's text after a search comes in text blocks, each with the `citations` it rests
on (`web_search_result_location`: url, title, cited_text: the source's words, not the answer's).
Each such citation becomes one url_citation over its whole block within the joined `content`.
The `server_tool_use` / `web_search_tool_result` blocks have no chat form: each search (a
`web_search` call and its result) becomes one `web_search_call` item in the message's
`reasoning_items` (`search_options.search_call`; failed when the result is an error), the way the
canonical answer says a search ran.
"""

from __future__ import annotations

from typing import Any

from gateway.providers import search_options
from gateway.providers.search_options import SearchOptions

TOOL_TYPE = "web_search_20250305"
TOOL_NAME = "web_search"
MAX_USES = {"low": 1, "medium": 3, "high": 5}
DEFAULT_SIZE = "medium"  # OpenAI's default search_context_size
CITATION = "web_search_result_location"
RESULT = "web_search_tool_result"


def search_tool(options: SearchOptions) -> dict[str, Any]:
    """Anthropic's web search tool for a chat request's search options."""
    tool: dict[str, Any] = {"type": TOOL_TYPE, "name": TOOL_NAME,
                            "max_uses": MAX_USES[options.context_size or DEFAULT_SIZE]}
    if options.location:
        tool["user_location"] = {"type": "approximate", **options.location}
    return tool


def annotations(citations: Any, start: int, end: int) -> list[dict[str, Any]]:
    """A text block's web search citations as chat url_citations over content[start:end] (one per
    source: a block citing one page twice is one annotation); other citation kinds (a document's
    char or page locations) have no chat form."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cite in citations if isinstance(citations, list) else ():
        if not isinstance(cite, dict) or cite.get("type") != CITATION or not cite.get("url"):
            continue
        url = str(cite["url"])
        if url not in seen:
            seen.add(url)
            out.append(search_options.url_citation(url, cite.get("title"), start, end))
    return out


def is_search_call(block: Any) -> bool:
    """Whether a content block is Claude's call of the web search tool (not a web fetch)."""
    return isinstance(block, dict) and block.get("type") == "server_tool_use" and block.get("name") == TOOL_NAME


def search_item(query: Any, result: Any) -> dict[str, Any]:
    """The `web_search_call` item of one search, by its call's query and its result block."""
    content = result.get("content") if isinstance(result, dict) else None
    return search_options.search_call(query, failed=not isinstance(content, list))


def query_of(block: dict[str, Any]) -> Any:
    """A web search call's query (its `input.query`)."""
    given = block.get("input")
    return given.get("query") if isinstance(given, dict) else None
