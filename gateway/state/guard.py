"""The state store as the pipeline sees it, with a policy for when Redis is down or slow.

Every Redis call has a short timeout. After a failure the guard stops asking Redis for a short
while (so each request does not pay the timeout) and decides locally:
- rate limits and breakers fail open onto an in-process copy of the same state machines (the
  Python reference model of the Lua scripts), with each rate limit divided by the replica count;
- budgets fail closed for keys with a hard budget and open otherwise (configurable);
- settles go to the local journal and are replayed, exactly once, when Redis answers again;
- an admit the worker gave up on leaves nothing behind: it carries a deadline on the engine's
  clock (an admit the engine runs later takes nothing), and the ids of requests refused while
  waiting are released once Redis answers (an admit that ran but whose reply was lost).
The choice is visible: `Admission.degraded`, the `x-gateway-degraded` header, a gauge, and one
log line per transition (not per request).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from gateway.observe.log import get_logger
from gateway.state.endpoint import parse_endpoint, seeds
from gateway.state.journal import Journal
from gateway.state.keys import prev_day
from gateway.state.ops import OpsState
from gateway.state.reference import StateModel
from gateway.state.store import Admission, AdmitRequest, SettleRequest, StateStore

STATE_ERRORS = (RedisError, OSError, TimeoutError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    rate_limits: str = "fail_open"   # fail_open | fail_closed
    breakers: str = "fail_open"
    budgets: str = "auto"            # auto (closed for keys with a hard budget) | fail_open | fail_closed
    replicas: int = 1                # local rate limits are the shared ones divided by this
    retry_after_s: float = 1.0       # how long to stop asking Redis after a failure
    admit_deadline_ms: int = 0       # an admit not run within this (engine clock) takes nothing; 0: none


class GuardedState:
    def __init__(self, store: StateStore, journal: Journal, policy: FaultPolicy = FaultPolicy()) -> None:
        self.store = store
        self.journal = journal
        self.policy = policy
        self.log = get_logger("gateway.state")
        self.degraded = False
        self.down_since: float | None = None  # monotonic time Redis stopped answering (for /readyz)
        self._failures = 0               # timeouts in a row (see _failed)
        self._failed_at = 0.0            # when the first of them came back
        self._retry_at = 0.0
        self._local = StateModel()
        self._recovering: asyncio.Task[None] | None = None
        self._offset_us = 0              # engine clock - local clock (see _clock)
        self._offset_renew = 0.0
        self._abandoned: collections.deque[str] = collections.deque(maxlen=100_000)
        self._releasing: asyncio.Task[None] | None = None

    # -- pass-throughs the admin API and housekeeping use --
    @property
    def client(self) -> Any:
        return self.store.client

    @property
    def keys(self) -> Any:
        return self.store.keys

    @property
    def ops(self) -> OpsState:
        return self.store.ops

    def __getattr__(self, name: str) -> Any:  # breaker_state, acquire_lease, report_breaker, close...
        return getattr(self.store, name)

    async def ping(self) -> bool:
        return await self.store.ping()

    def admit_deadline_us(self) -> int:
        """An engine-clock time well after this worker stops waiting for an admit sent now: twice
        the timeout plus a second. Generous on purpose: an admit run before it but after the
        worker gave up is covered by the release of abandoned ids (or by the settle of a request
        served meanwhile); one run after it, as after a stalled engine, takes nothing. The offset
        is the largest seen lately (a reply's latency and the event loop's lag only lower it)."""
        if not self.policy.admit_deadline_ms:
            return 0
        wait_us = max(2 * self.policy.admit_deadline_ms, self.policy.admit_deadline_ms + 1000) * 1000
        return time.time_ns() // 1000 + self._offset_us + wait_us

    def _clock(self, engine_now_us: int) -> int:
        """Learn the engine-minus-local clock offset from a reply; the max over ~10 s windows."""
        offset = engine_now_us - time.time_ns() // 1000
        now = time.monotonic()
        if offset > self._offset_us or now >= self._offset_renew:
            if now >= self._offset_renew:
                self._offset_renew = now + 10.0
            self._offset_us = offset
        return offset

    # -- the two calls of the hot path --
    async def admit(self, req: AdmitRequest, hard_budget: bool = False) -> Admission:
        if not self.degraded or time.monotonic() >= self._retry_at:
            sent = time.monotonic()
            try:
                admission = await self.store.admit(req)
            except STATE_ERRORS as exc:
                self._failed(exc, sent)
            else:
                self._failures = 0
                before = self._offset_us
                self._clock(admission.now_us)
                if admission.reason == "expired" and self._offset_us - before > 1000:
                    # the first reply of a clock that runs ahead of ours: ask again with its time
                    return await self.admit(replace(req, deadline_us=self.admit_deadline_us()), hard_budget)
                if self.degraded:
                    self._schedule_recovery()
                return admission
            local = self._admit_locally(req, hard_budget)
            if not local.ok:  # refused here; the engine may still have run it: release once it answers
                self._abandoned.append(req.req_id)
                self._schedule_release()
            return local
        return self._admit_locally(req, hard_budget)

    async def settle(self, req: SettleRequest) -> bool:
        if not self.degraded:
            sent = time.monotonic()
            try:
                settled = await self.store.settle(req)
            except STATE_ERRORS as exc:
                self._failed(exc, sent)
            else:
                self._failures = 0
                return settled
        self._settle_locally(req)
        self._schedule_recovery()  # replays the journal (and, if degraded, leaves that mode)
        return False

    # -- degraded mode --
    def _failed(self, exc: BaseException, sent: float) -> None:
        """One slow moment on a loaded host is not an outage: a timeout degrades only when a call
        sent after an earlier one timed out times out too (an engine that is really down refuses
        at once, so this costs nothing then). The calls already in flight when the engine paused
        time out together and count once: counted one by one, a single pause of a starved engine
        degraded every worker at c=64, and its hard-budget keys got 503s for the whole
        `retry_after_s` (bench/keys_load.py; docs/operations.md)."""
        now = time.monotonic()
        if not self._failures:
            self._failures, self._failed_at = 1, now
        elif sent >= self._failed_at:
            self._failures += 1
        if self.degraded or self._failures >= 2 or not isinstance(exc, (TimeoutError, RedisTimeout)):
            self._went_down(exc)

    def _went_down(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.policy.retry_after_s
        if not self.degraded:
            self.degraded = True
            self.down_since = time.monotonic()
            self._local = StateModel()
            self.log.warning("state_degraded", error=type(exc).__name__, policy=asdict(self.policy))
        self._schedule_recovery()

    def _budget_closed(self, hard_budget: bool) -> bool:
        if self.policy.budgets == "auto":
            return hard_budget
        return self.policy.budgets == "fail_closed"

    def _admit_locally(self, req: AdmitRequest, hard_budget: bool) -> Admission:
        def refuse(reason: str) -> Admission:
            return Admission(False, -1, reason, int(self.policy.retry_after_s * 1000), 0, False, 0, 0, -1, (),
                             degraded=True)

        if self._budget_closed(hard_budget):
            return refuse("state_unavailable")
        if self.policy.rate_limits == "fail_closed" and (req.key_rpm or req.key_tpm
                                                         or any(c.rpm or c.tpm for c in req.candidates)):
            return refuse("state_unavailable")
        if self.policy.breakers == "fail_closed":
            return refuse("state_unavailable")
        n = max(1, self.policy.replicas)

        def share(limit: int) -> int:
            return max(1, limit // n) if limit else 0

        now = time.time_ns() // 1000
        decision = self._local.admit(dict(
            req_id=req.req_id, key=req.key, key_rpm=share(req.key_rpm), key_tpm=share(req.key_tpm),
            key_budget=0, global_budget=0, day=req.day, prev=prev_day(req.day), est=req.est_tokens,
            ttl_ms=req.reservation_ttl_ms,
            candidates=[dict(dep=c.deployment, rpm=share(c.rpm), tpm=share(c.tpm), cost=c.max_cost_micro,
                             n=c.breaker.failures, window_ms=c.breaker.window_ms,
                             cooldown_ms=c.breaker.cooldown_ms, max_cooldown_ms=c.breaker.max_cooldown_ms,
                             lease_ms=c.breaker.probe_lease_ms, min_src=c.breaker.min_sources)
                        for c in req.candidates]), now)
        if len(self._local.ledger) > 10_000:  # the local copy only needs breakers and buckets
            self._local.ledger.clear()
        return Admission(bool(decision.ok), decision.index, decision.reason, decision.retry_after_ms,
                         decision.gen, bool(decision.probe), 0, 0, -1, decision.skipped, degraded=True)

    def _settle_locally(self, req: SettleRequest) -> None:
        now = time.time_ns() // 1000
        self._local.settle(dict(
            req_id=req.req_id, key=req.key, dep=req.deployment, provider=req.provider, model=req.model,
            task=req.task, route=req.route, day=req.day, prev=prev_day(req.day), cost=req.cost_micro,
            tin=req.tokens_in, tout=req.tokens_out, cached=req.cached_tokens, outcome=req.outcome,
            gen=req.breaker_gen, latency_us=req.latency_us, tpm=req.tpm, key_tpm=req.key_tpm), now)
        # Spend is never lost: the settle waits in the journal until Redis takes it.
        self.journal.append(asdict(replace(req, force=True)))

    def _schedule_release(self) -> None:
        if self._releasing is None or self._releasing.done():
            self._releasing = asyncio.get_running_loop().create_task(self._release_abandoned())

    async def _release_abandoned(self) -> None:
        """Release the reservations of admits the worker gave up on and answered with a refusal
        (an admit run later than its deadline took nothing; this covers one whose reply was lost)."""
        while self._abandoned:
            await asyncio.sleep(self.policy.retry_after_s)
            try:
                while self._abandoned:
                    await self.store.release(self._abandoned[0])
                    self._abandoned.popleft()
            except STATE_ERRORS:
                continue

    def _schedule_recovery(self) -> None:
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Wait for Redis, replay the journal, then leave degraded mode."""
        while True:
            await asyncio.sleep(self.policy.retry_after_s)
            if not await self.store.ping():
                continue
            try:
                await self.journal.replay(self._replay_one)
            except STATE_ERRORS:
                continue
            if self.journal.pending():
                continue
            self._failures = 0  # Redis answered again
            if self.degraded:
                self.degraded = False
                self.down_since = None
                self.log.warning("state_recovered")
            return

    async def _replay_one(self, entry: dict[str, Any]) -> bool:
        if "latency_ms" in entry:  # journaled by a version that kept milliseconds
            entry = {**entry, "latency_us": entry.pop("latency_ms") * 1000}
        return await self.store.settle(SettleRequest(**entry))

    async def replay_at_start(self) -> int:
        """Settles left in journals by workers that died are replayed by the next one that starts."""
        try:
            return await self.journal.replay(self._replay_one)
        except STATE_ERRORS:
            self._went_down(ConnectionError("replay at start"))
            return 0


