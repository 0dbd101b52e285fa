"""The settle journal: nothing lost while Redis is away, nothing counted twice on replay."""

from __future__ import annotations

from pathlib import Path

import orjson

from gateway.state.journal import Journal


class Ledger:
    """Stands in for the idempotent settle script: applies each id once, can be 'down'."""

    def __init__(self) -> None:
        self.applied: dict[str, int] = {}
        self.down_after: int | None = None
        self.calls = 0

    async def settle(self, entry: dict) -> bool:
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            raise ConnectionError("redis is down")
        if entry["req_id"] in self.applied:
            return False
        self.applied[entry["req_id"]] = entry["cost"]
        return True


async def test_replay_applies_everything_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(10):
        journal.append({"req_id": f"r{i}", "cost": i})
    assert journal.pending() == 10
    ledger = Ledger()
    ledger.down_after = 4  # Redis drops again in the middle of the replay
    await journal.replay(ledger.settle)
    assert len(ledger.applied) == 4 and journal.pending() == 10
    journal.append({"req_id": "r10", "cost": 10})  # a settle journaled while Redis is still down
    ledger.down_after = None
    await journal.replay(ledger.settle)
    assert ledger.applied == {f"r{i}": i for i in range(11)}
    assert journal.pending() == 0
    await journal.replay(ledger.settle)
    assert len(ledger.applied) == 11
    journal.close()


async def test_dead_workers_journal_is_adopted(tmp_path: Path) -> None:
    orphan = tmp_path / "journal-999999.jsonl"
    orphan.write_bytes(b"".join(orjson.dumps({"req_id": f"d{i}", "cost": 1}) + b"\n" for i in range(3))
                       + b'{"req_id": "torn')  # the dead worker crashed mid-write
    journal = Journal(tmp_path)
    ledger = Ledger()
    assert await journal.replay(ledger.settle) == 3
    assert set(ledger.applied) == {"d0", "d1", "d2"}
    assert not orphan.exists()
    journal.close()


async def test_live_workers_journal_is_left_alone(tmp_path: Path) -> None:
    other = Journal(tmp_path)
    other.path.rename(tmp_path / "journal-1.jsonl")  # pretend it belongs to another live worker
    other.append({"req_id": "x", "cost": 5})
    mine = Journal(tmp_path)
    ledger = Ledger()
    assert await mine.replay(ledger.settle) == 0
    other.close()
    assert await mine.replay(ledger.settle) == 1
    mine.close()
