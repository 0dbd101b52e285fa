"""HTTP plumbing shared by the formats: orjson bodies, latency and paced SSE streams."""

from __future__ import annotations

import asyncio
import math
from typing import Any, AsyncIterator, Sequence

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .knobs import ModelKnobs
from .state import Fault

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class StreamAborted(Exception):
    """Raised inside a stream body so the server drops the connection mid-response."""


class BadRequest(Exception):
    """Raised by parsers; each format renders it in its own error shape."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


async def read_json(request: Request) -> Any:
    """The request body as JSON, or BadRequest with a message like the providers'."""
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"We could not parse the JSON body of your request: {exc}") from exc


def retry_headers(fault: Fault) -> dict[str, str]:
    """Retry-After (whole seconds, as HTTP requires) plus the millisecond variant OpenAI sends."""
    if fault.retry_after_s is None:
        return {}
    return {
        "retry-after": str(max(0, math.ceil(fault.retry_after_s))),
        "retry-after-ms": str(int(fault.retry_after_s * 1000)),
    }


async def non_stream_delay(knobs: ModelKnobs) -> None:
    if knobs.latency_ms > 0:
        await asyncio.sleep(knobs.latency_ms / 1000.0)


def sse_data(obj: Any) -> bytes:
    """One `data:` event (OpenAI / Gemini style)."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def sse_event(name: str, obj: Any) -> bytes:
    """One named event (Anthropic style)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def stream_response(
    events: Sequence[tuple[bytes, int]],
    knobs: ModelKnobs,
    garbage: bytes,
    tail: bytes = b"",
    headers: dict[str, str] | None = None,
    media_type: str = "text/event-stream",
) -> "StreamingResponse | BurstStream":
    """Stream `(event bytes, tokens in it)` pairs, paced by the model's knobs.

    `tail` (e.g. `data: [DONE]`) goes out after the events unless the stream is cut.
    `stream_cut_after` ends the stream cleanly after that many events (no final
    event); `stream_abort_after` sends that many events then drops the connection
    (no terminating chunk, like a provider crash); `garbage_stream` slips a
    non-JSON data line in after the first event.
    Without pacing everything goes out in one write: the fast path for benchmarks.
    """
    body: list[tuple[bytes, int]] = list(events)
    cut = knobs.stream_cut_after
    if cut is not None:
        body, tail = body[:cut], b""
    abort = knobs.stream_abort_after
    if abort is not None:
        body, tail = body[:abort], b""
    if knobs.garbage_stream:
        body.insert(min(1, len(body)), (garbage, 0))
    if tail:
        body.append((tail, 0))
    ttft = knobs.ttft_ms / 1000.0
    rate = knobs.tokens_per_s
    headers = {**SSE_HEADERS, **(headers or {})}
    if ttft <= 0 and rate <= 0 and abort is None:
        return BurstStream(b"".join(chunk for chunk, _ in body), headers, media_type)

    async def paced() -> AsyncIterator[bytes]:
        if ttft > 0:
            await asyncio.sleep(ttft)
        if rate <= 0:
            yield b"".join(chunk for chunk, _ in body)
        else:
            for chunk, tokens in body:
                yield chunk
                if tokens:
                    await asyncio.sleep(tokens / rate)
        if abort is not None:
            raise StreamAborted(f"simulated connection drop after {abort} events")

    return StreamingResponse(paced(), media_type=media_type, headers=headers)


class BurstStream:
    """An unpaced stream: every event in one chunked body message, then the last chunk.

    The same bytes on the wire as `StreamingResponse` with one piece, without its task group
    (which watches for a disconnect that cannot matter here): the simulator is the upstream of
    every benchmark row, so its cost per stream is part of what they measure.
    """

    def __init__(self, body: bytes, headers: dict[str, str], media_type: str = "text/event-stream") -> None:
        self.body = body
        kind = media_type + ("; charset=utf-8" if media_type.startswith("text/") else "")
        self.raw_headers = [(b"content-type", kind.encode("latin-1"))]
        self.raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
