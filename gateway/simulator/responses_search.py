"""The Responses API's hosted web search tool in the simulator (`{"type": "web_search"}`,
`web_search_preview`, or a dated version of either), answered as the API answers it.

When the request offers it and the answer is text (no function or custom tool called), the model
searches once before answering: a `web_search_call` item (id `ws_...`, status `completed`,
`action: {"type": "search", "query": ...}`, the last input text's first words; the action's
`sources` only when `include` has "web_search_call.action.sources"), then the message, whose
`output_text` part carries one `url_citation` annotation of the first source over the answer's
first sentence. The results are input: their tokens are in `input_tokens`. A stream sends the
call's `output_item.added` (in progress), `web_search_call.in_progress`, `.searching`,
`.completed`, its `output_item.done`, and after the text's deltas one
`output_text.annotation.added`, as the API does. A `web_search_call` item sent back in `input`
is accepted (its query counts as prompt text).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable

from .core import Outcome
from .text import billed_prompt_tokens

INCLUDE_SOURCES = "web_search_call.action.sources"


def offered(body: dict[str, Any]) -> bool:
    return any(isinstance(t, dict) and str(t.get("type", "")).startswith("web_search") for t in body.get("tools") or ())


@dataclasses.dataclass(frozen=True, slots=True)
class WebSearch:
    """One search the model ran before answering."""

    item_id: str
    query: str
    sources: tuple[tuple[str, str], ...]  # (title, url)
    with_sources: bool

    def item(self, status: str = "completed") -> dict[str, Any]:
        action: dict[str, Any] = {"type": "search", "query": self.query}
        if self.with_sources and status == "completed":
            action["sources"] = [{"type": "url", "url": url} for _, url in self.sources]
        return {"id": self.item_id, "type": "web_search_call", "status": status, "action": action}

    def citation(self, text: str) -> dict[str, Any]:
        """The first source, cited over the answer's first sentence."""
        end = text.find(".") + 1 or len(text)
        title, url = self.sources[0]
        return {"type": "url_citation", "start_index": 0, "end_index": end, "title": title, "url": url}

    def events(self, event: Callable[..., tuple[bytes, int]], index: int) -> list[tuple[bytes, int]]:
        at = {"item_id": self.item_id, "output_index": index}
        return [event("response.output_item.added", output_index=index, item=self.item("in_progress")),
                event("response.web_search_call.in_progress", **at),
                event("response.web_search_call.searching", **at),
                event("response.web_search_call.completed", **at),
                event("response.output_item.done", output_index=index, item=self.item())]


def web_search(body: dict[str, Any], texts: list[str], out: Outcome, rid: str) -> tuple[WebSearch | None, Outcome]:
    """The search a request with the tool gets (None: no tool, or a tool call answers), and the
    outcome with the results' tokens in the prompt."""
    if not offered(body) or out.replies[0].tool_call is not None:
        return None, out
    query = " ".join((texts[-1] if texts else "").split()[:8]) or "news"
    words = query.title()
    sources = ((f"{words} - Example News", "https://example.com/a"), (f"About {words}", "https://example.org/b"))
    tokens = billed_prompt_tokens([f"{title} {url}" for title, url in sources])
    item_id = "ws_" + hashlib.sha256(f"{rid}\x1f{query}".encode()).hexdigest()[:24]
    search = WebSearch(item_id, query, sources, INCLUDE_SOURCES in (body.get("include") or ()))
    return search, dataclasses.replace(out, prompt_tokens=out.prompt_tokens + tokens)
