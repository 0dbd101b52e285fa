"""Flushing and counting the response cache's entries: operator actions, off the request path.

The entries carry no hash tag (gateway/state/keys.py), so they spread over every master of a
cluster and no one script can reach them all. Both actions SCAN every master with MATCH (the
cluster client visits each primary; one engine is one SCAN), and a flush UNLINKs what it finds
in batches (the memory is freed off the engine's main thread). Each is O(keys in the engine):
SCAN walks the whole keyspace, MATCH only filters what comes back. The request path never reads
anything of this: the lookup stays one script call on one key.

SCAN returns every key present from the start to the end of the walk, so an entry stored while
a flush runs (an answer that was on its way) may outlive it.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Collection

from gateway.state.keys import Keys, cache_pattern, cache_scope
from gateway.state.values import as_text

SCAN_COUNT = 1000   # keys the engine looks at per SCAN call (a hint): short calls, few round trips
UNLINK_BATCH = 500  # names per UNLINK (split per slot by the cluster client)


async def _names(client: Any, pattern: str) -> AsyncIterator[str]:
    async for name in client.scan_iter(match=pattern, count=SCAN_COUNT):
        yield as_text(name)


async def flush(client: Any, keys: Keys, scopes: Collection[str] | None) -> int:
    """Drop the entries of `scopes` (`key:<id>`, `team:<t>`...; None: every entry of this
    prefix) and say how many were dropped (an entry that expired meanwhile is not counted).
    One scope is matched by the engine; several are one walk over every entry, filtered here."""
    if scopes is not None and not scopes:
        return 0
    wanted = None if scopes is None else frozenset(scopes)
    pattern = cache_pattern(keys, next(iter(wanted)) if wanted is not None and len(wanted) == 1 else None)
    dropped, batch = 0, []
    async for name in _names(client, pattern):
        if wanted is not None and cache_scope(keys, name) not in wanted:
            continue
        batch.append(name)
        if len(batch) >= UNLINK_BATCH:
            dropped += int(await client.unlink(*batch))
            batch = []
    if batch:
        dropped += int(await client.unlink(*batch))
    return dropped


async def count(client: Any, keys: Keys) -> dict[str, int]:
    """Entries per scope, for `GET /admin/cache` (entries that expired are gone or soon will be:
    an entry's key outlives its TTL by a second)."""
    out: dict[str, int] = {}
    async for name in _names(client, cache_pattern(keys)):
        scope = cache_scope(keys, name)
        if scope is not None:
            out[scope] = out.get(scope, 0) + 1
    return out
