"""Step 8, settle: one round trip after the answer, off the client's critical path.

A served attempt charges what it cost and frees the rest of its reservation; a failed one frees
all of it and tells the breaker what `failures.judge` made of the failure. An unsettled
reservation is safe meanwhile, being the worst case: if a settle never lands, the reservation is
charged when it expires.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Coroutine

from gateway.config import Config, Deployment
from gateway.pipeline.admit import BudgetClock
from gateway.pipeline.record import Call
from gateway.pricing import Usage
from gateway.state.types import SettleRequest

NO_USAGE = Usage()  # a failed attempt: nothing billed

if TYPE_CHECKING:
    from gateway.observe.request import RequestObserver
    from gateway.state.guard import GuardedState


class Settle:
    def __init__(self, config: Config, state: "GuardedState", clock: BudgetClock, observer: "RequestObserver") -> None:
        self.state = state
        self.clock = clock
        self.observer = observer
        self.auth_cooldown_s = config.breaker.auth_cooldown_ms // 1000
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, call: Call, dep: Deployment, attempt_id: str, outcome: str, cost: int = 0,
                usage: Usage | None = None, hold_ms: int = 0) -> SettleRequest:
        """The script's arguments for one attempt of `call` on `dep` (`usage`: what it was billed
        for; the ledger keeps every count the cost was priced from, so an audit re-prices it alike)."""
        u = usage or NO_USAGE
        return SettleRequest(
            req_id=attempt_id, key=call.key, deployment=dep.name, provider=dep.provider.name,
            model=dep.name, task=call.task or "unknown", route=call.route or dep.name, day=self.clock.day(),
            cost_micro=cost, tokens_in=u.prompt_tokens, tokens_out=u.completion_tokens, cached_tokens=u.cached_tokens,
            web_searches=max(0, u.web_searches), cache_write_tokens=max(0, u.cache_write_tokens),
            cache_write_1h_tokens=max(0, min(u.cache_write_1h_tokens, u.cache_write_tokens)), outcome=outcome,
            breaker_gen=call.breaker_gen, latency_us=int((time.perf_counter() - call.started) * 1_000_000),
            tpm=dep.tpm, key_tpm=call.key_tpm, arm=call.experiment,
            team=call.team, monthly=call.runtime_key,
            # admitted in-process while Redis was unreachable: Redis holds no reservation for it,
            # so the settle must count the spend directly (a no-op for an id Redis already knows)
            force=call.degraded, hold_ms=hold_ms,
        )

    async def served(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        """The answer has gone out: charge it, then write the log line and metrics."""
        await self._send(call, self.request(call, dep, attempt_id, call.outcome, call.cost_micro, call.usage))
        self.observer.finish(call)

    async def failed(self, call: Call, dep: Deployment, attempt_id: str, outcome: str, hold_ms: int = 0) -> None:
        """A failed attempt frees its reservation (money and tokens) before the next admit."""
        await self._send(call, self.request(call, dep, attempt_id, outcome, hold_ms=hold_ms))

    def spawn_served(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        self._spawn(self.served(call, dep, attempt_id))

    def spawn_release(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        """Cancelled mid-attempt: free the reservation without holding up the cancellation."""
        self._spawn(self.failed(call, dep, attempt_id, "neutral"))

    async def drain(self) -> None:
        """Wait for settles still running (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, call: Call, request: SettleRequest) -> None:
        try:
            await self.state.settle(request)
        except Exception as exc:  # the reservation stays, and is charged at its worst case when it expires
            self.observer.log.error("settle_failed", request_id=call.request_id, error=type(exc).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
