"""The span exporter: a bounded per-worker queue, emptied in batches by one background task.

A request only appends its finished spans (`add`, no I/O, no await); the task POSTs them to the
collector as OTLP/HTTP JSON. When the collector is slow or down the queue fills and the oldest
spans are dropped (and counted: `gateway_trace_spans_dropped_total`), so tracing never holds a
request up nor grows the worker's memory. A batch the collector refuses or never answers is
dropped too, not retried: the next batch is as likely to fail, and spans are worth less late.
At shutdown (`close`) an export in flight is let finish, then the queue is flushed, all within
the export timeout; a span that misses it is counted (`shutdown`), never lost unseen.
Why not the OpenTelemetry SDK: it is a heavy dependency for this, and its exporter posts from a
thread with blocking I/O; this one shares the worker's event loop and pooled HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Protocol

from gateway.observe.log import get_logger
from gateway.observe.tracing import otlp
from gateway.observe.tracing.spans import Span

FAILURE_LOG_EVERY_S = 60.0  # at most one warning a minute while the collector fails


class Poster(Protocol):
    """POSTs a body and answers the HTTP status, or None when there was no answer in time."""

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> int | None: ...


class Counts(Protocol):
    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None: ...


class SpanExporter:
    def __init__(self, poster: Poster, url: str, headers: dict[str, str], resource: dict[str, Any],
                 exported: Counts, dropped: Counts, max_queue: int = 4096, batch: int = 512,
                 interval_s: float = 1.0, timeout_s: float = 5.0) -> None:
        self.poster, self.url, self.resource = poster, url, resource
        self.headers = {**headers, "content-type": "application/json"}
        self.exported, self.dropped = exported, dropped
        self.queue: deque[Span] = deque()
        self.max_queue, self.batch, self.interval_s, self.timeout_s = max_queue, batch, interval_s, timeout_s
        self.wake = asyncio.Event()
        self.log = get_logger("gateway.tracing")
        self._last_warning = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

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
        while not self._closing:
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self.wake.clear()
            while self.queue and not self._closing:
                await self.export_batch()
                if len(self.queue) < self.batch:
                    break

    async def export_batch(self) -> bool:
        """Send up to `batch` of the oldest queued spans; True when the collector took them."""
        queue = self.queue
        spans = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
        if not spans:
            return True
        try:
            status = await self.poster.post(self.url, self.headers, otlp.encode(spans, self.resource), self.timeout_s)
        except asyncio.CancelledError:  # shutdown's deadline passed with this batch unanswered
            self.dropped.inc(("shutdown",), len(spans))
            raise
        except Exception as exc:  # noqa: BLE001 - a bad endpoint must not end the exporter
            status, why = None, type(exc).__name__
        else:
            why = f"status {status}" if status is not None else "no answer"
        if status is not None and 200 <= status < 300:
            self.exported.inc((), len(spans))
            return True
        self.dropped.inc(("export_failed",), len(spans))
        now = time.monotonic()
        if now - self._last_warning >= FAILURE_LOG_EVERY_S:
            self._last_warning = now
            self.log.warning("trace_export_failed", spans=len(spans), reason=why, queued=len(queue))
        return False

    async def close(self, timeout_s: float) -> None:
        """At shutdown: the export in flight ends (cancelled, and counted, when it outlives
        `timeout_s`), then what is queued is flushed, all within `timeout_s`. Cancelling the task
        instead would lose the batch it holds, neither exported nor counted."""
        deadline = time.monotonic() + timeout_s
        task, self._task, self._closing = self._task, None, True
        if task is not None:
            self.wake.set()
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.flush(max(0.0, deadline - time.monotonic()))

    async def flush(self, timeout_s: float) -> None:
        """At shutdown: send what is queued, batch by batch, within `timeout_s` in all."""
        deadline = time.monotonic() + timeout_s
        while self.queue and time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            self.timeout_s = min(self.timeout_s, max(0.05, remaining))
            if not await self.export_batch():
                break
        if self.queue:
            self.dropped.inc(("shutdown",), len(self.queue))
            self.queue.clear()
