"""Observed tokens per request for each (model, task), read from Redis off the hot path.

Settle keeps running sums in `{prefix}:tokstats` (fields `n:`, `in:`, `out:` + `<model>:<task>`);
each worker refreshes a local copy every few seconds, so ranking candidates by expected cost costs
no round trip. Every replica reads the same hash, so they rank alike within one refresh period.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Callable

DEFAULT_OUTPUT_TOKENS = 300  # before a (model, task) has been seen


class TokenStats:
    def __init__(self, default_out: int = DEFAULT_OUTPUT_TOKENS) -> None:
        self.default_out = default_out
        self._avg_out: dict[tuple[str, str], int] = {}
        self._avg_in: dict[tuple[str, str], int] = {}

    def avg_out(self, model: str, task: str) -> int:
        return self._avg_out.get((model, task), self.default_out)

    def avg_in(self, model: str, task: str) -> int | None:
        return self._avg_in.get((model, task))

    def load(self, raw: dict[Any, Any]) -> None:
        """Replace the local copy from an HGETALL of the tokstats hash."""
        fields = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        avg_out: dict[tuple[str, str], int] = {}
        avg_in: dict[tuple[str, str], int] = {}
        for name, count in fields.items():
            if not name.startswith("n:") or count <= 0:
                continue
            model, _, task = name[2:].rpartition(":")
            avg_out[(model, task)] = fields.get(f"out:{model}:{task}", 0) // count
            avg_in[(model, task)] = fields.get(f"in:{model}:{task}", 0) // count
        self._avg_out, self._avg_in = avg_out, avg_in

    async def refresh_forever(self, read: Callable[[], Awaitable[dict[str, int]]], every_s: float = 5.0) -> None:
        """Reload from `read` (the state API's `ops.tokstats`) every `every_s` seconds."""
        while True:
            with contextlib.suppress(Exception):  # a Redis blip keeps the last known figures
                self.load(await read())
            await asyncio.sleep(every_s)
