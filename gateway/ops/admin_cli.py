"""`gateway keys|teams|audit-log|cache`: the admin API from the command line.

They talk HTTP to a gateway (`--url`; default $GATEWAY_URL, else the running gateway found in its
data directory as `gateway status` finds it, else http://127.0.0.1:8080)
with the admin key from an environment variable ($GATEWAY_ADMIN_KEY, or the one `--admin-key-env`
names), never from an argument, so it stays out of shell history and process lists.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

LIMIT_FLAGS = (("--rpm", "rpm", int), ("--tpm", "tpm", int), ("--daily-budget-usd", "daily_budget_usd", float),
               ("--monthly-budget-usd", "monthly_budget_usd", float))


class ApiError(Exception):
    pass


def gateway_url(args: argparse.Namespace) -> str:
    if args.url or os.environ.get("GATEWAY_URL"):
        return args.url or os.environ["GATEWAY_URL"]
    from gateway.edge import runfile

    running = runfile.find(args.data_dir)
    return running.url if running is not None else "http://127.0.0.1:8080"


def call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    key = os.environ.get(args.admin_key_env)
    if not key:
        raise ApiError(f"set ${args.admin_key_env} to an admin key")
    data = json.dumps(body).encode() if body is not None else None
    url = gateway_url(args)
    req = urllib.request.Request(url.rstrip("/") + path, data, method=method,
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = err.reason
        raise ApiError(f"{err.code}: {message}") from None
    except OSError as err:
        raise ApiError(f"cannot reach {url}: {err}") from None


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _, name, _ in LIMIT_FLAGS:
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if getattr(args, "metadata", None) is not None:
        body["metadata"] = json.loads(args.metadata)
    if getattr(args, "guardrail", None) is not None:
        body["guardrail"] = args.guardrail or None  # '' clears it
    return body


def _key_body(args: argparse.Namespace) -> dict[str, Any]:
    body = _limits(args)
    for name in ("name", "team", "priority", "default_task", "expires_at"):
        if getattr(args, name, None) is not None:
            body[name] = getattr(args, name) or None
    if args.models is not None:
        body["models"] = [m for m in args.models.split(",") if m]
    return body


def _cell(value: Any) -> str:
    """A table cell: '-' for nothing, money as plain decimals (0.000018, not 1.8e-05)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)


AUDIT_BOOKKEEPING = ("version", "created_us", "updated_us")  # change with every entry: not news


