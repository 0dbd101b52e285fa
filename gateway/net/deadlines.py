"""Coarse deadlines for long waits on the hot path, checked by one sweeper per event loop.

`asyncio.timeout()` costs a Timeout object, a timer handle and its reschedule per use: about 3.5%
of a worker's CPU at 1,000 requests/s for the request-body read alone (py-spy, bench.profile).
Waits whose limit is seconds (the body read's 30 s slowloris guard) do not need that precision:
here a guarded region costs a dict insert and delete, and a sweeper task (it ends after 5 s
with nothing guarded) cancels tasks past their deadline every `TICK_S`.

    try:
        with within(30.0):
            ...await something...
    except TimeoutError:                  # the deadline fired; anyone else's cancel passes through
        ...answer with a timeout...
"""

from __future__ import annotations

import asyncio
import weakref

TICK_S = 0.1  # a deadline fires up to this late
IDLE_TICKS = 50  # the sweeper ends after this many ticks with nothing guarded


class Deadlines:
    """The guarded tasks of one event loop and their deadlines (loop time)."""

    _by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines]" = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.due: dict[asyncio.Task, float] = {}
        self.fired: set[asyncio.Task] = set()
        self.sweeper: asyncio.Task | None = None

    _last: "Deadlines | None" = None  # the last loop asked about (a worker has one; keeps at most one alive)

    @classmethod
    def of_loop(cls) -> "Deadlines":
        loop = asyncio.get_running_loop()
        last = cls._last
        if last is not None and last.loop is loop:  # a WeakKeyDictionary lookup costs a weakref each time
            return last
        found = cls._by_loop.get(loop)
        if found is None:
            found = cls._by_loop[loop] = cls(loop)
        cls._last = found
        return found

    def enter(self, timeout_s: float) -> asyncio.Task:
        """Guard the current task for `timeout_s` seconds; returns it for `expired`/`leave`."""
        task = asyncio.current_task(self.loop)
        assert task is not None, "a deadline needs a task"
        self.due[task] = self.loop.time() + timeout_s
        if self.sweeper is None:
            self.sweeper = self.loop.create_task(self._sweep())
        return task

    def leave(self, task: asyncio.Task) -> None:
        self.due.pop(task, None)
        self.fired.discard(task)

    def expired(self, task: asyncio.Task) -> bool:
        """True when the CancelledError the task got came from its deadline (the cancel is then
        taken back, so the task goes on to answer)."""
        if task in self.fired:
            self.fired.discard(task)
            task.uncancel()
            return True
        return False

    async def _sweep(self) -> None:
        idle = 0
        try:
            while idle < IDLE_TICKS:
                await asyncio.sleep(TICK_S)
                idle = 0 if self.due else idle + 1
                now = self.loop.time()
                late = [t for t, at in self.due.items() if at <= now]
                for task in late:
                    del self.due[task]
                    self.fired.add(task)
                    task.cancel()
        finally:
            self.sweeper = None


class within:
    """`with within(seconds):` guards the current task with a coarse deadline; the block ends with
    TimeoutError when the deadline fired, and any other cancellation passes through unchanged."""

    __slots__ = ("_deadlines", "_task", "_timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def __enter__(self) -> "within":
        self._deadlines = Deadlines.of_loop()
        self._task = self._deadlines.enter(self._timeout_s)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        fired = exc_type is not None and issubclass(exc_type, asyncio.CancelledError) and \
            self._deadlines.expired(self._task)
        self._deadlines.leave(self._task)
        if fired:
            raise TimeoutError(f"deadline of {self._timeout_s:g} s passed") from None
        return False
