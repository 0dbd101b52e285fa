"""Wire-format adapters. Each module is a set of pure translation functions plus a stream decoder:

    to_upstream(chat: dict, dep: Deployment, stream: bool) -> UpstreamRequest
    from_upstream(data: bytes, dep: Deployment) -> tuple[dict, Usage]          # OpenAI body + usage
    StreamDecoder(dep, include_usage).feed(event, data) -> list[bytes]         # OpenAI SSE frames
                                     .finish() -> list[bytes]; .usage; .done
    error_from_upstream(status, data, headers) -> UpstreamError

No adapter does I/O: `gateway.net.upstream` sends what they build, so each can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Mapping

import orjson

from gateway.errors import bad_request

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


def as_object(value: Any, where: str) -> dict[str, Any]:
    """A field an adapter reads into: an object, or absent (an empty one); anything else is a
    400 naming it. The gateway validates these shapes at parse time; this keeps each adapter
    safe on its own."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    return value


def as_item(value: Any, where: str) -> dict[str, Any]:
    """An element of an array of objects (a message, a part, a tool, a tool call)."""
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """As `as_object`, for an array."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{where}' must be an array.", where)
    return value


def as_number(value: Any, where: str) -> int | float:
    """A numeric field an adapter does arithmetic on; a 400 for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"'{where}' must be a number.", where)
    return value


def as_count(value: Any, where: str) -> int:
    """A positive integer field (token limits, candidate count); a 400 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(f"'{where}' must be a positive integer.", where)
    return value


def as_strings(value: Any, where: str) -> list[Any]:
    """`stop`: one string or an array of them, as an array."""
    if isinstance(value, str):
        return [value]
    return as_list(value, where)


def encode(body: Any) -> bytes:
    """The provider's JSON body; a 400 for a value orjson will not write (nested deeper than 255
    levels, which it reads up to 1,024)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise bad_request(f"The request cannot be sent to the provider: {exc}.") from None


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
