"""uvicorn's and the standard library's log records as one JSON line each, like the gateway's own.

uvicorn logs through `logging` with a text formatter, and an exception it catches ("Exception in
ASGI application") comes out as a multi-line traceback in the middle of the JSON-lines log, which
log pipelines split into one broken record per line. Here every record is one line: the message,
and for an exception its type and the last code locations (file:line:function, never values, so
no prompt or secret can leak through a traceback).
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from gateway.observe.log import redact


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"event": redact(record.getMessage())[:2000], "logger": record.name,
                                  "level": record.levelname.lower()}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)[-3:]
            fields["error"] = type(exc).__name__
            fields["where"] = [f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in frames]
        fields["timestamp"] = datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z")
        return orjson.dumps(fields).decode()


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.observe.logconfig.JsonLineFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {
        "uvicorn": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "asyncio": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["stdout"], "level": "WARNING"},
}
