"""The reference model of lua/cache_put.lua and lua/cache_get.lua: the exact-match response
cache, one answer per key, served until its TTL has passed on the engine's clock.

Driven by the engine's clock (the scripts' `TIME`), it must give the same answers as the scripts
(tests/state/test_cache_store.py checks that on random operations).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CacheModel:
    """Entry key -> (answer, served until µs)."""

    entries: dict[str, tuple[bytes, int]] = field(default_factory=dict)

    def put(self, key: str, body: bytes, ttl_ms: int, max_bytes: int, now: int) -> tuple[int, str]:
        """Returns (stored, reason): a too large answer leaves what was there."""
        if len(body) > max_bytes:
            return 0, "too_large"
        self.entries[key] = (body, now + ttl_ms * 1000)
        return 1, ""

    def get(self, key: str, now: int) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]
