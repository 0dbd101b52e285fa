"""Native answers: what the relay needs when the client's API is the provider's own wire format
(gateway.inbound.base.AnswersNatively).

`ProviderEvents` wraps the adapter's stream decoder: the decoder still reads every event (usage,
the end of the stream, an error event that fails the attempt over before the first byte), but
the frames handed on are the provider's own events, so the relay, its first-frame wait and its
accounting stay the same code for both kinds of answer. `referenced_fault` judges a provider's
403/404 on a request that names the provider's own resources (a Gemini `cachedContent`) as the
request's, not as the gateway's key or model being wrong.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from gateway.pricing import Usage
from gateway.providers.base import StreamDecoder, UpstreamError

if TYPE_CHECKING:
    from gateway.pipeline.cache_stream import Collector


FINISH_REASON = re.compile(rb'"finish_reason":\s*"([A-Za-z_]{1,32})"')  # in a canonical chunk (tracing on)


def note_finish_reasons(frames: Iterable[bytes], into: list[str]) -> None:
    """The finish reasons canonical chunks carry, for the trace's spans (the frames go on unchanged)."""
    for frame in frames:
        if b'"finish_reason"' in frame:
            into.extend(r.decode() for r in FINISH_REASON.findall(frame))


def sse_frame(event: bytes, data: bytes) -> bytes:
    """One event as SSE with CRLF delimiters (Google's framing); a multi-line data keeps its lines."""
    head = b"event: " + event + b"\r\n" if event else b""
    if b"\n" not in data:
        return head + b"data: " + data + b"\r\n\r\n"
    return head + b"".join(b"data: " + line + b"\r\n" for line in data.split(b"\n")) + b"\r\n"


class ProviderEvents:
    """A `StreamDecoder` whose frames are the provider's events as they came (`sse_frame`). The
    decoder's canonical frames are made anyway: they feed the response cache and, for a sampled
    trace, its finish reasons (in the canonical names, as on every other path)."""

    __slots__ = ("inner", "collector", "reasons")

    def __init__(self, inner: StreamDecoder, collector: "Collector | None" = None,
                 reasons: list[str] | None = None) -> None:
        self.inner = inner
        self.collector = collector  # the canonical frames, for the response cache
        self.reasons = reasons      # the trace's finish reasons (a sampled trace only)

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    @property
    def done(self) -> bool:
        return self.inner.done

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        frames = self.inner.feed(event, data)  # raises StreamError on an error event, as on the canonical path
        if self.collector is not None:
            self.collector.feed(b"".join(frames))
        if self.reasons is not None:
            note_finish_reasons(frames, self.reasons)
        return [sse_frame(event, data)]

    def finish(self) -> list[bytes]:
        frames = self.inner.finish()  # estimates the output of a stream that never reported its usage
        if self.collector is not None:
            self.collector.feed(b"".join(frames))
        if self.reasons is not None:
            note_finish_reasons(frames, self.reasons)
        return []


def referenced_fault(err: UpstreamError) -> UpstreamError:
    """A 403/404 about something the request names (a cache of another project, or none): the
    request's error, passed to the client with its status; neutral for the breaker, no fallback
    (the next link would not hold it either). Without this a client naming a cache it does not
    have would open the deployment's breaker for every client, as a wrong provider key does."""
    if err.upstream_status not in (403, 404):
        return err
    return UpstreamError(err.upstream_status, err.message, "invalid_request_error", err.code, retryable=False,
                         upstream_status=err.upstream_status, request_fault=True)
