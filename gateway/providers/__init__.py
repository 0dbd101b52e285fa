"""Wire-format adapters. Each module is a set of pure translation functions plus a stream decoder:

    to_upstream(chat: dict, dep: Deployment, stream: bool) -> UpstreamRequest
    from_upstream(data: bytes, dep: Deployment) -> tuple[dict, Usage]          # OpenAI body + usage
    StreamDecoder(dep, include_usage).feed(event, data) -> list[bytes]         # OpenAI SSE frames
                                     .finish() -> list[bytes]; .usage; .done
    error_from_upstream(status, data, headers) -> UpstreamError

No adapter does I/O: `gateway.upstream` sends what they build, so each can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Mapping

import orjson

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class UpstreamError:
    """A provider's failure, already in OpenAI terms; `status` is what the client gets if it is final."""

    status: int
    message: str
    type: str
    code: str | None
    retryable: bool
    retry_after_s: float | None = None
    upstream_status: int = 0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read Retry-After (seconds form) or retry-after-ms; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def client_status(upstream_status: int) -> tuple[int, str]:
    """The status a client should see for a final upstream failure, and the OpenAI error type.

    Provider 400/404/422 are the caller's problem and pass through as 400-class; a provider's 401/403
    means the operator's provider key is wrong, not the client's gateway key, so it becomes a 502.
    """
    if upstream_status in (400, 404, 413, 422):
        return (400 if upstream_status == 422 else upstream_status), "invalid_request_error"
    if upstream_status in (401, 403):
        return 502, "upstream_error"
    if upstream_status == 429:
        return 429, "rate_limit_error"
    if upstream_status in (408, 504):
        return 504, "timeout"
    return 502, "upstream_error"


def error_message(data: bytes) -> tuple[str, str | None]:
    """Best-effort message and code from any provider's JSON error body."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data[:300].decode(errors="replace").strip()
        return (text or "upstream returned an empty error body"), None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("status") or err.get("type")
        return str(err.get("message") or "upstream error"), (str(code) if code is not None else None)
    if isinstance(err, str):
        return err, None
    return "upstream error", None


_ADAPTERS: dict[str, ModuleType] = {}


def adapter_for(wire_format: str) -> ModuleType:
    """The adapter module of a wire format (imported once, then a dict lookup on the hot path)."""
    adapter = _ADAPTERS.get(wire_format)
    if adapter is not None:
        return adapter
    from gateway.providers import anthropic, azure, gemini, openai

    _ADAPTERS.update(openai=openai, azure=azure, anthropic=anthropic, gemini=gemini)
    try:
        return _ADAPTERS[wire_format]
    except KeyError:
        raise LookupError(f"no adapter for wire format {wire_format!r}") from None
