"""The reference model of lua/response_put.lua and lua/response_get.lua: stored Responses API
turns of one API key, with a TTL, a per-entry and a per-key size cap, oldest evicted first.

Driven by the engine's clock (the scripts' `TIME`), it must give the same answers as the
scripts (tests/state/test_response_store.py checks that on random operations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SWEEP = 16       # expired entries dropped per put
MAX_EVICT = 64   # oldest entries evicted per put


@dataclass
class ResponseStoreModel:
    """One API key's entries: id -> (data, expiry µs)."""

    entries: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    total: int = 0
    expires_us: int = 0  # when both keys are gone (the newest entry's PEXPIRE, at the engine's ms)

    def _alive(self, now: int) -> None:
        if self.entries and now >= self.expires_us:  # the keys themselves expired
            self.entries.clear()
            self.total = 0

    def _drop(self, victim: str) -> None:
        self.total -= len(self.entries.pop(victim)[0])

    def _by_expiry(self) -> list[str]:
        return sorted(self.entries, key=lambda i: (self.entries[i][1], i.encode()))

    def put(self, id_: str, data: bytes, ttl_ms: int, max_entry: int, max_key: int,
            now: int) -> tuple[int, str, int, int]:
        """Returns (stored, reason, bytes kept for the key, entries evicted)."""
        self._alive(now)
        for old in [i for i in self._by_expiry() if self.entries[i][1] <= now][:SWEEP]:
            self._drop(old)
        if len(data) > max_entry:
            return 0, "too_large", self.total, 0
        if id_ in self.entries:
            self._drop(id_)
        evicted = 0
        while self.total + len(data) > max_key:
            order = self._by_expiry()
            if not order or evicted == MAX_EVICT:
                return 0, "key_full", self.total, evicted
            self._drop(order[0])
            evicted += 1
        self.entries[id_] = (data, now + ttl_ms * 1000)
        self.total += len(data)
        self.expires_us = (now // 1000 + ttl_ms + 1) * 1000  # a key expires once the ms clock passes it
        return 1, "", self.total, evicted

    def get(self, id_: str, now: int) -> bytes | None:
        self._alive(now)
        entry = self.entries.get(id_)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]
