"""`prompt_cache: auto` on a Converse body: `cachePoint` blocks where gateway/providers/
cache_marks.py says, for the models Bedrock caches prompts for (Claude; Amazon Nova, whose tools
take no cache point), unless the request carries cache points already (the client's own
`cache_control` hints, turned into points by `request.py`): then they are the plan.

The Converse body is the adapter's own (nothing in it is the client's object), so the points are
appended in place.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.bedrock.reasoning import caches, is_claude
from gateway.providers.cache_marks import message_marks


def _point() -> dict[str, Any]:
    return {"cachePoint": {"type": "default"}}


def has_points(body: dict[str, Any]) -> bool:
    lists = [(body.get("toolConfig") or {}).get("tools"), body.get("system")]
    lists += [m.get("content") for m in body.get("messages") or ()]
    return any(isinstance(b, dict) and "cachePoint" in b for items in lists if isinstance(items, list) for b in items)


def add_points(body: dict[str, Any], model_id: str) -> None:
    if not caches(model_id) or has_points(body):
        return
    tools = (body.get("toolConfig") or {}).get("tools")
    if tools and is_claude(model_id):
        tools.append(_point())
    if body.get("system"):
        body["system"].append(_point())
    messages = body.get("messages") or []
    for i in message_marks([m.get("role") for m in messages]):
        if messages[i].get("content"):
            messages[i]["content"].append(_point())
