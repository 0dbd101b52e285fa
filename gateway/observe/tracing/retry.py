"""What the exporter makes of a collector's answer, and how long it waits before trying again.

The OTLP/HTTP specification's rules: 429, 502, 503 and 504 are retryable, and so is no answer at
all (no connection, a timeout); every other status is final (a 400 will be a 400 again). A
retry waits an exponential backoff with jitter, or the time the collector's `Retry-After` asks
(seconds or an HTTP date). A 2xx may carry a partial success: `partialSuccess.rejectedSpans`
spans were refused for good, and are not to be sent again.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Mapping

import orjson

from gateway.net.upstream import Posted

RETRYABLE = frozenset({429, 502, 503, 504})
EXPORTED, RETRY, REJECTED = "exported", "retry", "rejected"


def outcome(answer: Posted | None) -> str:
    """EXPORTED (2xx), RETRY (a retryable status, or no answer), else REJECTED."""
    if answer is None or answer.status in RETRYABLE:
        return RETRY
    return EXPORTED if 200 <= answer.status < 300 else REJECTED


def rejected_spans(answer: Posted) -> tuple[int, str]:
    """Of a 2xx: how many spans a partial success refused, and the collector's message. A body
    that is not OTLP JSON (empty, protobuf, a proxy's page) refused none."""
    body = answer.body
    if not body or body[:1] != b"{":
        return 0, ""
    try:
        partial = orjson.loads(body).get("partialSuccess")
        if not isinstance(partial, dict):
            return 0, ""
        count = int(partial.get("rejectedSpans") or 0)  # int64: a JSON string as protobuf writes it
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0, ""
    message = partial.get("errorMessage")
    return max(0, count), message[:200] if isinstance(message, str) else ""


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """`Retry-After` in seconds (delay-seconds or an HTTP date, RFC 9110 §10.2.3); None when absent
    or unreadable, so the backoff decides."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with jitter: before retry n (1, 2...) a wait drawn from the upper half of
    `base_s` x 2^(n-1), capped at `max_s` (the jitter spreads the workers of a replica that all
    saw the collector fail at once). A `Retry-After` replaces the draw; one longer than `max_s`
    is not waited out with the batch held (the caller gives the batch up and holds its exports)."""

    base_s: float = 0.5
    max_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_s, self.base_s * 2 ** (retry - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
