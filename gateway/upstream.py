"""The one HTTP caller every adapter's requests go through: a shared aiohttp session per worker.

Keep-alive connections to each provider are pooled, and each call has connect, first-byte, idle
and total timeouts bounded by the request's own deadline. Failures come back as `UpstreamError`
values with a retryable flag, so the pipeline decides about fallbacks in one place.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from gateway.config import Timeouts
from gateway.providers import UpstreamError, UpstreamRequest


def _network_error(kind: str, message: str, status: int = 502) -> UpstreamError:
    return UpstreamError(status=status, message=message, type="upstream_error" if status == 502 else "timeout",
                         code=kind, retryable=True)


@dataclass(slots=True)
class Opened:
    """An upstream response whose status and headers have arrived; the body is still unread."""

    response: aiohttp.ClientResponse

    @property
    def status(self) -> int:
        return self.response.status

    def release(self) -> None:
        self.response.release()

    def close(self) -> None:
        self.response.close()


class Upstream:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",),
                                              timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session:
            await self._session.close()
            self._session = None

    async def open(self, req: UpstreamRequest, timeouts: Timeouts, deadline: float) -> Opened | UpstreamError:
        """POST and wait for the status line and headers (the first byte), within the deadline."""
        assert self._session is not None, "Upstream.start() was not awaited"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _network_error("deadline_exceeded", "request deadline passed before the upstream call", 504)
        timeout = aiohttp.ClientTimeout(total=None, connect=min(timeouts.connect_s, remaining),
                                        sock_read=timeouts.idle_s)
        try:
            async with asyncio.timeout(min(timeouts.first_byte_s, remaining)):
                response = await self._session.post(req.url, data=req.body, headers=req.headers, timeout=timeout)
        except TimeoutError:
            return _network_error("upstream_timeout", "upstream did not answer in time", 504)
        except aiohttp.ClientConnectorError as exc:
            return _network_error("upstream_unreachable", f"cannot connect to upstream: {exc.os_error or exc}")
        except aiohttp.ClientError as exc:
            return _network_error("upstream_connection_error", f"upstream connection failed: {type(exc).__name__}")
        return Opened(response)

    async def probe(self, url: str, headers: dict[str, str], timeout_s: float) -> int | None:
        """GET a health URL; the status, or None when the provider cannot be reached in time."""
        assert self._session is not None, "Upstream.start() was not awaited"
        try:
            async with asyncio.timeout(timeout_s):
                async with self._session.get(url, headers=headers) as response:
                    await response.read()
                    return response.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None

    @staticmethod
    async def read_body(opened: Opened, deadline: float, limit: int = 64 * 1024 * 1024) -> bytes | UpstreamError:
        """Read a whole (non-streamed) body within the deadline."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(max(0.001, deadline - time.monotonic())):
                async for chunk in opened.response.content.iter_any():  # read() would stop at what has arrived
                    size += len(chunk)
                    if size > limit:
                        break
                    chunks.append(chunk)
        except TimeoutError:
            opened.close()
            return _network_error("upstream_timeout", "upstream body did not arrive in time", 504)
        except aiohttp.ClientError as exc:
            opened.close()
            return _network_error("upstream_connection_error", f"upstream body read failed: {type(exc).__name__}")
        if size > limit:
            opened.close()
            return _network_error("upstream_body_too_large", "upstream body is larger than the gateway accepts")
        opened.release()
        return b"".join(chunks)
