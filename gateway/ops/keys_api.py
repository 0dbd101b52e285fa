"""The admin API for runtime keys and teams, and the audit stream:

    POST/GET /admin/keys, GET/PATCH/DELETE /admin/keys/{id}, POST /admin/keys/{id}/rotate,
    POST/GET /admin/teams, GET/PATCH/DELETE /admin/teams/{id}, GET /admin/audit

GETs need an admin key (any scope) or a dashboard session; changes need a `write` admin key
(403 otherwise); the doors are gateway/ops/access.py's. Each change is one script that also appends the audit entry, and binds every
replica by their next request (admit checks the key's version, and reads team limits live).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import GatewayError, bad_request
from gateway.ops.access import admin_only, admin_write
from gateway.ops.key_fields import KEY_ID, TEAM_ID, key_fields, key_view, new_key, parse_body, team_fields, team_view
from gateway.pipeline.context import Gateway
from gateway.state.keys import month_of
from gateway.state.records import Records, WriteResult

MAX_GRACE_S = 30 * 86_400


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _not_found(what: str, ident: str) -> GatewayError:
    return GatewayError(404, f"No {what} {ident!r}.", "invalid_request_error", "not_found")


def _conflict(message: str, code: str) -> GatewayError:
    return GatewayError(409, message, "invalid_request_error", code)


def _records(gw: Gateway) -> Records:
    return Records(gw.state.store)


def _actor(request: Request) -> str:
    return getattr(request.state, "actor", "admin")


async def _usage(gw: Gateway, records: Records, scope: str,
                 ids: list[str]) -> tuple[list[int], list[int], list[int]]:
    """(today's, this month's) spend plus open reservations per id, µ$, and each id's last use
    (µs, 0 never; settle notes it) (`scope`: key | team)."""
    day = gw.clock.day()
    fields = [f for i in ids for f in (f"cost:{scope}:{i}", f"reserved:{scope}:{i}")]
    if not fields:
        return [], [], []
    d = await records.day_spend(day, fields)
    m = await records.month_spend(month_of(day), fields)
    last = await records.last_use(scope, ids)
    return ([d[2 * i] + d[2 * i + 1] for i in range(len(ids))], [m[2 * i] + m[2 * i + 1] for i in range(len(ids))],
            last)


async def _answer(gw: Gateway, records: Records, what: str, ident: str, status: int = 200,
                  secret: str | None = None) -> Response:
    """A key's or team's view (`what`: key | team) with its spend and last use; 404 once gone."""
    rec = await (records.key(ident) if what == "key" else records.team(ident))
    if rec is None:
        raise _not_found(what, ident)
    day, month, last = await _usage(gw, records, what, [ident])
    if what == "team":
        return _json(team_view(ident, rec, day[0], month[0], last[0]), status)
    view = key_view(rec, day[0], month[0], last[0])
    if secret is not None:
        view["key"] = secret  # shown once: only its hash is stored
    return _json(view, status)


def _check(res: WriteResult, what: str, ident: str) -> None:
    if res.status == "ok":
        return
    if res.status == "not_found":
        raise _not_found(what, ident)
    if res.status == "no_team":
        raise bad_request("No such team: create it first (POST /admin/teams).", "team", "unknown_team")
    if res.status == "revoked":
        raise _conflict(f"Key {ident!r} is revoked; create a new one.", "key_revoked")
    if res.status == "in_use":
        raise _conflict(f"Team {ident!r} still has keys: move or revoke them first.", "team_in_use")
    if res.status == "exists":
        raise _conflict(f"{what.capitalize()} {ident!r} exists.", "already_exists")
    raise GatewayError(503, "The change raced with another; retry.", "api_error", "retry")


def _path_id(request: Request, what: str) -> str:
    """The key's or team's id in the path (`what`: key | team); one of a shape no id has is a
    404 like an unknown id (it cannot exist)."""
    param, pattern = ("key_id", KEY_ID) if what == "key" else ("team", TEAM_ID)
    ident = request.path_params[param]
    if not pattern.match(ident):
        raise _not_found(what, ident)
    return ident


async def _change(request: Request, gw: Gateway, what: str, op: str, ident: str, *args: Any,
                  status: int = 200, secret: str | None = None) -> Response:
    """One change to a key or team: its script (which also writes the audit entry), its refusal
    as the client's error, and the record as it now stands."""
    records = _records(gw)
    write = records.key_write if what == "key" else records.team_write
    _check(await write(op, ident, _actor(request), *args), what, ident)
    return await _answer(gw, records, what, ident, status, secret)


# --------------------------------------------------------------------------- keys
async def create_key(request: Request, gw: Gateway) -> Response:
    fields = key_fields(parse_body(await request.body()), gw.config, creating=True)
    key_id, secret = new_key()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return await _change(request, gw, "key", "create", key_id, fields, digest, status=201, secret=secret)


