"""Structured JSON logs through structlog: one line per request, never a prompt, never a secret."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

import orjson
import structlog

FIELD_LIMIT = 256  # characters of one client-controlled value in a log line or an error body
LINE_FIELD_LIMIT = 1024  # of any value in a structlog line (ours: exception details, paths)
LIST_LIMIT = 32  # items of a list in a structlog line
LONG_LINE = 2048  # a request line longer than this has its fields cut (it is ~600 bytes)


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    """`text` cut to `limit` characters, with a marker saying how long it was, so a client
    cannot make a log line (or an error body) as long as its request."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[cut: {len(text)} chars]"


_SECRET = re.compile(r"(?i)(bearer\s+|api[-_]?key[\"'=:\s]+|sk-)[A-Za-z0-9._\-]{6,}")


def _may_hold_secret(line: bytes) -> bool:
    """The substrings every `_SECRET` match starts with, found by C-speed scans of the line."""
    low = line.lower()
    return b"sk-" in low or b"bearer" in low or (b"api" in low and (
        b"apikey" in low or b"api_key" in low or b"api-key" in low))


def redact(text: str) -> str:
    """Mask anything shaped like a credential (bearer tokens, api keys, sk- keys)."""
    return _SECRET.sub(lambda m: m.group(1) + "[REDACTED]", text)


def _redact_processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Redact and bound every value: strings cut at LINE_FIELD_LIMIT, lists (a request's
    unknown field names, say) at LIST_LIMIT items of FIELD_LIMIT characters."""
    for name, value in event.items():
        if isinstance(value, str):
            if len(value) > 8:
                event[name] = redact(clip(value, LINE_FIELD_LIMIT))
        elif isinstance(value, (list, tuple)):
            items = [redact(clip(v)) if isinstance(v, str) else v for v in value[:LIST_LIMIT]]
            if len(value) > LIST_LIMIT:
                items.append(f"...[cut: {len(value)} items]")
            event[name] = items
    return event


def _clip_fields(fields: dict[str, Any]) -> None:
    """Cut every string (and every string in a list) of a request line to FIELD_LIMIT."""
    for name, value in fields.items():
        if isinstance(value, str):
            fields[name] = clip(value)
        elif isinstance(value, list):
            fields[name] = [clip(v) if isinstance(v, str) else v for v in value]


def _dumps(obj: Any, default: Any = None) -> bytes:
    return orjson.dumps(obj, default=default or str)


def configure(level: str = "info") -> None:
    """JSON lines on stdout; cheap enough for the hot path (orjson, no stdlib logging in between).

    Each line goes out as one write of bytes with its newline, so workers sharing stdout never
    interleave halves of lines (print() writes the newline separately when unbuffered).
    """
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "gateway") -> Any:
    return structlog.get_logger(name)


def _stdout_fd() -> int:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an in-memory stream
        return 1


class RequestLog:
    """The one line per request, in the same JSON shape as the structlog lines, without the
    processor chain (it cost ~40 µs a line; this ~6 µs).

    Lines written during one event-loop tick go out in one `write` (at most ~4 KB, below the
    pipe's atomic-write size, so workers sharing stdout never interleave parts of lines).
    Values are redacted like every other log line.
    """

    BATCH_BYTES = 3800

    def __init__(self, level: str = "info", fd: int | None = None) -> None:
        self.enabled = logging.getLevelNamesMapping()[level.upper()] <= logging.INFO
        self.fd = _stdout_fd() if fd is None else fd
        self._lines: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._second = -1
        self._prefix = ""

    def _timestamp(self) -> str:
        """ISO 8601 UTC with microseconds, as structlog's TimeStamper writes it; the date part is
        formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{int((now - second) * 1_000_000):06d}Z"

    def write(self, fields: dict[str, Any]) -> None:
        if not self.enabled:
            return
        fields["event"] = "request"
        fields["level"] = "info"
        fields["timestamp"] = self._timestamp()
        line = orjson.dumps(fields, default=str) + b"\n"
        if len(line) > LONG_LINE:  # a value the caller did not bound: lines stay below PIPE_BUF
            _clip_fields(fields)
            line = orjson.dumps(fields, default=str) + b"\n"
        if _may_hold_secret(line):  # a cheap scan of the whole line; redact field by field only on a hit
            for name, value in fields.items():
                if isinstance(value, str):
                    fields[name] = redact(value)
                elif isinstance(value, list):
                    fields[name] = [redact(v) if isinstance(v, str) else v for v in value]
            line = orjson.dumps(fields, default=str) + b"\n"
        if self._size + len(line) > self.BATCH_BYTES:
            self.flush()
        self._lines.append(line)
        self._size += len(line)
        if not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._scheduled = True
            except RuntimeError:  # no loop (a script or a test): write now
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        data, self._lines, self._size = b"".join(self._lines), [], 0
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:  # stdout closed: drop the log line rather than fail the request
            pass
