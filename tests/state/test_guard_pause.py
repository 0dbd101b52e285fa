"""The fault guard and a paused engine (SIGSTOP, a real process): the calls in flight when the
engine pauses time out together and count as one failure, so a pause is not an outage; a call
sent after that failure timing out too is one, and the worker degrades. Settles that time out
are journaled and replayed without waiting for degraded mode."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from gateway.state.engine import start_single
from gateway.state.guard import FaultPolicy, GuardedState
from gateway.state.journal import Journal
from gateway.state.store import StateStore

from state_helpers import admit_req, settle_req


async def _guard(url: str, tmp: Path) -> GuardedState:
    store = await StateStore.connect(url, prefix="pause", timeout_s=0.25)
    return GuardedState(store, Journal(tmp / "journal"), FaultPolicy(retry_after_s=0.2, admit_deadline_ms=250))


async def _wait(predicate, tries: int = 200) -> None:
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def test_a_pause_counts_once_and_a_second_failure_degrades(tmp_path: Path) -> None:
    engine = start_single(tmp_path / "engine")
    pid = engine.process.pid

    async def scenario() -> None:
        guard = await _guard(engine.url, tmp_path)
        try:
            assert (await guard.admit(admit_req("warm"), hard_budget=True)).ok
            # eight requests in flight when the engine pauses: all fail closed, but no outage
            os.kill(pid, signal.SIGSTOP)
            try:
                paused = await asyncio.gather(*(guard.admit(admit_req(f"p{i}"), hard_budget=True) for i in range(8)))
            finally:
                os.kill(pid, signal.SIGCONT)
            assert [a.reason for a in paused] == ["state_unavailable"] * 8
            assert not guard.degraded
            after = await guard.admit(admit_req("after"), hard_budget=True)
            assert after.ok and not after.degraded
            # a settle that times out goes to the journal and is replayed while Redis decides
            assert (await guard.admit(admit_req("s1"), hard_budget=True)).ok
            os.kill(pid, signal.SIGSTOP)
            try:
                assert await guard.settle(settle_req("s1", cost=77)) is False
            finally:
                os.kill(pid, signal.SIGCONT)
            assert not guard.degraded
            await _wait(lambda: not guard.journal.pending())
            assert int(await guard.store.client.hget(guard.store.keys.spend(settle_req("s1").day), "cost:total")) == 77
            # still paused when a call sent after the first failure is due: that is an outage
            os.kill(pid, signal.SIGSTOP)
            try:
                first = await guard.admit(admit_req("q1"), hard_budget=True)
                assert first.reason == "state_unavailable" and not guard.degraded
                second = await guard.admit(admit_req("q2"), hard_budget=True)
                assert second.reason == "state_unavailable" and guard.degraded
            finally:
                os.kill(pid, signal.SIGCONT)
            await _wait(lambda: not guard.degraded)
            assert (await guard.admit(admit_req("back"), hard_budget=True)).ok
        finally:
            await guard.store.close()

    try:
        asyncio.run(scenario())
    finally:
        os.kill(pid, signal.SIGCONT)
        engine.stop()
