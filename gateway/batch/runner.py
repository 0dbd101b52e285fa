"""Each worker's batch runner: claim chunks of batch lines, run each line through the pipeline in
process, record its result once.

Any worker of any replica may run any batch: chunks are claimed through lua/batch_claim.lua
under a lease, so a worker that dies leaves its chunk to be claimed again once the lease runs
out, and lua/batch_record.lua keeps one result per line whoever sends it. A worker runs at most
`batch.concurrency` lines at once and looks for more every `batch.poll_interval_s` (at once when
a line ends), so batch work never crowds out its interactive traffic.

A line is the endpoint's own handler called with a request built in memory and the batch
owner's key, its priority capped at `low` (`ApiKey.priority_cap`): auth is the only step
skipped; routing, guardrails, rate limits, budgets, pace, fallbacks, settle, the log line and
the metrics are the pipeline's. The key is found again by the id the batch stored (never a secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any, Awaitable, Callable, Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.batch.api import changed
from gateway.batch.lines import ENDPOINTS, answered, not_run
from gateway.config import ApiKey
from gateway.edge.asgi import EventStream, WholeReply
from gateway.errors import GatewayError
from gateway.observe.log import get_logger
from gateway.pipeline.context import Gateway
from gateway.state.batches import ENDED, BatchState, Claim

Handler = Callable[..., Awaitable[Any]]
log = get_logger("gateway.batch")
BATCH_PRIORITY = "low"
DRAIN_S = 10.0  # at shutdown, how long lines in flight may take to finish


def _request(app: Any, path: str, body: bytes) -> Request:
    """An in-memory POST of `body` to `path`, as the handlers read one (`request.app`, the body)."""
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "app": app, "client": None}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # no disconnect: the line runs to its end
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def _error_body(err: GatewayError) -> bytes:
    return orjson.dumps(err.body())


class BatchRunner:
    def __init__(self, gw: Gateway, app: Any, handlers: Mapping[str, Handler]) -> None:
        self.gw, self.app, self.handlers = gw, app, handlers
        self.cfg = gw.config.batch
        self.store = BatchState(gw.state)
        self.lease_ms = int(self.cfg.lease_s * 1000)
        self.free = self.cfg.concurrency
        self.wake = asyncio.Event()
        self.chunks: set[asyncio.Task[None]] = set()

    async def run_forever(self) -> None:
        failing = ""
        while True:
            self.wake.clear()
            try:
                claimed = await self.poll()
                failing = ""
            except Exception as exc:  # Redis away: try again at the next interval
                claimed = False
                if type(exc).__name__ != failing:
                    failing = type(exc).__name__
                    log.warning("batch_poll_failed", error=failing)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.cfg.poll_interval_s)

    async def poll(self) -> bool:
        """Claim chunks of the active batches, oldest first, while this worker has room."""
        claimed = False
        for batch_id in await self.store.active() if self.free else ():
            if not self.free:
                break
            claim = await self.store.claim(batch_id, self.free, self.lease_ms)
            if isinstance(claim, Claim):
                if claim.started:
                    changed(self.gw, batch_id, "in_progress")
                self.free -= len(claim.lines)
                task = asyncio.get_running_loop().create_task(self.run_chunk(claim))
                self.chunks.add(task)
                task.add_done_callback(self.chunks.discard)
                claimed = True
            elif claim.ended:
                await self._ended(batch_id, claim.status)
        return claimed

    async def run_chunk(self, claim: Claim) -> None:
        """Every line of the chunk at once; then the lease goes (if a result could not be recorded,
        it stays, runs out, and the lines without a result run again)."""
        try:
            key = await self.gw.keyring.by_owner(claim.owner)
            if key is not None:
                key = dataclasses.replace(key, priority_cap=BATCH_PRIORITY)
            done = await asyncio.gather(*(self._line(claim, key, i, raw) for i, raw in claim.lines),
                                        return_exceptions=True)
            if all(ok is True for ok in done):
                index, _ = claim.lines[-1]
                _, status, ended = await self.store.record(claim.batch_id, index, True, b"-", claim.chunk, True,
                                                           self.lease_ms)  # a repeat: kept never, drops the lease
                if ended:
                    await self._ended(claim.batch_id, status)
        except Exception as exc:  # noqa: BLE001 - the lease runs out and the chunk is claimed again
            log.warning("batch_chunk_failed", batch_id=claim.batch_id, chunk=claim.chunk, error=type(exc).__name__)
        finally:
            self.free += len(claim.lines)
            self.wake.set()

    async def _line(self, claim: Claim, key: ApiKey | None, index: int, raw: bytes) -> bool:
        """Run one line and record its result; True once it is recorded."""
        line = orjson.loads(raw)
        ok, out = await self.run_line(claim.batch_id, claim.endpoint, key, index, line)
        kept, status, ended = await self.store.record(claim.batch_id, index, ok, out, claim.chunk, False,
                                                      self.lease_ms)
        if kept:
            self.gw.metrics.batch_lines.inc((claim.endpoint, "ok" if ok else "failed"))
        if ended:
            await self._ended(claim.batch_id, status)
        return True

    async def run_line(self, batch_id: str, endpoint: str, key: ApiKey | None, index: int,
                       line: dict[str, Any]) -> tuple[bool, bytes]:
        """(a 2xx answer, the output line)."""
        custom_id, body = line["custom_id"], line["body"]
        if key is None:
            return False, not_run(batch_id, index, custom_id, "invalid_api_key",
                                  "The API key that created this batch no longer opens the gateway.")
        if ENDPOINTS[endpoint] and body.get("stream") not in (None, False):
            err = GatewayError(400, "'stream' is not supported in a batch: each line's answer is one JSON body.",
                               "invalid_request_error", "stream_not_supported", "stream")
            return False, answered(batch_id, index, custom_id, 400, "-", _error_body(err))
        try:
            answer = await self.handlers[endpoint](_request(self.app, endpoint, orjson.dumps(body)), headers={},
                                                   key=key)
            status, data, request_id = await _read(answer)
        except GatewayError as err:
            status, data, request_id = err.status, _error_body(err), "-"
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the batch: the line says so
            log.error("batch_line_failed", batch_id=batch_id, index=index, error=type(exc).__name__)
            status, data, request_id = 500, orjson.dumps({"error": {
                "message": "The gateway hit an internal error.", "type": "server_error", "param": None,
                "code": "internal_error"}}), "-"
        return 200 <= status < 300, answered(batch_id, index, custom_id, status, request_id, data)

    async def _ended(self, batch_id: str, status: str) -> None:
        if status not in ENDED:
            return
        batch = await self.store.batch(batch_id)
        fields = {} if batch is None else {"total": batch.total, "ok": batch.n_ok, "failed": batch.n_err,
                                           "not_run": batch.n_left}
        changed(self.gw, batch_id, status, **fields)

    async def drain(self, grace_s: float = DRAIN_S) -> None:
        """Shutdown: lines in flight get `grace_s` to finish; then they are cancelled (their
        reservations released), and their chunks wait for their leases to run out to be claimed
        by another worker."""
        if self.chunks:
            await asyncio.wait(list(self.chunks), timeout=grace_s)
        for task in list(self.chunks):
            task.cancel()
        if self.chunks:
            await asyncio.gather(*self.chunks, return_exceptions=True)


async def _read(answer: Any) -> tuple[int, bytes, str]:
    """(status, body, request id) of a handler's answer; a whole answer's settle runs here, as the
    edge runs it after the last byte."""
    if isinstance(answer, WholeReply):
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in answer.raw_headers}
        if answer.after is not None:
            await answer.after()
        return answer.status, answer.body, headers.get("x-request-id", "-")
    if isinstance(answer, EventStream):  # pragma: no cover - stream lines are refused before
        frames = getattr(answer.frames, "aclose", None)
        if frames is not None:
            await frames()
        raise GatewayError(400, "A batch line cannot stream.", "invalid_request_error", "stream_not_supported")
    assert isinstance(answer, Response)
    return answer.status_code, bytes(answer.body), answer.headers.get("x-request-id", "-")