def journal_dir(cfg: Any, url: str = "") -> Path:
    """Where this gateway journals settles Redis could not take. Its own data directory (one per
    gateway instance, locked by `gateway serve`), so no other gateway, with another engine, ever
    adopts and replays these settles. Without one (the app run by hand), a temp directory keyed
    by the engine's URL and the key prefix."""
    configured = cfg.state.journal_dir or os.environ.get("GATEWAY_JOURNAL_DIR")
    if configured:
        return Path(configured)
    data_dir = os.environ.get("GATEWAY_DATA_DIR")
    if data_dir:
        return Path(data_dir) / "journal"
    engine = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"gateway-journal-{cfg.state.prefix}-{engine}"


async def open_state(url: str, cfg: Any) -> GuardedState:
    """Connect to Redis (several comma-separated seeds, or REDIS_CLUSTER=1: Redis Cluster) and wrap
    it in the guard. A single engine that is down at start-up does not stop the worker: it starts
    degraded and loads the scripts when Redis answers."""
    urls = seeds(url)
    cluster = len(urls) > 1 or os.environ.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes")
    s = cfg.state
    common = dict(prefix=s.prefix, retention_days=s.retention_days, ledger_maxlen=s.ledger_maxlen)
    policy = FaultPolicy(s.on_failure_rate_limits, s.on_failure_breakers, s.on_failure_budgets, s.replicas,
                         admit_deadline_ms=s.timeout_ms)
    down: BaseException | None = None
    for attempt in range(5):  # a busy engine at start-up gets a few chances before we start degraded
        try:
            store = await StateStore.connect(urls if cluster else urls[0], timeout_s=s.timeout_ms / 1000,
                                             cluster=cluster, settings=s, **common)
            down = None
            break
        except STATE_ERRORS as exc:
            down = exc
            await asyncio.sleep(0.2 * 2 ** attempt)
    if down is not None:
        if cluster:
            raise down
        client = parse_endpoint(urls[0], s).redis_py(socket_timeout=s.timeout_ms / 1000,
                                                      socket_connect_timeout=max(s.timeout_ms / 1000, 0.25))
        store = StateStore.from_client(client, **common)
    guard = GuardedState(store, Journal(journal_dir(cfg, url)), policy)
    if down is not None:
        guard._went_down(down)
    return guard
