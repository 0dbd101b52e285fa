"""Runtime API keys and teams in Redis: the typed calls of lua/key_write.lua and
lua/team_write.lua (each change audited in the same script), and the reads the admin API and
the per-worker key cache make. Records hold no secret: a key is stored as its SHA-256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.state.keys import Keys

AUDIT_MAXLEN = 100_000


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _decode(h: dict) -> dict[str, str]:
    return {_s(a): _s(b) for a, b in h.items()}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A runtime key as Redis holds it, parsed; `hash`/`old_hash` are hex SHA-256 digests."""

    id: str
    name: str
    version: int
    hash: str = field(repr=False)
    team: str = ""
    models: frozenset[str] = frozenset()
    rpm: int = 0
    tpm: int = 0
    daily_micro: int = 0
    monthly_micro: int = 0
    priority: str | None = None
    default_task: str | None = None
    expires_us: int = 0
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    revoked: bool = False
    created_us: int = 0
    updated_us: int = 0
    old_hash: str = field(default="", repr=False)
    old_until_us: int = 0
    guardrail: str | None = None  # a guardrail policy's name, "none", or None (its team's, route's, the default)

    @classmethod
    def parse(cls, key_id: str, h: dict[str, str]) -> "KeyRecord":
        def i(f: str) -> int:
            return int(h.get(f) or 0)

        return cls(id=key_id, name=h.get("name", ""), version=i("version"), hash=h.get("hash", ""),
                   team=h.get("team", ""), models=frozenset(m for m in h.get("models", "").split(",") if m),
                   rpm=i("rpm"), tpm=i("tpm"), daily_micro=i("daily_micro"), monthly_micro=i("monthly_micro"),
                   priority=h.get("priority") or None, default_task=h.get("default_task") or None,
                   expires_us=i("expires_us"), metadata=json.loads(h.get("metadata") or "{}"),
                   revoked=h.get("revoked") == "1", created_us=i("created_us"), updated_us=i("updated_us"),
                   old_hash=h.get("old_hash", ""), old_until_us=i("old_until_us"),
                   guardrail=h.get("guardrail") or None)


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: str          # ok | not_found | exists | revoked | no_team | retry | in_use
    version: int
    now_us: int


