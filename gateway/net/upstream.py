"""The one HTTP caller every adapter's requests go through: a lean keep-alive client per worker.

Each call has connect, first-byte, idle and total timeouts bounded by the request's own deadline.
Failures come back as `UpstreamError` values with a retryable flag, so the pipeline decides about
fallbacks in one place. The client itself is `gateway.net.http1` (httptools parsing, pooled
connections); see there why it is not aiohttp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

from gateway.config import Timeouts
from gateway.net.egress import Egress
from gateway.net.http1 import Chunks, Client, HTTPError, Response
from gateway.providers import UpstreamError, UpstreamRequest


def _network_error(kind: str, message: str, status: int = 502) -> UpstreamError:
    return UpstreamError(status=status, message=message, type="upstream_error" if status == 502 else "timeout",
                         code=kind, retryable=True)


def _from_http_error(exc: HTTPError, when: str) -> UpstreamError:
    if exc.kind in ("timeout", "connect_timeout", "pool_timeout"):
        return _network_error("upstream_timeout", f"upstream did not answer in time ({when})", 504)
    # messages reach clients: no address or port of the provider (logs carry the error code)
    if exc.kind == "connect":
        return _network_error("upstream_unreachable", "the provider could not be reached")
    if exc.kind == "too_large":
        return _network_error("upstream_body_too_large", "upstream body is larger than the gateway accepts")
    return _network_error("upstream_connection_error", f"upstream connection failed ({when})")


@dataclass(frozen=True, slots=True)
class Posted:
    """The answer to `Upstream.post`: status, headers (lowercase names) and body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class Opened:
    """An upstream response whose status and headers have arrived; the body is still unread."""

    response: Response
    idle_s: float

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> dict[str, str]:
        return self.response.headers

    def chunks(self) -> Chunks:
        """The body's pieces as they arrive, each wait bounded by the provider's idle timeout."""
        return self.response.chunks(self.idle_s)

    def ready(self) -> list[bytes]:
        """The body pieces already received, without waiting."""
        return self.response.ready()

    def release(self) -> None:
        self.response.release()

    def close(self) -> None:
        self.response.close()


class Upstream:
    """Each call names its provider's `Egress` (proxy, trust store, connection cap); the
    environment's proxy variables are read once, at start."""

    def __init__(self) -> None:
        self._client: Client | None = None

    async def start(self) -> None:
        self._client = Client(keepalive_s=30.0)

    async def close(self) -> None:
        if self._client:
            self._client.close()
            self._client = None

    async def open(self, req: UpstreamRequest, timeouts: Timeouts, deadline: float,
                   egress: Egress | None = None) -> Opened | UpstreamError:
        """Send (a POST but for `req.method`) and wait for the status line and headers (the first
        byte), within the deadline."""
        assert self._client is not None, "Upstream.start() was not awaited"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _network_error("deadline_exceeded", "request deadline passed before the upstream call", 504)
        try:
            response = await self._client.request(req.method, req.url, req.headers, req.body,
                                                  connect_timeout=min(timeouts.connect_s, remaining),
                                                  head_timeout=min(timeouts.first_byte_s, remaining), egress=egress)
        except HTTPError as exc:
            return _from_http_error(exc, "response head")
        return Opened(response, timeouts.idle_s)

    async def probe(self, url: str, headers: dict[str, str], timeout_s: float,
                    egress: Egress | None = None) -> int | None:
        """GET a health URL; the status, or None when the provider cannot be reached in time."""
        assert self._client is not None, "Upstream.start() was not awaited"
        deadline = time.monotonic() + timeout_s
        try:
            response = await self._client.request("GET", url, headers, b"", connect_timeout=timeout_s,
                                                  head_timeout=timeout_s, egress=egress)
        except (HTTPError, ValueError):
            return None
        try:
            await response.read(deadline, timeout_s, 1 << 20)
        except (HTTPError, TimeoutError):
            response.close()
            return None
        response.release()
        return response.status

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float,
                   egress: Egress | None = None) -> Posted | None:
        """POST a body off the request path (trace export) and read the answer within `timeout_s`
        (up to 1 MiB of it); None when there was no answer in time."""
        assert self._client is not None, "Upstream.start() was not awaited"
        deadline = time.monotonic() + timeout_s
        try:
            response = await self._client.request("POST", url, headers, body, connect_timeout=timeout_s,
                                                  head_timeout=timeout_s, egress=egress)
        except (HTTPError, ValueError, OSError):
            return None
        try:
            data = await response.read(deadline, timeout_s, 1 << 20)
        except (HTTPError, TimeoutError):
            response.close()
            return Posted(response.status, response.headers)
        response.release()
        return Posted(response.status, response.headers, data)

    @staticmethod
    async def read_body(opened: Opened, deadline: float, limit: int = 64 * 1024 * 1024) -> bytes | UpstreamError:
        """Read a whole (non-streamed) body within the deadline."""
        try:
            data = await opened.response.read(deadline, opened.idle_s, limit)
        except TimeoutError:
            opened.close()
            return _network_error("upstream_timeout", "upstream body did not arrive in time", 504)
        except HTTPError as exc:
            opened.close()
            return _from_http_error(exc, "body")
        opened.release()
        return data
