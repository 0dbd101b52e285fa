"""Limits at the edge: the HTTP protocol refuses what would exhaust a worker before any handler,
auth included, runs.

uvicorn's httptools protocol bounds nothing before a request is complete: no limit on a header's
size (one 200 MB header grew a worker by 275 MB), no timer before the first request or while
headers or a body trickle in, and no cap on connections (under a 1,024 file limit, 2,100 silent
connections made every accept fail). `EdgeProtocol` adds, per connection, one timer for the
phase it is in and byte and line counts of the head:

- idle (no request in progress, before the first one or between two): closed after `keep_alive_s`;
- head (first byte to end of headers): 408 after `header_timeout_s`, 431 past `max_header_bytes`
  or `max_headers`; counted as bytes arrive, so memory stays bounded by the limit plus one read;
- body (end of headers to end of body): 408 after `body_read_timeout_s`, on every path;
- per worker at most `max_connections` (lowered to fit the open-file limit): a new connection
  over the cap sheds the connection that has waited longest without a request in the app, or,
  when every connection has one, is refused with a 503.

A refusal is an OpenAI-shaped JSON error with `connection: close`; the connection then lingers
(discards what the client still sends, for a bounded time and size) before it closes, so a client
still sending its body reads the answer instead of a reset. Malformed HTTP gets the same JSON 400.
"""

from __future__ import annotations

import asyncio
import http
import os
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Any

import httptools
import orjson

from gateway.config.model import Server
from gateway.edge.stats import EdgeStats
from gateway.observe.log import get_logger
from gateway.edge.coalescing import CoalescingHttpToolsProtocol, CoalescingTransport

ENV = "GATEWAY_EDGE_LIMITS"
LINGER_S = 2.0                 # how long a refused connection keeps reading before it closes
LINGER_BYTES = 8 * 1024 * 1024  # and how much it discards at most
IDLE, HEAD, BODY, APP = range(4)
EDGE_FIELDS = ("max_header_bytes", "max_headers", "header_timeout_s", "keep_alive_s", "body_read_timeout_s",
               "max_connections")


def export_limits(server: Server) -> None:
    """Hand the config's `server:` section to the worker processes (spawned, so through the
    environment; the protocol exists before the app has loaded its config)."""
    os.environ[ENV] = orjson.dumps(asdict(server)).decode()


def limits_from_env() -> Server:
    raw = os.environ.get(ENV)
    return Server(**orjson.loads(raw)) if raw else Server()


def connections_that_fit(wanted: int) -> int:
    """Raise the soft open-file limit to the hard one, then keep client connections to half of what
    is left after a reserve (each request in flight may hold an upstream connection too)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
    except ImportError:  # pragma: no cover - not on Linux
        return wanted
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, (soft - 128) // 2))


class Edge:
    """One worker's limits, its connections without a request in the app (oldest first: the ones
    shed first), and its counters."""

    def __init__(self, limits: Server) -> None:
        self.limits = limits
        self.max_connections = connections_that_fit(limits.max_connections)
        self.open = 0
        self.waiting: OrderedDict[EdgeProtocol, None] = OrderedDict()
        self.stats = EdgeStats()
        self.log = get_logger("gateway.edge.limits")
        self._logged_at = 0.0
        self._unlogged = {"shed_idle": 0, "refused": 0}

    def admit(self, conn: "EdgeProtocol") -> bool:
        """Count a new connection; over the cap, shed the longest-waiting one, or refuse this one."""
        self.open += 1
        if self.open <= self.max_connections:
            return True
        if self.waiting:
            victim, _ = self.waiting.popitem(last=False)
            victim._close_now()
            self._shed("shed_idle")
            return True
        self._shed("refused")
        return False

    def _shed(self, how: str) -> None:
        self.stats.shed.inc((how,))
        self._unlogged[how] += 1
        now = time.monotonic()
        if now - self._logged_at >= 10.0:  # one line per 10 s at most, however hard the flood
            self._logged_at = now
            self.log.warning("connections_shed", open=self.open, limit=self.max_connections,
                             waiting=len(self.waiting), **self._unlogged)
            self._unlogged = dict.fromkeys(self._unlogged, 0)

    def gone(self, conn: "EdgeProtocol") -> None:
        self.open -= 1
        self.waiting.pop(conn, None)

    def render_metrics(self, worker: str) -> str:
        return self.stats.render(worker, self.open, self.max_connections)

    def describe(self) -> dict[str, Any]:
        """What the worker logs at start: the limits in force."""
        return {**{f: getattr(self.limits, f) for f in EDGE_FIELDS}, "max_connections": self.max_connections}


_edge: Edge | None = None


def worker_edge() -> Edge:
    """This worker's Edge, created on first use from the limits `gateway serve` exported."""
    global _edge
    if _edge is None:
        _edge = Edge(limits_from_env())
    return _edge


def error_answer(status: int, message: str, code: str, type_: str = "invalid_request_error",
                 extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n%s\r\n"
            % (status, http.HTTPStatus(status).phrase.encode(), len(body), extra)) + body


class _TooManyHeaders(Exception):
    pass


