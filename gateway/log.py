"""Structured JSON logs through structlog: one line per request, never a prompt, never a secret."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson
import structlog

_SECRET = re.compile(r"(?i)(bearer\s+|api[-_]?key[\"'=:\s]+|sk-)[A-Za-z0-9._\-]{6,}")


def redact(text: str) -> str:
    """Mask anything shaped like a credential (bearer tokens, api keys, sk- keys)."""
    return _SECRET.sub(lambda m: m.group(1) + "[REDACTED]", text)


def _redact_processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for name, value in event.items():
        if isinstance(value, str) and len(value) > 8:
            event[name] = redact(value)
    return event


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