def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What one audit entry changed, field by field as stored ('-': absent), for the table."""
    before, after = before or {}, after or {}
    return ", ".join(f"{k}: {before.get(k, '-')} -> {after.get(k, '-')}" for k in sorted(set(before) | set(after))
                     if k not in AUDIT_BOOKKEEPING and before.get(k) != after.get(k))


def audit_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit entries with their time (UTC, to the second) and their changes, for the table."""
    return [{**e, "time": datetime.fromtimestamp(e["ts_us"] / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "changes": audit_changes(e.get("before"), e.get("after"))} for e in entries]


def _table(rows: list[dict[str, Any]], cols: tuple[str, ...]) -> str:
    cells = [[str(c) for c in cols]] + [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


def _cache_call(args: argparse.Namespace) -> Any:
    if args.op == "stats":
        return call(args, "GET", "/admin/cache")
    if args.all:
        query = {"scope": "all"}
    else:
        query = {"scope": "key", "id": args.key} if args.key is not None else {"scope": "team", "id": args.team}
    return call(args, "DELETE", "/admin/cache?" + urllib.parse.urlencode(query))


def _show_cache(args: argparse.Namespace, out: dict[str, Any]) -> None:
    if args.op == "flush":
        what = "every entry" if out["scope"] == "all" else f"{out['scope']} {out['id']}"
        print(f"{out['dropped']} entries dropped ({what})")
        return
    entries = ", ".join(f"{kind} {n}" for kind, n in out["entries"].items())
    print(f"cache {'on' if out['enabled'] else 'off'} (scope {out['scope']}, ttl {out['ttl_s']} s): "
          f"{out['total']} entries ({entries})")
    reqs = out["requests_this_replica"]
    print(f"this replica since its start: {reqs['hit']} hits, {reqs['miss']} misses, {reqs['skip']} skipped")
    if out["top_scopes"]:
        print(_table(out["top_scopes"], ("scope", "entries")))


def run(args: argparse.Namespace) -> Any:
    what, op = args.what, getattr(args, "op", None)
    if what == "cache":
        return _cache_call(args)
    if what == "audit-log":
        q = f"?limit={args.limit}" + (f"&before={args.before}" if args.before else "")
        return call(args, "GET", f"/admin/audit{q}")
    base = "/admin/keys" if what == "keys" else "/admin/teams"
    if op == "list":
        q = ""
        if what == "keys":
            q = "?revoked=true" if args.revoked else ""
            if args.team:
                q += ("&" if q else "?") + f"team={args.team}"
        return call(args, "GET", base + q)
    if op == "create":
        body = _key_body(args) if what == "keys" else {"id": args.id, **_limits(args)}
        return call(args, "POST", base, body)
    if op == "show":
        return call(args, "GET", f"{base}/{args.id}")
    if op == "update":
        return call(args, "PATCH", f"{base}/{args.id}", _key_body(args) if what == "keys" else _limits(args))
    if op == "rotate":
        return call(args, "POST", f"{base}/{args.id}/rotate", {"grace_s": args.grace_s})
    return call(args, "DELETE", f"{base}/{args.id}")  # revoke / delete


def show(args: argparse.Namespace, out: Any) -> None:
    if args.what == "cache" and not args.json:
        _show_cache(args, out)
        return
    if args.json or not isinstance(out, dict) or out.get("object") != "list":
        print(json.dumps(out, indent=2))
        if isinstance(out, dict) and "key" in out:
            print("The key is shown once: store it now; only its hash is kept.", file=sys.stderr)
        return
    if args.what == "keys":
        cols: tuple[str, ...] = ("id", "name", "team", "rpm", "tpm", "daily_budget_usd", "spend_today_usd",
                                 "remaining_today_usd", "monthly_budget_usd", "spend_month_usd", "last_used_at",
                                 "revoked")
    elif args.what == "teams":
        cols = ("id", "keys", "rpm", "tpm", "daily_budget_usd", "spend_today_usd", "remaining_today_usd",
                "monthly_budget_usd", "spend_month_usd", "last_used_at")
    else:
        print(_table(audit_rows(out["data"]), ("id", "time", "actor", "op", "target", "changes")))
        return
    print(_table(out["data"], cols))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the gateway (default: $GATEWAY_URL, else the running gateway's, else "
                   "http://127.0.0.1:8080)")
    p.add_argument("--data-dir", help="the running gateway's data dir (default: as `gateway status` finds it)")
    p.add_argument("--admin-key-env", default="GATEWAY_ADMIN_KEY",
                   help="the environment variable holding the admin key (default: GATEWAY_ADMIN_KEY)")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


def _limit_args(p: argparse.ArgumentParser) -> None:
    for flag, name, kind in LIMIT_FLAGS:
        p.add_argument(flag, dest=name, type=kind)
    p.add_argument("--metadata", help="a JSON object")
    p.add_argument("--guardrail", help="a guardrail policy of the config, 'none' (no policy) or '' (unset: "
                   "the next level decides; docs/guardrails.md)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gateway", description="runtime keys, teams and their audit log; "
                                   "the response cache")
    sub = root.add_subparsers(dest="what", required=True)
    keys = sub.add_parser("keys", help="runtime API keys").add_subparsers(dest="op", required=True)
    teams = sub.add_parser("teams", help="teams and their shared limits").add_subparsers(dest="op", required=True)
    for op, help_ in (("create", "make a key (printed once)"), ("update", "change a key's settings")):
        p = keys.add_parser(op, help=help_)
        if op == "update":
            p.add_argument("id")
        p.add_argument("--name", required=op == "create")
        p.add_argument("--team", help="a team id ('' for none)")
        p.add_argument("--models", help="allowed models or routes, comma-separated")
        p.add_argument("--priority", choices=("", "low", "normal", "high", "critical"))
        p.add_argument("--default-task", dest="default_task")
        p.add_argument("--expires-at", dest="expires_at", help="ISO 8601 time")
        _limit_args(p)
    p = keys.add_parser("list", help="keys with today's and this month's spend")
    p.add_argument("--team")
    p.add_argument("--revoked", action="store_true", help="include revoked keys")
    for op in ("show", "revoke"):
        keys.add_parser(op).add_argument("id")
    p = keys.add_parser("rotate", help="a new key; the old one works for --grace-s more seconds")
    p.add_argument("id")
    p.add_argument("--grace-s", dest="grace_s", type=float, default=0.0)
    for op in ("create", "update"):
        p = teams.add_parser(op)
        p.add_argument("id")
        _limit_args(p)
    teams.add_parser("list")
    for op in ("show", "delete"):
        teams.add_parser(op).add_argument("id")
    p = sub.add_parser("audit-log", help="the newest admin changes first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--before", help="an entry id: older entries")
    cache = sub.add_parser("cache", help="the response cache (docs/cache.md)").add_subparsers(dest="op", required=True)
    p = cache.add_parser("flush", help="drop entries now (each flush is in the audit log); O(keys in Redis)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="one key's entries: a runtime key's id, or a config key's name")
    which.add_argument("--team", help="a team's shared entries and every entry of its keys")
    which.add_argument("--all", action="store_true", help="every entry")
    cache.add_parser("stats", help="entries per scope (a walk over Redis's keys) and this replica's hits")
    for action in (keys, teams, cache):
        for p in action.choices.values():
            _common(p)
    _common(sub.choices["audit-log"])
    return root


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        show(args, run(args))
    except ApiError as err:
        print(f"gateway: {err}", file=sys.stderr)
        return 1
    except json.JSONDecodeError:
        print("gateway: --metadata must be a JSON object", file=sys.stderr)
        return 2
    return 0
