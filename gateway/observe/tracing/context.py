"""W3C Trace Context: the `traceparent` and `tracestate` headers, new ids, and the sampling rule.

A header that does not follow the format starts a new trace; it is never an error (the client's
request is served the same). Ids come from `random.getrandbits`, which Python reseeds in every
forked worker, as the OpenTelemetry SDKs make theirs: ids must be unique, not secret.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# version-trace_id-parent_id-flags, lowercase hex; a later version may append fields after a "-"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
# a tracestate list member: key=value, the key a simple or a tenant@system key (W3C Trace Context §3.3)
_MEMBER = re.compile(r"[a-z0-9][a-z0-9_\-*/]{0,255}(@[a-z][a-z0-9_\-*/]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}"
                     r"[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
TRACESTATE_MAX_CHARS = 512  # a longer one is dropped rather than cut (the spec allows either)
SAMPLED = 0x01
_RATIO_SPACE = 1 << 64


@dataclass(frozen=True, slots=True)
class Parent:
    """The caller's span, as its `traceparent` (and `tracestate`) named it."""

    trace_id: str
    span_id: str
    sampled: bool
    tracestate: str = ""


def parse_traceparent(value: str | None, tracestate: str | None = None) -> Parent | None:
    """The parent a `traceparent` header names, or None when it is absent or malformed (all-zero
    ids, version ff, uppercase hex, version 00 with extra fields)."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return Parent(trace_id, span_id, bool(int(flags, 16) & SAMPLED), valid_tracestate(tracestate))


def valid_tracestate(value: str | None) -> str:
    """The `tracestate` to pass on: the header as it came when every member is well formed and
    there are at most 32, else "" (a vendor's state is not ours to repair)."""
    if not value or len(value) > TRACESTATE_MAX_CHARS:
        return ""
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    if len(members) > 32 or not all(_MEMBER.fullmatch(m) for m in members):
        return ""
    return ",".join(members)


def format_traceparent(trace_id: str, span_id: str, sampled: bool) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


class Sampler:
    """Parent-based, then by trace id: a caller's decision is kept (sampled or not, so one trace
    is whole or absent); a new trace is recorded when the low 64 bits of its id fall below
    `ratio` of their range, the rule of OpenTelemetry's TraceIdRatioBased sampler, so every
    worker and replica decides a trace id alike."""

    def __init__(self, ratio: float) -> None:
        self.bound = round(min(1.0, max(0.0, ratio)) * _RATIO_SPACE)

    def sampled(self, trace_id: str, parent: Parent | None) -> bool:
        if parent is not None:
            return parent.sampled
        return int(trace_id[16:], 16) < self.bound
