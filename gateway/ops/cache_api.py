"""The response cache's admin API (docs/cache.md), what `gateway cache flush|stats` call:

    DELETE /admin/cache?scope=key&id=<key id or config key name> | scope=team&id=<team> | scope=all
    GET    /admin/cache

A flush needs a `write` admin key and is appended to the audit stream with what it dropped; the
stats need any admin key. Both walk the engine's keys (gateway/state/cache_admin.py: SCAN on
every master, O(keys)), so they are operator actions, never on a request's path.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import GatewayError, bad_request, shown
from gateway.ops.access import admin_only, admin_write
from gateway.ops.key_fields import KEY_ID, TEAM_ID
from gateway.pipeline.cache import file_key_scope, runtime_key_scope, scope_kind, team_scope
from gateway.pipeline.context import Gateway
from gateway.state.records import Records

FLUSH_SCOPES = ("key", "team", "all")
KINDS = ("key", "team", "global")
TOP = 10  # the scopes with the most entries, in the stats


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def _scopes(gw: Gateway, records: Records, scope: str, ident: str) -> frozenset[str]:
    """The entry scopes a flush of one key or one team drops. A key: its own entries (a runtime
    key by id, a config key by name). A team: its shared entries (cache scope `team`) and every
    entry of the keys it holds now (scope `key`)."""
    if scope == "key":
        out = set()
        if KEY_ID.match(ident):
            out.add(runtime_key_scope(ident))
        if any(k.name == ident for k in gw.config.keys):
            out.add(file_key_scope(ident))
        if not out:
            raise GatewayError(404, f"No key {shown(ident)}: give a runtime key's id (key_...) or the name of a key "
                               "in the config file.", "invalid_request_error", "not_found", "id")
        return frozenset(out)
    if not TEAM_ID.match(ident):
        raise bad_request(f"id must be a team id; got {shown(ident)}.", "id")
    members = [r.id for r in await records.keys(await records.key_ids()) if r.team == ident]
    return frozenset({team_scope(ident), *(runtime_key_scope(i) for i in members)})


async def flush(request: Request, gw: Gateway) -> Response:
    """Drop the entries of one key, one team or all, and say how many."""
    scope, ident = request.query_params.get("scope", ""), request.query_params.get("id", "")
    if scope not in FLUSH_SCOPES:
        raise bad_request(f"scope must be one of {list(FLUSH_SCOPES)}; got {shown(scope)}.", "scope")
    if (scope == "all") == bool(ident):
        raise bad_request("scope=all takes no id; scope=key and scope=team need one.", "id")
    records = Records(gw.state.store)
    scopes = None if scope == "all" else await _scopes(gw, records, scope, ident)
    dropped = await gw.state.ops.flush_cache(scopes)
    target = "all" if scope == "all" else f"{scope}:{ident}"
    after = {"scope": scope, "id": ident or None, "dropped": dropped}
    await records.audit_append("cache.flush", getattr(request.state, "actor", "admin"), target, None, after)
    return _json({"object": "cache.flush", **after})


async def stats(request: Request, gw: Gateway) -> Response:
    """Entries per scope kind (and the scopes with the most), counted by a walk over the keys,
    and this replica's hit/miss/skip counts (the /metrics counter, summed over its workers)."""
    per_scope = await gw.state.ops.cache_entries()
    entries = dict.fromkeys(KINDS, 0)
    for name, n in per_scope.items():
        kind = scope_kind(name)
        entries[kind] = entries.get(kind, 0) + n
    top = sorted(per_scope.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    counts = await gw.metrics_share.totals(gw.metrics.cache)
    cfg = gw.config.cache
    return _json({
        "object": "cache.stats", "enabled": cfg.enabled, "scope": cfg.scope, "ttl_s": cfg.ttl_s,
        "max_bytes": cfg.max_bytes, "entries": entries, "total": sum(per_scope.values()),
        "top_scopes": [{"scope": name, "entries": n} for name, n in top],
        "requests_this_replica": {r: int(counts.get((r,), 0)) for r in ("hit", "miss", "skip")},
    })


routes = [
    Route("/admin/cache", admin_write(flush), methods=["DELETE"]),
    Route("/admin/cache", admin_only(stats), methods=["GET"]),
]
