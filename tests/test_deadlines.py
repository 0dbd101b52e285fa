"""gateway/net/deadlines.py: a guarded wait past its deadline is cancelled and recognised as such;
a cancel from elsewhere is not; nothing stays guarded afterwards."""

from __future__ import annotations

import asyncio

import pytest

from gateway.net import deadlines
from gateway.net.deadlines import Deadlines


async def guarded_wait(timeout_s: float, wait: asyncio.Future) -> str:
    d = Deadlines.of_loop()
    task = d.enter(timeout_s)
    try:
        await wait
        return "done"
    except asyncio.CancelledError:
        if d.expired(task):
            return "timed out"
        raise
    finally:
        d.leave(task)


def test_deadline_cancels_a_late_wait_and_only_that_one() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        never = loop.create_future()
        soon = loop.create_future()
        loop.call_later(0.01, soon.set_result, None)
        results = await asyncio.gather(guarded_wait(0.05, never), guarded_wait(30, soon))
        assert results == ["timed out", "done"]
        d = Deadlines.of_loop()
        assert d.due == {} and d.fired == set()
        # the task goes on after its own timeout: the cancel was taken back
        assert asyncio.current_task().cancelling() == 0

    asyncio.run(main())


def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(guarded_wait(30, loop.create_future()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert Deadlines.of_loop().due == {}

    asyncio.run(main())


def test_the_sweeper_ends_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "IDLE_TICKS", 2)
    monkeypatch.setattr(deadlines, "TICK_S", 0.01)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        done.set_result(None)
        assert await guarded_wait(1, done) == "done"
        d = Deadlines.of_loop()
        sweeper = d.sweeper
        assert sweeper is not None
        await asyncio.wait_for(sweeper, 5)
        assert d.sweeper is None

    asyncio.run(main())


async def test_within_turns_its_own_deadline_into_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        with deadlines.within(0.05):
            await asyncio.sleep(5)
    assert not deadlines.Deadlines.of_loop().due  # the guard is gone


async def test_within_lets_another_cancel_through() -> None:
    async def guarded() -> None:
        with deadlines.within(30):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines.Deadlines.of_loop().due
