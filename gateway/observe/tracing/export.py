"""The span exporter: a bounded per-worker queue, emptied in batches by one background task.

A request only appends its finished spans (`add`, no I/O, no await); the task POSTs them to the
collector as OTLP/HTTP JSON. A batch the collector cannot take now (429, 502, 503, 504, no
answer) is sent again after a backoff (gateway.observe.tracing.retry), a bounded number of
times; meanwhile spans still queue, and when the collector is slow or down the queue fills and
the oldest are dropped, so tracing never holds a request up nor grows the worker's memory. Every
span is exported or counted in `gateway_trace_spans_dropped_total` by why: `queue_full`,
`export_failed` (retries spent), `rejected` (a final status: 400, 401...), `partial` (refused by
a partial success), `shutdown`. At shutdown (`close`) an export in flight is let finish (a
backoff wait is cut short), then the queue is flushed, all within the export timeout.
Why not the OpenTelemetry SDK: it is a heavy dependency for this, and its exporter posts from a
thread with blocking I/O; this one shares the worker's event loop and pooled HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Awaitable, Callable, Protocol

from gateway.net.upstream import Posted
from gateway.observe.log import get_logger
from gateway.observe.tracing import otlp
from gateway.observe.tracing.retry import EXPORTED, REJECTED, Backoff, outcome, rejected_spans, retry_after_s
from gateway.observe.tracing.spans import Span

FAILURE_LOG_EVERY_S = 60.0  # at most one warning a minute while the collector fails


class Poster(Protocol):
    """POSTs a body and answers the collector's answer, or None when there was none in time."""

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Posted | None: ...


class Counts(Protocol):
    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None: ...