async def list_keys(request: Request, gw: Gateway) -> Response:
    records = _records(gw)
    recs = await records.keys(await records.key_ids())
    if request.query_params.get("revoked", "false") != "true":
        recs = [r for r in recs if not r.revoked]
    team = request.query_params.get("team")
    if team:
        recs = [r for r in recs if r.team == team]
    day, month, last = await _usage(gw, records, "key", [r.id for r in recs])
    return _json({"object": "list", "data": [key_view(*row) for row in zip(recs, day, month, last)]})


async def get_key(request: Request, gw: Gateway) -> Response:
    return await _answer(gw, _records(gw), "key", _path_id(request, "key"))


async def update_key(request: Request, gw: Gateway) -> Response:
    key_id = _path_id(request, "key")
    fields = key_fields(parse_body(await request.body()), gw.config, creating=False)
    return await _change(request, gw, "key", "update", key_id, fields)


async def rotate_key(request: Request, gw: Gateway) -> Response:
    key_id = _path_id(request, "key")
    body = parse_body(await request.body())
    grace = body.get("grace_s", 0)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 <= grace <= MAX_GRACE_S:
        raise bad_request(f"grace_s must be a number of seconds from 0 to {MAX_GRACE_S}.", "grace_s")
    _, secret = new_key()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return await _change(request, gw, "key", "rotate", key_id, None, digest, int(grace * 1000), secret=secret)


async def revoke_key(request: Request, gw: Gateway) -> Response:
    return await _change(request, gw, "key", "revoke", _path_id(request, "key"))


# --------------------------------------------------------------------------- teams
async def create_team(request: Request, gw: Gateway) -> Response:
    team, fields = team_fields(parse_body(await request.body()), gw.config, creating=True)
    return await _change(request, gw, "team", "create", team, fields, status=201)


async def list_teams(request: Request, gw: Gateway) -> Response:
    records = _records(gw)
    teams = await records.teams(await records.team_ids())
    day, month, last = await _usage(gw, records, "team", [t for t, _ in teams])
    return _json({"object": "list", "data": [team_view(t, h, d, m, u) for (t, h), d, m, u in
                                             zip(teams, day, month, last)]})


async def get_team(request: Request, gw: Gateway) -> Response:
    return await _answer(gw, _records(gw), "team", _path_id(request, "team"))


async def update_team(request: Request, gw: Gateway) -> Response:
    team = _path_id(request, "team")
    _, fields = team_fields(parse_body(await request.body()), gw.config, creating=False)
    return await _change(request, gw, "team", "update", team, fields)


async def delete_team(request: Request, gw: Gateway) -> Response:
    records, team = _records(gw), _path_id(request, "team")
    _check(await records.team_write("delete", team, _actor(request)), "team", team)
    return _json({"id": team, "object": "team", "deleted": True})


async def audit(request: Request, gw: Gateway) -> Response:
    """The newest changes first; `limit` (≤ 1000) and `before` (an entry id) page back."""
    records = _records(gw)
    try:
        limit = min(1000, max(1, int(request.query_params.get("limit", "100"))))
    except ValueError:
        raise bad_request("limit must be a whole number.", "limit") from None
    before = request.query_params.get("before", "+")
    if before != "+" and not all(p.isdigit() for p in before.split("-", 1)):
        raise bad_request("before must be an audit entry id.", "before")
    return _json({"object": "list", "data": await records.audit(limit, before)})


READS = {"keys": list_keys, "teams": list_teams}  # also the dashboard's panel, under /dashboard/api/

routes = [
    Route("/admin/keys", admin_write(create_key), methods=["POST"]),
    Route("/admin/keys", admin_only(list_keys), methods=["GET"]),
    Route("/admin/keys/{key_id}", admin_only(get_key), methods=["GET"]),
    Route("/admin/keys/{key_id}", admin_write(update_key), methods=["PATCH"]),
    Route("/admin/keys/{key_id}", admin_write(revoke_key), methods=["DELETE"]),
    Route("/admin/keys/{key_id}/rotate", admin_write(rotate_key), methods=["POST"]),
    Route("/admin/teams", admin_write(create_team), methods=["POST"]),
    Route("/admin/teams", admin_only(list_teams), methods=["GET"]),
    Route("/admin/teams/{team}", admin_only(get_team), methods=["GET"]),
    Route("/admin/teams/{team}", admin_write(update_team), methods=["PATCH"]),
    Route("/admin/teams/{team}", admin_write(delete_team), methods=["DELETE"]),
    Route("/admin/audit", admin_only(audit), methods=["GET"]),
]
