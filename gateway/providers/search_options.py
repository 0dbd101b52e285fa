"""OpenAI chat's web search request (`web_search_options`) as every adapter reads it, and the chat
form of the citations a search answer carries.

A chat client asks for a search with `web_search_options: {"search_context_size": "low" |
"medium" | "high", "user_location": {"type": "approximate", "approximate": {"city", "country",
"region", "timezone"}}}` (both optional); the answer cites its sources on the message's
`annotations`: `{"type": "url_citation", "url_citation": {"url", "title", "start_index",
"end_index"}}`, indices into `content` (characters). OpenAI's own chat models read the field as
it is (`format: openai`/`azure`); each other adapter turns it into its provider's search tool and
that provider's citations back into this form (`gateway/providers/<format>/`), so a client with
`model="auto"` gets a search on whichever provider serves it.

Chat has no form for the search itself, so the canonical message says which searches ran the way
a `format: openai_responses` answer already does: one Responses API `web_search_call` item per
search (`search_call`, status completed or failed, `action: {"type": "search", "query"}`) in its
`reasoning_items` extension field (ITEMS), whole, in a stream once the search is done. The
Responses inbound shows them to its client as output items; a chat client sees the field as it
is. Their ids start with OWN_ID, so the gateway never sends one of its own items to the Responses
API, which did not run that search (`is_ours`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gateway.errors import bad_request, shown
from gateway.providers.base import as_object

FIELD = "web_search_options"
CONTEXT_SIZES = ("low", "medium", "high")
LOCATION_FIELDS = ("city", "country", "region", "timezone")
ITEMS = "reasoning_items"  # the assistant message's Responses items (openai_responses.request.REASONING)
SEARCH_ITEM = "web_search_call"
OWN_ID = "ws_gw_"  # the ids of the search items the gateway writes (the Responses API's are ws_ and hex)


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """What a chat request asked of its search: `context_size` None when not given (OpenAI's
    default is medium); `location` the approximate location's given fields, flat."""

    context_size: str | None = None
    location: dict[str, str] | None = None


def read(chat: dict[str, Any]) -> SearchOptions | None:
    """The request's search options (None: it asks for no search); a 400 naming the field for a
    shape OpenAI would refuse, so every provider refuses the same requests."""
    if chat.get(FIELD) is None:
        return None
    options = as_object(chat[FIELD], FIELD)
    size = options.get("search_context_size")
    if size is not None and size not in CONTEXT_SIZES:
        raise bad_request(f"'{FIELD}.search_context_size' must be one of {', '.join(CONTEXT_SIZES)}; "
                          f"got {shown(size)}.", f"{FIELD}.search_context_size")
    where = f"{FIELD}.user_location"
    place = as_object(options.get("user_location"), where)
    near = as_object(place.get("approximate"), f"{where}.approximate")
    location = {k: v for k, v in near.items() if k in LOCATION_FIELDS and isinstance(v, str) and v}
    return SearchOptions(size, location or None)


def url_citation(url: Any, title: Any, start: int, end: int) -> dict[str, Any]:
    """One canonical (chat) citation of `url` over content[start:end]."""
    return {"type": "url_citation", "url_citation": {"url": str(url or ""), "title": str(title or ""),
                                                     "start_index": start, "end_index": end}}


def search_call(query: Any, failed: bool = False) -> dict[str, Any]:
    """The Responses API item of one search a provider ran (the gateway's id: OWN_ID)."""
    return {"id": OWN_ID + os.urandom(12).hex(), "type": SEARCH_ITEM, "status": "failed" if failed else "completed",
            "action": {"type": "search", "query": str(query or "")}}


def is_ours(item: Any) -> bool:
    """Whether `item` is a search item the gateway wrote (for no Responses API: it ran no such search)."""
    return (isinstance(item, dict) and item.get("type") == SEARCH_ITEM and isinstance(item.get("id"), str)
            and item["id"].startswith(OWN_ID))
