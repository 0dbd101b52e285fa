"""The admin API's bodies for keys and teams, checked and turned into record fields (strings,
as lua/key_write.lua and lua/team_write.lua store them), and the records turned back into the
answers. An answer never holds a key or its hash; the plain key is shown once, by the call that
made it.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from typing import Any

import orjson

from gateway.config import PRIORITIES, TASKS, Config
from gateway.errors import bad_request
from gateway.guard.policy import OFF
from gateway.state.records import KeyRecord

TEAM_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")
METADATA_LIMIT = 4096
LIMITS = (("rpm", "rpm"), ("tpm", "tpm"), ("daily_budget_usd", "daily_micro"),
          ("monthly_budget_usd", "monthly_micro"))


def new_key() -> tuple[str, str]:
    """(id, secret): the id names the key everywhere (counters, logs, audit); the secret is shown once."""
    return "key_" + secrets.token_hex(8), "sk-gw-" + secrets.token_urlsafe(32)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    return body


def _limits(body: dict[str, Any], out: dict[str, str]) -> None:
    for name, field in LIMITS:
        if name not in body:
            continue
        v = body[name]
        if v is None:
            v = 0
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v > 1e9:
            raise bad_request(f"{name} must be a number from 0 (no limit) to 1e9.", name)
        if field in ("rpm", "tpm") and v != int(v):
            raise bad_request(f"{name} must be a whole number.", name)
        out[field] = str(round(v * 1_000_000) if field.endswith("_micro") else int(v))


def _metadata(body: dict[str, Any], out: dict[str, str]) -> None:
    if "metadata" in body:
        meta = body["metadata"] if body["metadata"] is not None else {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be a JSON object.", "metadata")
        text = orjson.dumps(meta).decode()
        if len(text) > METADATA_LIMIT:
            raise bad_request(f"metadata is over {METADATA_LIMIT} bytes as JSON.", "metadata")
        out["metadata"] = text


def _guardrail(body: dict[str, Any], config: Config, out: dict[str, str]) -> None:
    """`guardrail`: a policy of the config's `guardrails`, `none` (no policy), or null (unset: the
    next level decides); a name the config does not define is refused now, not at the next request."""
    if "guardrail" not in body:
        return
    v = body["guardrail"] or ""
    if not isinstance(v, str) or (v and v != OFF and v not in config.guardrails):
        raise bad_request(f"guardrail must be one of the config's policies {sorted(config.guardrails)}, "
                          f"'none' or null.", "guardrail", "unknown_guardrail")
    out["guardrail"] = v


def key_fields(body: dict[str, Any], config: Config, creating: bool) -> dict[str, str]:
    known = {"name", "team", "models", "priority", "default_task", "expires_at", "metadata", "guardrail",
             *(n for n, _ in LIMITS)}
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(f"Unknown field {unknown[0]!r}; known: {sorted(known)}.", unknown[0])
    out: dict[str, str] = {}
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise bad_request("name must be a non-empty string of at most 128 characters.", "name")
        if any(k.name == name for k in config.keys):
            raise bad_request(f"The config file has a key named {name!r}: the file wins, choose another name.",
                              "name", "name_taken")
        out["name"] = name
    if "team" in body:
        team = body["team"] or ""
        if not isinstance(team, str) or (team and not TEAM_ID.match(team)):
            raise bad_request("team must be a team id (letters, digits, _ . -) or null.", "team")
        out["team"] = team
    if "models" in body:
        models = body["models"] or []
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise bad_request("models must be a list of model, pool or route names.", "models")
        for m in models:
            if m not in config.deployments and m not in config.routes and m not in config.pools:
                raise bad_request(f"Unknown model, pool or route {m!r}.", "models")
        out["models"] = ",".join(models)
    for name, choices in (("priority", PRIORITIES), ("default_task", TASKS)):
        if name in body:
            v = body[name] or ""
            if v and v not in choices:
                raise bad_request(f"{name} must be one of {list(choices)} or null.", name)
            out[name] = v
    if "expires_at" in body:
        out["expires_us"] = str(_time_us(body["expires_at"]))
    _limits(body, out)
    _metadata(body, out)
    _guardrail(body, config, out)
    return out


def team_fields(body: dict[str, Any], config: Config, creating: bool) -> tuple[str, dict[str, str]]:
    known = {"id", "metadata", "guardrail", *(n for n, _ in LIMITS)}
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(f"Unknown field {unknown[0]!r}; known: {sorted(known)}.", unknown[0])
    team = body.get("id", "")
    if creating and (not isinstance(team, str) or not TEAM_ID.match(team)):
        raise bad_request("id must be 1-64 letters, digits, '_', '.' or '-'.", "id")
    out: dict[str, str] = {}
    _limits(body, out)
    _metadata(body, out)
    _guardrail(body, config, out)
    return team, out


def _time_us(v: Any) -> int:
    """expires_at: an ISO 8601 time (a naive one is UTC), Unix seconds, or null (never)."""
    if v is None:
        return 0
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return int(v * 1_000_000)
    if isinstance(v, str):
        try:
            t = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if t.tzinfo is None:
                t = t.replace(tzinfo=timezone.utc)
            return int(t.timestamp() * 1_000_000)
    raise bad_request("expires_at must be an ISO 8601 time, Unix seconds or null.", "expires_at")


def _iso(us: int) -> str | None:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat().replace("+00:00", "Z") if us else None


def remaining(limit_micro: int, used_micro: int) -> float | None:
    return None if not limit_micro else max(0, limit_micro - used_micro) / 1e6


def key_view(rec: KeyRecord, day_used: int = 0, month_used: int = 0, last_us: int = 0) -> dict[str, Any]:
    """A key as the admin API shows it: no secret, no hash; spend and what is left today and
    this month (spend includes open reservations); when it last settled a request."""
    return {
        "id": rec.id, "object": "api_key", "name": rec.name, "team": rec.team or None,
        "models": sorted(rec.models), "rpm": rec.rpm, "tpm": rec.tpm,
        "daily_budget_usd": rec.daily_micro / 1e6, "monthly_budget_usd": rec.monthly_micro / 1e6,
        "priority": rec.priority, "default_task": rec.default_task, "expires_at": _iso(rec.expires_us),
        "metadata": rec.metadata, "guardrail": rec.guardrail, "version": rec.version, "revoked": rec.revoked,
        "created_at": _iso(rec.created_us), "updated_at": _iso(rec.updated_us),
        "previous_key_valid_until": _iso(rec.old_until_us) if rec.old_hash else None,
        "spend_today_usd": day_used / 1e6, "spend_month_usd": month_used / 1e6,
        "remaining_today_usd": remaining(rec.daily_micro, day_used),
        "remaining_month_usd": remaining(rec.monthly_micro, month_used), "last_used_at": _iso(last_us),
    }


def team_view(team: str, h: dict[str, str], day_used: int = 0, month_used: int = 0,
              last_us: int = 0) -> dict[str, Any]:
    daily, monthly = int(h.get("daily_micro") or 0), int(h.get("monthly_micro") or 0)
    return {
        "id": team, "object": "team", "rpm": int(h.get("rpm") or 0), "tpm": int(h.get("tpm") or 0),
        "daily_budget_usd": daily / 1e6, "monthly_budget_usd": monthly / 1e6, "keys": int(h.get("keys") or 0),
        "metadata": orjson.loads(h.get("metadata") or "{}"), "guardrail": h.get("guardrail") or None,
        "version": int(h.get("version") or 0),
        "created_at": _iso(int(h.get("created_us") or 0)), "updated_at": _iso(int(h.get("updated_us") or 0)),
        "spend_today_usd": day_used / 1e6, "spend_month_usd": month_used / 1e6,
        "remaining_today_usd": remaining(daily, day_used), "remaining_month_usd": remaining(monthly, month_used),
        "last_used_at": _iso(last_us),
    }
