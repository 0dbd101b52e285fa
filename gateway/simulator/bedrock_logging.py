"""Converse's `requestMetadata` and `performanceConfig`, and InvokeModel's
`X-Amzn-Bedrock-PerformanceConfig-Latency` header, checked as the API reference states them (a
ValidationException otherwise), and kept as Bedrock's model invocation log keeps them: each
accepted call's metadata and latency, the last few, in `/_sim/stats` (`invocation_log`), so a test
can see what reached "Bedrock".

Limits (the API reference's RequestMetadata): 1 to 16 entries; keys of 1-256 and values of 0-256
characters, letters, digits, whitespace and `:_@$#=/+,-.` only. Latency: `standard` | `optimized`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .wire import BadRequest

LATENCIES = ("standard", "optimized")
LATENCY_HEADER = "x-amzn-bedrock-performanceconfig-latency"
_KEY = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}", re.ASCII)
_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}", re.ASCII)
KEPT = 50  # entries of the invocation log kept


def request_metadata(body: dict[str, Any]) -> dict[str, str] | None:
    """The request's `requestMetadata`, checked; None without one."""
    meta = body.get("requestMetadata")
    if meta is None:
        return None
    if not isinstance(meta, dict) or not 1 <= len(meta) <= 16:
        raise BadRequest("requestMetadata: must be a map of 1 to 16 entries")
    for key, value in meta.items():
        if not _KEY.fullmatch(key):
            raise BadRequest(f"requestMetadata: key {key[:40]!r} does not satisfy the constraint "
                             "[a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}")
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            raise BadRequest(f"requestMetadata.{key}: value does not satisfy the constraint "
                             "[a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}")
    return meta


def converse_latency(body: dict[str, Any]) -> str | None:
    """The request's `performanceConfig.latency`, checked; None without one."""
    config = body.get("performanceConfig")
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"latency"}:
        raise BadRequest("performanceConfig: only latency is allowed")
    return _latency(config.get("latency", "standard"), "performanceConfig.latency")


def invoke_latency(headers: Mapping[str, str]) -> str | None:
    """InvokeModel's latency header, checked; None without one."""
    value = headers.get(LATENCY_HEADER)
    return None if value is None else _latency(value, "performanceConfigLatency")


def _latency(value: Any, where: str) -> str:
    if value not in LATENCIES:
        raise BadRequest(f"{where}: {str(value)[:40]!r} is not one of standard, optimized")
    return str(value)


def log(entries: list[dict[str, Any]], model: str, metadata: dict[str, str] | None, latency: str | None) -> None:
    """One accepted call in the invocation log (the oldest dropped past KEPT)."""
    entries.append({"model": model, "requestMetadata": metadata, "latency": latency})
    del entries[:-KEPT]