class Records:
    """The key and team records of one store (`scripts`, `client` and `keys` of a StateStore)."""

    def __init__(self, store: Any, audit_maxlen: int = AUDIT_MAXLEN) -> None:
        self.store = store
        self.k: Keys = store.keys
        self.audit_maxlen = audit_maxlen

    # ------------------------------------------------------------------ writes
    async def key_write(self, op: str, key_id: str, actor: str, fields: dict[str, str] | None = None,
                        new_hash: str = "-", grace_ms: int = 0) -> WriteResult:
        """One key change, retried while another change moved the key between teams meanwhile."""
        fields = fields or {}
        for _ in range(5):
            team = _s(await self.store.client.hget(self.k.key_record(key_id), "team") or "")
            new_team = fields.get("team", team)
            keys = [self.k.key_record(key_id), self.k.key_index(), self.k.key_list(), self.k.audit(),
                    self.k.team_record(team or "-"), self.k.team_record(new_team or "-")]
            args = [op, key_id, actor, str(self.audit_maxlen), new_hash, str(grace_ms), team or "-"]
            for f, v in fields.items():
                args += [f, v]
            r = await self.store.scripts.call("key_write", keys, args)
            res = WriteResult(_s(r[0]), int(r[1]), int(r[2]))
            if res.status != "retry":
                return res
        return res

    async def team_write(self, op: str, team: str, actor: str, fields: dict[str, str] | None = None) -> WriteResult:
        args = [op, team, actor, str(self.audit_maxlen)]
        for f, v in (fields or {}).items():
            args += [f, v]
        r = await self.store.scripts.call("team_write", [self.k.team_record(team), self.k.team_list(), self.k.audit()],
                                          args)
        return WriteResult(_s(r[0]), int(r[1]), int(r[2]))

    async def audit_append(self, op: str, actor: str, target: str, before: Any, after: Any) -> str:
        """One admin change no single script makes (a cache flush), as key_write's entries are;
        `before` and `after` are JSON-able. Returns the entry's id."""
        r = await self.store.scripts.call("audit_append", [self.k.audit()],
                                          [op, actor, target, json.dumps(before), json.dumps(after),
                                           str(self.audit_maxlen)])
        return _s(r[0])

    # ------------------------------------------------------------------ reads
    async def key_by_hash(self, digest_hex: str) -> KeyRecord | None:
        """The record a key's SHA-256 is indexed to (its current or its graced old hash)."""
        key_id = await self.store.client.hget(self.k.key_index(), digest_hex)
        if key_id is None:
            return None
        return await self.key(_s(key_id))

    async def key(self, key_id: str) -> KeyRecord | None:
        h = _decode(await self.store.client.hgetall(self.k.key_record(key_id)))
        return KeyRecord.parse(key_id, h) if h else None

    async def keys(self, key_ids: list[str]) -> list[KeyRecord]:
        """The records of `key_ids` that exist, in one round trip (a pipeline: they share a slot)."""
        return [KeyRecord.parse(i, h) for i, h in zip(key_ids, await self._hashes(
            [self.k.key_record(i) for i in key_ids])) if h]

    async def teams(self, teams: list[str]) -> list[tuple[str, dict[str, str]]]:
        """The records of `teams` that exist, in one round trip."""
        return [(t, h) for t, h in zip(teams, await self._hashes([self.k.team_record(t) for t in teams])) if h]

    async def _hashes(self, names: list[str]) -> list[dict[str, str]]:
        if not names:
            return []
        pipe = self.store.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(name)
        return [_decode(h) for h in await pipe.execute()]

    async def key_ids(self) -> list[str]:
        return [_s(x) for x in await self.store.client.zrange(self.k.key_list(), 0, -1)]

    async def team(self, team: str) -> dict[str, str] | None:
        h = _decode(await self.store.client.hgetall(self.k.team_record(team)))
        return h or None

    async def team_guardrail(self, team: str) -> str | None:
        """A team's guardrail policy (None: unset, or no such team)."""
        v = await self.store.client.hget(self.k.team_record(team), "guardrail")
        return (_s(v) or None) if v is not None else None

    async def team_ids(self) -> list[str]:
        return [_s(x) for x in await self.store.client.zrange(self.k.team_list(), 0, -1)]

    async def day_spend(self, day: str, fields: list[str]) -> list[int]:
        if not fields:
            return []
        return [int(v or 0) for v in await self.store.client.hmget(self.k.spend(day), fields)]

    async def month_spend(self, month: str, fields: list[str]) -> list[int]:
        if not fields:
            return []
        return [int(v or 0) for v in await self.store.client.hmget(self.k.spend_month(month), fields)]

    async def last_use(self, scope: str, ids: list[str]) -> list[int]:
        """When each key or team (`scope`) last settled a request, µs of the engine clock; 0 never."""
        if not ids:
            return []
        got = await self.store.client.hmget(self.k.last_use(), [f"{scope}:{i}" for i in ids])
        return [int(v or 0) for v in got]

    async def audit(self, count: int = 100, before: str = "+") -> list[dict[str, Any]]:
        """The newest audit entries first (`before`: an entry id, exclusive, to page back)."""
        end = before if before == "+" else f"({before}"
        out = []
        for entry_id, f in await self.store.client.xrevrange(self.k.audit(), end, "-", count=count):
            d = _decode(f)
            out.append({"id": _s(entry_id), "ts_us": int(d["ts_us"]), "actor": d["actor"], "op": d["op"],
                        "target": d["id"], "before": json.loads(d["before"]), "after": json.loads(d["after"])})
        return out
