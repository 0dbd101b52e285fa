"""The ASGI edge of the hot endpoints: a direct dispatch, and a lean streaming response.

Starlette's router and its two exception middlewares cost more per request than routing a
handful of POST paths needs. `HotPaths` sends those straight to their handlers, with the same
OpenAI-format answers for errors; everything else (lifespan, admin, dashboard, 404s) goes on
to the Starlette app unchanged.
"""

from __future__ import annotations

import asyncio
import traceback
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request

from gateway.errors import GatewayError, sse_error
from gateway.observe.log import get_logger

Handler = Callable[[Request], Awaitable[Any]]
Scope = dict[str, Any]


def internal_error(where_from: BaseException, path: str) -> GatewayError:
    """Log where it broke (code locations only: no values, so no prompt or secret can leak)."""
    frames = traceback.extract_tb(where_from.__traceback__)[-3:]
    where = [f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in frames]
    get_logger("gateway").error("unhandled_error", path=path, error=type(where_from).__name__, where=where)
    return GatewayError(500, "The gateway hit an internal error.", "server_error", "internal_error")


def header_map(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict, decoded in one pass (the server lowercases the
    names; of a repeated header the last wins). Cheaper than Starlette's `Headers`, which scans
    and decodes the raw list again on every lookup."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


class HotPaths:
    """ASGI app: POST to one of `routes` runs its handler directly; the rest goes to `app`.

    `prefixes` serve APIs that carry a parameter in the path (Gemini's `/v1beta/models/{model}:
    {method}`): tried only once the exact lookup has missed, so the exact paths pay nothing."""

    def __init__(self, app: Any, routes: dict[str, Handler], prefixes: dict[str, Handler] | None = None) -> None:
        self.app = app
        self.routes = routes
        self.prefixes = tuple((prefixes or {}).items())
        self.prefix_keys = tuple(prefixes or ())  # one str.startswith call decides a miss

    def _by_prefix(self, path: str) -> Handler | None:
        for prefix, handler in self.prefixes:
            if path.startswith(prefix):
                return handler
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        handler = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if handler is None and scope["type"] == "http" and scope["path"].startswith(self.prefix_keys):
            handler = self._by_prefix(scope["path"])
        if handler is None or scope["method"] != "POST":
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            try:
                await self.app(scope, receive, send)
            except Exception:  # noqa: BLE001 - Starlette's ServerErrorMiddleware has answered and logged it
                pass  # (one JSON line) and re-raises it for the server, which would print a traceback
            return
        scope["app"] = self.app
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except GatewayError as err:
            response = err.response()
        except ClientDisconnect:  # the client left before its request was read: no answer, no error
            return
        except Exception as exc:
            response = internal_error(exc, scope["path"]).response()
        try:
            await response(scope, receive, send)
        except Exception as exc:  # the answer has started: it can only be logged
            internal_error(exc, scope["path"])


Head = tuple[tuple[bytes, bytes], ...]
JSON: Head = ((b"content-type", b"application/json"),)
EVENT_STREAM: Head = ((b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"))
SHUTTING_DOWN = GatewayError(503, "The gateway is shutting down: the stream was cut before its end.",
                             "service_unavailable", "server_shutting_down")
CUT = sse_error(SHUTTING_DOWN) + b"data: [DONE]\n\n"


class WholeReply:
    """A whole answer (JSON unless told otherwise) with its headers encoded once, then an optional
    follow-up (the settle), run after the last byte is sent, off the client's critical path."""

    __slots__ = ("status", "raw_headers", "body", "after")

    def __init__(self, body: bytes, headers: dict[str, str], status: int = 200,
                 after: Callable[[], Awaitable[None]] | None = None,
                 head: Head = JSON) -> None:
        self.status, self.body, self.after = status, body, after
        self.raw_headers = [*head, (b"content-length", b"%d" % len(body))]
        self.raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})
        if self.after is not None:
            await self.after()


class StreamCut(Exception):
    """Raised by a byte stream's frames when its upstream failed after the 200: the answer is
    left unfinished, the one way an audio body can tell its client it is not whole."""


class EventStream:
    """A `text/event-stream` answer relayed from an async iterator of frames.

    While it relays, a watcher reads the client's side; when the client goes away the relay is
    cancelled at once (so the upstream call stops too), as Starlette's StreamingResponse does,
    but with one plain task instead of a task group per stream. Cancelled by anything else (the
    server at the end of its SIGTERM grace), the stream still ends as a stream: an SSE error
    event, `[DONE]` and the end of the chunked body, instead of a connection cut mid-body.
    """

    def __init__(self, frames: AsyncIterator[bytes], headers: dict[str, str], status: int = 200,
                 cut: bytes | Callable[[], bytes] | None = CUT, head: Head | None = None) -> None:
        self.frames = frames
        self.status = status
        # the last bytes of a stream the server cuts, in the client's event format; a callable is
        # asked at the cut (a translator's events may depend on what it has sent: sequence numbers).
        # None: a byte stream (speech audio) with no way to say so; the body is left unfinished,
        # so the client sees the connection close before its end rather than a short answer
        self.cut = cut
        self.raw_headers = [*(head or EVENT_STREAM),
                            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        relay = asyncio.current_task()
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, relay))
        started = False
        try:
            await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
            started = True
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            started = False  # ended: nothing to add
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except StreamCut:  # the frames ended early in a stream with no error to send (cut=None)
            return
        except asyncio.CancelledError:
            if watcher.done() and watcher.result():  # the client left: a normal end for this task
                return
            if not started:
                raise
            if self.cut is None:
                return
            cut = self.cut() if callable(self.cut) else self.cut
            await send({"type": "http.response.body", "body": cut, "more_body": False})
            return  # the stream has ended cleanly; what cancelled it (the server's shutdown) goes on
        finally:
            watcher.cancel()
            await _close(self.frames)


async def _watch_disconnect(receive: Any, relay: "asyncio.Task[Any] | None") -> bool:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if relay is not None:
                relay.cancel()
            return True


async def _close(frames: AsyncIterator[bytes]) -> None:
    aclose = getattr(frames, "aclose", None)
    if aclose is not None:
        await aclose()


__all__ = ["CUT", "EVENT_STREAM", "SHUTTING_DOWN", "EventStream", "StreamCut", "HotPaths", "WholeReply", "header_map", "internal_error"]
