"""The keyring against a real engine: the first requests of a runtime key that arrive together
share one lookup (a cold worker at c=64 would otherwise send one per request), a guess is
looked up once, and a waiter that gives up does not cancel the others' lookup."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.auth import Authenticator
from gateway.errors import GatewayError
from gateway.pipeline.keyring import Keyring
from gateway.state.engine import start_single
from gateway.state.records import Records
from gateway.state.store import StateStore

SECRET = "sk-gw-keyring-test"


async def _reads(store: StateStore) -> int:
    """HGET + HGETALL the engine has run so far (the two reads of a lookup)."""
    stats = await store.client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("hget", "hgetall"))


def test_concurrent_first_requests_share_one_lookup(tmp_path: Path) -> None:
    engine = start_single(tmp_path / "engine")

    async def scenario() -> None:
        store = await StateStore.connect(engine.url, prefix="keyring", timeout_s=2.0)
        try:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            assert (await Records(store).key_write("create", "key_a", "test", {"name": "a"}, digest)).status == "ok"
            ring = Keyring(Authenticator(()), SimpleNamespace(store=store))
            headers = {"authorization": f"Bearer {SECRET}"}

            before = await _reads(store)
            keys = await asyncio.gather(*(ring.authenticate(headers) for _ in range(20)))
            assert {k.key_id for k in keys} == {"key_a"} and await _reads(store) - before == 2
            await ring.authenticate(headers)  # cached now: no read at all
            assert await _reads(store) - before == 2

            before = await _reads(store)
            guesses = await asyncio.gather(*(ring.authenticate({"authorization": "Bearer sk-gw-guess"})
                                             for _ in range(20)), return_exceptions=True)
            assert all(isinstance(g, GatewayError) and g.status == 401 for g in guesses)
            assert await _reads(store) - before == 1  # the index says no: one HGET

            other = hashlib.sha256(b"sk-gw-other").hexdigest()
            assert (await Records(store).key_write("create", "key_b", "test", {"name": "b"}, other)).status == "ok"
            quitter = asyncio.ensure_future(ring.authenticate({"authorization": "Bearer sk-gw-other"}))
            stayer = asyncio.ensure_future(ring.authenticate({"authorization": "Bearer sk-gw-other"}))
            await asyncio.sleep(0)
            quitter.cancel()
            assert (await stayer).key_id == "key_b"
            with pytest.raises(asyncio.CancelledError):
                await quitter
        finally:
            await store.close()

    try:
        asyncio.run(scenario())
    finally:
        engine.stop()