class SpanExporter:
    def __init__(self, poster: Poster, url: str, headers: dict[str, str], resource: dict[str, Any],
                 exported: Counts, dropped: Counts, max_queue: int = 4096, batch: int = 512,
                 interval_s: float = 1.0, timeout_s: float = 5.0, attempts: int = 5,
                 backoff: Backoff | None = None, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.poster, self.url, self.resource = poster, url, resource
        self.headers = {**headers, "content-type": "application/json"}
        self.exported, self.dropped = exported, dropped
        self.queue: deque[Span] = deque()
        self.max_queue, self.batch, self.interval_s, self.timeout_s = max_queue, batch, interval_s, timeout_s
        self.attempts, self.backoff = attempts, backoff or Backoff()
        self.sleep = sleep  # the backoff's clock (a test's records the waits instead)
        self.wake, self.stopping = asyncio.Event(), asyncio.Event()
        self.resume_at = 0.0  # monotonic: no export before (a collector's Retry-After past the backoff cap)
        self.log = get_logger("gateway.tracing")
        self._last_warning = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background export (the worker's start-up, in its event loop)."""
        self._task = asyncio.create_task(self.run_forever())

    def add(self, spans: list[Span]) -> None:
        """Queue a request's spans; past `max_queue` the oldest go (counted)."""
        queue = self.queue
        queue.extend(spans)
        over = len(queue) - self.max_queue
        if over > 0:
            for _ in range(over):
                queue.popleft()
            self.dropped.inc(("queue_full",), over)
        if len(queue) >= self.batch:
            self.wake.set()

    async def run_forever(self) -> None:
        """Export a batch when one is full or `interval_s` after the last export, whichever first."""
        stopping = self.stopping
        while not stopping.is_set():
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self.wake.clear()
            held = self.resume_at - time.monotonic()
            if held > 0 and not await self._wait(held):  # shutdown began while the collector held us off
                break
            while self.queue and not stopping.is_set():
                await self.export_batch()
                if len(self.queue) < self.batch:
                    break

    async def export_batch(self, deadline: float | None = None) -> bool:
        """Send up to `batch` of the oldest queued spans, again after a backoff while the collector
        answers that it may take them later; True when it took them (a partial success included).
        `deadline` (shutdown's flush): no backoff wait that would outlast it."""
        queue = self.queue
        spans = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
        if not spans:
            return True
        body, retry = otlp.encode(spans, self.resource), 0
        try:
            while True:
                answer, why = await self._post(body, deadline)
                result = outcome(answer)
                if result == EXPORTED:
                    assert answer is not None
                    self._took(answer, len(spans))
                    return True
                if result == REJECTED:
                    self.dropped.inc(("rejected",), len(spans))
                    self._warn("trace_export_rejected", spans=len(spans), reason=why)
                    return False
                retry += 1
                after = retry_after_s(answer.headers) if answer is not None else None
                wait = self.backoff.delay(retry, after)
                if retry >= self.attempts or wait > self.backoff.max_s:
                    if wait > self.backoff.max_s:  # honoured, but not with this batch held all along
                        self.resume_at = time.monotonic() + wait
                    self.dropped.inc(("export_failed",), len(spans))
                    self._warn("trace_export_failed", spans=len(spans), reason=why, attempts=retry)
                    return False
                if not await self._wait(wait, deadline):
                    if deadline is None:  # shutdown began: its flush sends this batch first
                        queue.extendleft(reversed(spans))
                    else:
                        self.dropped.inc(("shutdown",), len(spans))
                    return False
        except asyncio.CancelledError:  # shutdown's deadline passed with this batch unanswered
            self.dropped.inc(("shutdown",), len(spans))
            raise

    async def _post(self, body: bytes, deadline: float | None) -> tuple[Posted | None, str]:
        """The collector's answer (None: none in time) and, for a log line, what it was."""
        timeout = self.timeout_s if deadline is None else max(0.05, min(self.timeout_s, deadline - time.monotonic()))
        try:
            answer = await self.poster.post(self.url, self.headers, body, timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad endpoint must not end the exporter
            return None, type(exc).__name__
        return answer, f"status {answer.status}" if answer is not None else "no answer"

    def _took(self, answer: Posted, sent: int) -> None:
        refused, message = rejected_spans(answer)
        refused = min(refused, sent)
        self.exported.inc((), sent - refused)
        if refused:
            self.dropped.inc(("partial",), refused)
            self._warn("trace_export_partial", spans=refused, reason=message or "partial success")

    async def _wait(self, delay_s: float, deadline: float | None = None) -> bool:
        """Sit out a backoff: True once it has passed; False at once when it would outlast
        shutdown's `deadline`, or as soon as shutdown begins (its flush then has the batch)."""
        if deadline is not None:
            if time.monotonic() + delay_s >= deadline:
                return False
            await self.sleep(delay_s)
            return True
        if self.stopping.is_set():
            return False
        sleeper = asyncio.ensure_future(self.sleep(delay_s))
        stopper = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return not self.stopping.is_set()

    def _warn(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last_warning >= FAILURE_LOG_EVERY_S:
            self._last_warning = now
            self.log.warning(event, queued=len(self.queue), **fields)

    async def close(self, timeout_s: float) -> None:
        """At shutdown: the export in flight ends (cancelled, and counted, when it outlives
        `timeout_s`; a backoff wait ends at once), then what is queued is flushed, all within
        `timeout_s`. Cancelling the task instead would lose the batch it holds, neither exported
        nor counted."""
        deadline = time.monotonic() + timeout_s
        task, self._task = self._task, None
        self.stopping.set()
        if task is not None:
            self.wake.set()
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.flush(max(0.0, deadline - time.monotonic()))

    async def flush(self, timeout_s: float) -> None:
        """At shutdown: send what is queued, batch by batch, within `timeout_s` in all (a retry
        only when its wait fits in it)."""
        deadline = time.monotonic() + timeout_s
        while self.queue and time.monotonic() < deadline:
            if not await self.export_batch(deadline):
                break
        if self.queue:
            self.dropped.inc(("shutdown",), len(self.queue))
            self.queue.clear()
