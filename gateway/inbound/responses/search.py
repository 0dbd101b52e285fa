"""A Responses request's hosted web search tool → the canonical `web_search_options`.

`{"type": "web_search"}` (also `web_search_preview` and their dated versions) asks the provider
to search, as chat's `web_search_options` does, which every adapter turns into its provider's
search (gateway/providers/search_options.py): so the tool searches on every provider, and
capability routing (`supports: [web_search]`), the search reservation and its price apply as for
a chat client. `search_context_size` passes; `user_location` (flat in the tool) takes chat's
nested shape (`{"type": "approximate", "approximate": {city, country, region, timezone}}`).
The first search tool counts; `external_web_access` has no canonical form and is dropped.

`filters.allowed_domains` has no place in chat's `web_search_options`, and Gemini's Google Search
has no such filter: a tool that restricts its domains keeps the request on the Responses
deployments (NATIVE `only`, read by the planner), which get the tool as the client sent it, rather
than search the whole web elsewhere. A `tool_choice` naming the search tool offers it as `auto`
does (no other provider can be made to search); naming it when `tools` has none is a 400, and
`tool_choice: "none"` asks for no search. A `format: openai_responses` deployment gets the
client's own tools and `tool_choice` (the native body) either way.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import bad_request, shown
from gateway.providers.search_options import CONTEXT_SIZES, LOCATION_FIELDS


def is_search(tool: Any) -> bool:
    """Whether a Responses tool (or a `tool_choice` object) names the hosted web search."""
    return isinstance(tool, dict) and isinstance(tool.get("type"), str) and tool["type"].startswith("web_search")


def hosted_search(tools: list[Any], choice: Any) -> dict[str, Any] | None:
    """The canonical `web_search_options` of the search the request's tools offer (None: no
    search tool, or `tool_choice` is "none"); a 400 naming the field for a shape the Responses API
    refuses."""
    found = next(((i, t) for i, t in enumerate(tools) if is_search(t)), None)
    if found is None:
        if is_search(choice):
            raise bad_request(f"'tool_choice' names the {shown(choice['type'])} tool, but 'tools' offers no web "
                              "search tool.", "tool_choice", "unsupported_value")
        return None
    if choice == "none":
        return None
    i, tool = found
    where = f"tools[{i}]"
    options: dict[str, Any] = {}
    size = tool.get("search_context_size")
    if size is not None:
        if size not in CONTEXT_SIZES:
            raise bad_request(f"'{where}.search_context_size' must be one of {', '.join(CONTEXT_SIZES)}; got "
                              f"{shown(size)}.", f"{where}.search_context_size")
        options["search_context_size"] = size
    near = _location(tool.get("user_location"), f"{where}.user_location")
    if near:
        options["user_location"] = {"type": "approximate", "approximate": near}
    _domains(tool.get("filters"), f"{where}.filters")
    return options


def domain_filter(tools: Any) -> str | None:
    """The field of the search tool's domain restriction, which keeps the request on Responses
    deployments (NATIVE `only`); None when it has none. For tools `hosted_search` has read."""
    found = next(((i, t) for i, t in enumerate(tools) if is_search(t)), None) if isinstance(tools, list) else None
    return _domains(found[1].get("filters"), f"tools[{found[0]}].filters") if found is not None else None


def _location(place: Any, where: str) -> dict[str, str]:
    """The flat approximate location's given fields."""
    if place is None:
        return {}
    if not isinstance(place, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    near = {}
    for name in LOCATION_FIELDS:
        value = place.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"'{where}.{name}' must be a string.", f"{where}.{name}")
        if value:
            near[name] = value
    return near


def _domains(filters: Any, where: str) -> str | None:
    """The field naming a domain restriction (for NATIVE `only`), None when there is none."""
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    domains = filters.get("allowed_domains")
    if domains is None:
        return None
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise bad_request(f"'{where}.allowed_domains' must be an array of strings.", f"{where}.allowed_domains")
    return f"{where}.allowed_domains" if domains else None