class LingeringTransport(CoalescingTransport):
    """Closing while the client is still sending its request lingers instead (see `EdgeProtocol`)."""

    __slots__ = ("_protocol",)

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, protocol: "EdgeProtocol") -> None:
        super().__init__(transport, loop)
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.request_unfinished() and not self._transport.is_closing():
            self.flush()
            self._protocol.linger()
        else:
            super().close()

    def close_now(self) -> None:
        super().close()


class EdgeProtocol(CoalescingHttpToolsProtocol):
    """uvicorn's httptools protocol (with coalesced writes) under the edge limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.edge = worker_edge()
        self.limits = self.edge.limits
        self.timeout_keep_alive = self.limits.keep_alive_s  # uvicorn's timer between requests
        self._phase = IDLE
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._linger_left: int | None = None  # bytes still to discard while lingering
        self._counted = False

    # -- connection --
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super(CoalescingHttpToolsProtocol, self).connection_made(  # type: ignore[arg-type]
            LingeringTransport(transport, self.loop, self))
        self._counted = True
        if not self.edge.admit(self):
            self.transport.write(error_answer(503, "The gateway has too many open connections; retry shortly.",
                                              "too_many_connections", "service_unavailable", b"retry-after: 1\r\n"))
            self._close_now()
            return
        self.edge.waiting[self] = None
        self._arm(self.limits.keep_alive_s, "idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            self._counted = False
            self.edge.gone(self)
        super().connection_lost(exc)

    def request_unfinished(self) -> bool:
        return self._phase in (HEAD, BODY)

    # -- bytes in --
    def data_received(self, data: bytes) -> None:
        if self._linger_left is not None:
            self._linger_left -= len(data)
            if self._linger_left <= 0:
                self._close_now()
            return
        self._unset_keepalive_if_required()
        if self._phase == IDLE:
            self._phase = HEAD
            self._disarm()
        if self._phase == HEAD:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _TooManyHeaders):
                self._refuse(431, f"More than {self.limits.max_headers} header lines.", "too_many_headers")
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._phase == HEAD:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"The request line and headers are larger than {self.limits.max_header_bytes} "
                             "bytes.", "header_too_large")
            elif self._timer is None:
                self._arm(self.limits.header_timeout_s, "head")
        elif self._phase == BODY and self._timer is None:
            self._arm(self.limits.body_read_timeout_s, "body")

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: the OpenAI error shape, as every other error."""
        self.edge.stats.refused.inc(("bad_request",))
        self._phase = HEAD  # what follows is garbage too: linger, then close
        self.transport.write(error_answer(400, "Malformed HTTP request.", "bad_http_request"))
        self.transport.close()

    # -- parser callbacks --
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != HEAD:  # a pipelined request after a complete one
            self._phase = HEAD
            self._head_bytes = 0

    def on_headers_complete(self) -> None:
        if len(self.headers) > self.limits.max_headers:  # bounded meanwhile by max_header_bytes
            raise _TooManyHeaders()
        self._disarm()
        self._phase = BODY
        self._head_bytes = 0
        self.edge.waiting.pop(self, None)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:  # answered before the body ended
            self._now_idle()
        else:
            self._phase = APP

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase == APP and self.cycle.response_complete and not self.transport.is_closing():
            self._phase = IDLE
            self.edge.waiting[self] = None  # uvicorn's keep-alive timer (keep_alive_s) now runs

    def _now_idle(self) -> None:
        self._phase = IDLE
        if not self.transport.is_closing():
            self.edge.waiting[self] = None
            self._arm(self.limits.keep_alive_s, "idle")

    # -- timers and refusals --
    def _arm(self, delay: float, phase: str) -> None:
        self._timer = self.loop.call_later(delay, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if phase == "idle":
            self.edge.stats.refused.inc(("idle",))
            self._close_now()
        elif phase == "head":
            self._refuse(408, f"The request headers did not arrive within {self.limits.header_timeout_s:g} s.",
                         "header_timeout")
        elif self.cycle is not None and self.cycle.response_started:
            self.edge.stats.refused.inc(("request_timeout",))
            self._close_now()
        else:
            self._refuse(408, f"The request body did not arrive within {self.limits.body_read_timeout_s:g} s.",
                         "request_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        self.edge.stats.refused.inc((code,))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() now says the client is gone
            self.cycle.message_event.set()
        self.transport.write(error_answer(status, message, code))
        self.transport.close()

    def linger(self) -> None:
        """Answered while the client still sends: stop writing (FIN), read and drop what still
        comes for a while, then close. Closing at once would reset the connection, and a reset
        discards the answer before a client that is still sending has read it."""
        self._disarm()
        self._linger_left = LINGER_BYTES
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError, AttributeError):
            self._close_now()
            return
        self._timer = self.loop.call_later(LINGER_S, self._close_now)

    def _close_now(self) -> None:
        self._disarm()
        self._linger_left = None
        self._phase = IDLE
        transport = self.transport
        if isinstance(transport, LingeringTransport):
            transport.close_now()
        else:
            transport.close()

    def eof_received(self) -> bool | None:
        if self._linger_left is not None:  # the client has sent everything: close now
            self._close_now()
        return None
