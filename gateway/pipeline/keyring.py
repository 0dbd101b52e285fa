"""Step 1, auth: the gateway key, from the config file or from Redis (runtime keys).

A key of the config file is found in memory (`gateway.auth.Authenticator`). Any other key is
hashed and looked up in Redis once: hash -> id -> record (gateway/state/records.py), and the
answer cached per worker by digest, so a busy key costs no round trip (and the first requests
of a key, arriving together, share one lookup). A digest Redis does not know is remembered for
`MISS_TTL_S`, so a stream of guesses costs one lookup per guess per second at most, never one
per request. The cached record carries its version: admit compares
it with Redis's and answers `stale` after any change (the worker refetches here) or
`key_revoked`; no extra round trip on the hot path, and every replica obeys a change by the
next request. Keys are never logged; digests are compared in constant time.

With guardrails on, a runtime key's team's `guardrail` is read with the key and kept per worker
(`team_guardrails`, which gateway.guard.apply reads); it is read again in the background once it
is `TEAM_TTL_S` old, so a team's new policy binds every worker within that time, with no round
trip on the request's path after the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any, Mapping

from gateway.auth import INVALID_KEY, Authenticator, missing_key, presented_key
from gateway.config import ApiKey
from gateway.errors import GatewayError, unauthorized, upstream_failed
from gateway.state.records import KeyRecord, Records

MISS_TTL_S = 1.0
CACHE_LIMIT = 10_000
TEAM_TTL_S = 5.0


def api_key(rec: KeyRecord, digest: bytes) -> ApiKey | None:
    """The pipeline's view of a runtime key presented as `digest`, or None if that digest does
    not open it (revoked, expired, or a rotated-away secret past its grace, by the local clock;
    admit checks the same on the engine's clock)."""
    now_us = time.time_ns() // 1000
    if rec.revoked or (rec.expires_us and now_us >= rec.expires_us):
        return None
    hex_digest = digest.hex()
    if hmac.compare_digest(rec.hash, hex_digest):
        old = False
    elif rec.old_hash and hmac.compare_digest(rec.old_hash, hex_digest) and now_us < rec.old_until_us:
        old = True
    else:
        return None
    return ApiKey(name=rec.id, sha256=digest, rpm=rec.rpm, tpm=rec.tpm, daily_budget_micro=rec.daily_micro,
                  allowed_models=rec.models, priority=rec.priority, default_task=rec.default_task, key_id=rec.id,
                  version=rec.version, old=old, team=rec.team, monthly_budget_micro=rec.monthly_micro,
                  label=rec.name, guardrail=rec.guardrail)


class Keyring:
    def __init__(self, auth: Authenticator, state: Any) -> None:
        self.auth = auth
        self.state = state                      # the GuardedState: its store holds the records
        self._runtime: dict[bytes, ApiKey] = {}  # digest -> key
        self._miss: dict[bytes, float] = {}     # digest -> monotonic time the miss expires
        self._lookups: dict[bytes, asyncio.Future[KeyRecord | None]] = {}  # digest -> its lookup in flight
        self.teams = False  # guardrails are on: keep the teams' policies (`team_guardrails`)
        self.team_guardrails: dict[str, str | None] = {}  # team -> its guardrail policy's name (None: unset)
        self._team_read: dict[str, float] = {}  # team -> the monotonic time its policy was (last asked to be) read
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def records(self) -> Records:
        return Records(self.state.store)

    async def authenticate(self, headers: Mapping[str, str], api: str = "") -> ApiKey:
        """The key a request presents (any accepted header, gateway.auth.presented_key), or a
        401 (503 if only Redis could tell); `api` (the inbound's name) picks the header a missing
        key is told to come in."""
        token = presented_key(headers)
        if token is None:
            raise missing_key(api)
        try:
            return self.auth.key_for(token)
        except GatewayError:
            pass
        digest = hashlib.sha256(token.encode()).digest()
        key = self._runtime.get(digest)
        if key is not None:
            if self.teams and key.team:
                await self._team(key.team)
            return key
        if self._miss.get(digest, 0.0) > time.monotonic():
            raise unauthorized(INVALID_KEY)
        try:
            rec = await self._lookup(digest)
        except Exception:  # Redis away: a key not cached here cannot be checked
            raise upstream_failed(503, "The gateway's shared state is unreachable, so this API key cannot be "
                                       "checked. Retry shortly.", "state_unavailable") from None
        key = api_key(rec, digest) if rec is not None else None
        if key is None:
            self._remember_miss(digest)
            raise unauthorized(INVALID_KEY)
        self._cache(digest, key)
        if self.teams and key.team:
            await self._team(key.team)
        return key

    async def _team(self, team: str) -> None:
        """The team's guardrail policy known here: read now the first time, in the background
        once it is TEAM_TTL_S old."""
        read = self._team_read.get(team)
        now = time.monotonic()
        if read is not None and now - read < TEAM_TTL_S:
            return
        self._team_read[team] = now  # one read at a time
        if read is None:
            await self._read_team(team)
        else:
            task = asyncio.get_running_loop().create_task(self._read_team(team))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read_team(self, team: str) -> None:
        try:
            guardrail = await self.records.team_guardrail(team)
        except Exception:  # Redis away: what was known stays, read again after TEAM_TTL_S
            return
        if len(self.team_guardrails) >= CACHE_LIMIT:
            self.team_guardrails.clear()
            self._team_read = {team: self._team_read.get(team, 0.0)}
        self.team_guardrails[team] = guardrail

    async def _lookup(self, digest: bytes) -> KeyRecord | None:
        """One lookup per digest at a time: the requests that present a key this worker has not
        cached yet (a cold worker at c=64: dozens at once) share the first one's round trips."""
        pending = self._lookups.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self.records.key_by_hash(digest.hex()))
            self._lookups[digest] = pending
            pending.add_done_callback(lambda done: self._lookup_done(digest, done))
        return await asyncio.shield(pending)  # one caller's cancel leaves the others' lookup running

    def _lookup_done(self, digest: bytes, done: asyncio.Future[KeyRecord | None]) -> None:
        if self._lookups.get(digest) is done:
            del self._lookups[digest]
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter has gone

    async def by_owner(self, owner: str) -> ApiKey | None:
        """The key a batch was created with, from what the batch stored (`owner_of`): a config
        key by name, a runtime key by id, with its current secret's digest (no secret is ever
        stored); None once it no longer opens (gone from the config, revoked, expired)."""
        kind, _, name = owner.partition(":")
        if kind == "cfg":
            return self.auth.named(name)
        rec = await self.records.key(name) if kind == "rt" else None
        return api_key(rec, bytes.fromhex(rec.hash)) if rec is not None and rec.hash else None

    async def refresh(self, key: ApiKey) -> ApiKey | None:
        """After admit said `stale`: the key's record again; None if it no longer opens."""
        rec = await self.records.key(key.key_id)
        fresh = api_key(rec, key.sha256) if rec is not None else None
        if fresh is None:
            self.forget(key)
        else:
            self._cache(key.sha256, fresh)
        return fresh

    def forget(self, key: ApiKey) -> None:
        """After admit said `key_revoked`: the digest is a miss from now on."""
        self._runtime.pop(key.sha256, None)
        self._remember_miss(key.sha256)

    def _cache(self, digest: bytes, key: ApiKey) -> None:
        if len(self._runtime) >= CACHE_LIMIT:
            self._runtime.clear()
        self._runtime[digest] = key

    def _remember_miss(self, digest: bytes) -> None:
        if len(self._miss) >= CACHE_LIMIT:
            now = time.monotonic()
            self._miss = {d: t for d, t in self._miss.items() if t > now}
            if len(self._miss) >= CACHE_LIMIT:
                self._miss.clear()
        self._miss[digest] = time.monotonic() + MISS_TTL_S


def owner_of(key: ApiKey) -> str:
    """What a batch or a file stores of the key that made it: `cfg:<name>` for a key of the
    config file, `rt:<id>` for a runtime key (two namespaces: a file key may be named like an id)."""
    return f"rt:{key.key_id}" if key.key_id != "-" else f"cfg:{key.name}"
