"""How many server-side web searches a request may make, for its reservation.

A provider runs its web search tool as often as the model asks and bills each call on top of the
tokens (gateway.pricing.cost_micro), so the count is known only after the answer. Admit reserves
a bound instead, read from the client's own body (the tools only a deployment of its own format
sees, gateway.providers.base.NATIVE):

- Anthropic Messages: a `web_search_*` tool's `max_uses` (Anthropic enforces it), else
  `DEFAULT_SEARCHES`;
- OpenAI Responses: a `web_search*` tool bounded by the body's `max_tool_calls` (OpenAI enforces
  it, over every built-in tool), else `DEFAULT_SEARCHES`;
- Gemini: a `google_search` (or `googleSearch`, `google_search_retrieval`) tool: `DEFAULT_SEARCHES`
  (Gemini has no bound to ask for; Gemini 2.x bills one per prompt whatever the count).
- OpenAI chat's `web_search_options`, which each adapter turns into its provider's search
  (gateway/providers/search_options.py): `DEFAULT_SEARCHES`, the most any of them may run that the
  gateway bounds (Claude's `max_uses` is at most that, gateway.providers.anthropic.search); an
  OpenAI chat search model counts one per request at its price (`web_search_unit: request`).

A request that searches more than the bound is settled at what the provider reports, so a hard
budget can be passed by at most (searches - bound) x the price of one (docs/cost.md).
"""

from __future__ import annotations

from typing import Any

from gateway.providers.anthropic.search import MAX_USES
from gateway.providers.base import NATIVE
from gateway.providers.search_options import FIELD
from gateway.routing.needs import is_search_tool

DEFAULT_SEARCHES = 5  # reserved for a search tool with no bound the provider enforces
if max(MAX_USES.values()) > DEFAULT_SEARCHES:
    raise ImportError("a chat search on Claude (max_uses) may not run more searches than admit reserves")


def declared_searches(body: dict[str, Any]) -> int:
    """The web searches a canonical body may run: 0 when it asks for no search."""
    if body.get(FIELD) is not None:
        return max(DEFAULT_SEARCHES, _native(body))
    return _native(body)


def _native(body: dict[str, Any]) -> int:
    """The searches of the search tools in a client's own body (NATIVE)."""
    native = body.get(NATIVE)
    if not isinstance(native, dict) or not isinstance(native.get("body"), dict):
        return 0
    own = native["body"]
    tools = own.get("tools")
    if not isinstance(tools, list):
        return 0
    fmt = native.get("format")
    searching = [t for t in tools if is_search_tool(fmt, t)]  # the same rule routing reads (routing/needs.py)
    if not searching:
        return 0
    if fmt == "anthropic":
        return sum(_bound(t.get("max_uses")) for t in searching)
    if fmt == "openai_responses":
        return _bound(own.get("max_tool_calls"))
    return DEFAULT_SEARCHES  # gemini


def _bound(value: Any) -> int:
    """A client's bound when it is a whole number (0 turns the tool off), else the default."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return DEFAULT_SEARCHES
