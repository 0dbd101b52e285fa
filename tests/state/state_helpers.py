"""Builders for admit/settle requests used across the state tests, and what the property tests
that check the scripts against their Python reference model share."""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import fakeredis
from hypothesis import HealthCheck, Phase

from gateway.state.store import AdmitRequest, BreakerParams, Candidate, SettleRequest, StateStore

DAY = "2026-11-30"


def rid() -> str:
    return uuid.uuid4().hex[:12]


def cand(dep: str = "d1", rpm: int = 0, tpm: int = 0, cost: int = 100, **bp) -> Candidate:
    return Candidate(dep, rpm, tpm, cost, BreakerParams(**bp))


def admit_req(req_id: str | None = None, key: str = "demo", key_rpm: int = 0, key_tpm: int = 0,
              key_budget: int = 0, global_budget: int = 0, est: int = 0, cands=None, failed=(),
              ttl_ms: int = 600_000, day: str = DAY) -> AdmitRequest:
    return AdmitRequest(req_id or rid(), key, key_rpm, key_tpm, key_budget, global_budget, day, est,
                        tuple(cands or (cand(),)), tuple(failed), ttl_ms)


def settle_req(req_id: str, key: str = "demo", dep: str = "d1", cost: int = 100, tin: int = 10,
               tout: int = 5, outcome: str = "success", gen: int = 0, tpm: int = 0, key_tpm: int = 0,
               day: str = DAY, latency_us: int = 100_000, cached: int = 0) -> SettleRequest:
    return SettleRequest(req_id, key, dep, "prov", "model-a", "code_generation", "auto", day, cost,
                         tin, tout, cached, outcome, gen, latency_us, tpm, key_tpm)


# The property tests' hypothesis settings: no deadline (a real engine on a loaded machine).
# STATE_NOSHRINK=1 reports a failure at once (shrinking a long op sequence on a real engine
# can take minutes).
PROPERTY_SETTINGS: dict[str, Any] = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
if os.environ.get("STATE_NOSHRINK"):
    PROPERTY_SETTINGS["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]


@contextmanager
def store_on_own_loop(kind: str, url: Any, prefix: str) -> Iterator[tuple[StateStore, asyncio.AbstractEventLoop]]:
    """A StateStore on `kind` (fake: a fresh fakeredis; single or cluster: `url`) under `prefix`,
    with an event loop of its own (a hypothesis example runs outside pytest's loop); both closed
    at the end."""
    loop = asyncio.new_event_loop()
    try:
        if kind == "fake":
            store = StateStore.from_client(fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer()), prefix=prefix)
            loop.run_until_complete(store.load())
        else:
            store = loop.run_until_complete(StateStore.connect(url, prefix=prefix, timeout_s=2.0))
        try:
            yield store, loop
        finally:
            loop.run_until_complete(store.close())
    finally:
        loop.close()
