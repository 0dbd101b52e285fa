"""The last request bodies the providers received, for a test to read what a gateway sent upstream
(`GET /_sim/requests`): an ASGI wrapper that keeps a copy of each provider call's body as it is
read, so no handler changes. Control paths (`/_sim/...`) are not kept.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Awaitable, Callable

import orjson

KEPT = 50  # the most recent bodies kept
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Received:
    """The recent provider calls: method, path, query string and the body's bytes."""

    def __init__(self) -> None:
        self.calls: deque[tuple[str, str, str, bytes]] = deque(maxlen=KEPT)

    def clear(self) -> None:
        self.calls.clear()

    def listing(self, last: int = KEPT) -> list[dict[str, Any]]:
        """Oldest first; a JSON body parsed, any other as text."""
        out = []
        for method, path, query, body in list(self.calls)[-last:] if last > 0 else []:
            try:
                doc: Any = orjson.loads(body) if body else None
            except orjson.JSONDecodeError:
                doc = body.decode(errors="replace")
            out.append({"method": method, "path": path, "query": query, "body": doc})
        return out


class Recording:
    """ASGI middleware (`app.add_middleware(Recording, received=...)`): each provider call's body
    kept in `received` once it has been read whole."""

    def __init__(self, app: ASGIApp, received: Received) -> None:
        self.app, self.received = app, received

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith("/_sim/"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []

        async def keeping() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.received.calls.append((scope["method"], scope["path"],
                                                scope.get("query_string", b"").decode(), b"".join(chunks)))
            return message

        await self.app(scope, keeping, send)
