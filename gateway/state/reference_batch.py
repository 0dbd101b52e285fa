"""The reference model of lua/batch_create.lua (its lines staged by batch_stage.lua first),
batch_claim.lua, batch_record.lua and batch_cancel.lua (with lua/lib/batch.lua): batches of lines
handed out in leased chunks, one result per line, and the ends a batch reaches (completed,
cancelled, expired).

Driven by the engine's clock (each script's `now_us`), it must give the same answers as the
scripts (tests/state/test_batch_store.py checks that on random operations). Key expiry is not
modelled: the tests keep batches far longer than they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
STALE_TRIES = 5  # chunks batch_claim looks at in one call


@dataclass
class ModelBatch:
    owner: str
    endpoint: str
    status: str
    total: int
    expires_us: int
    lines: dict[int, str]
    next: int = 0
    n_left: int = 0
    ok: dict[int, str] = field(default_factory=dict)
    err: dict[int, str] = field(default_factory=dict)
    leases: dict[str, int] = field(default_factory=dict)  # chunk 'a:b' -> lease deadline µs
    times: dict[str, int] = field(default_factory=dict)

    def has_result(self, i: int) -> bool:
        return i in self.ok or i in self.err


@dataclass
class BatchStoreModel:
    batches: dict[str, ModelBatch] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)

    def create(self, id_: str, owner: str, file_owner: str | None, endpoint: str, window_s: int, errors: bool,
               lines: list[str], now: int) -> tuple[int, str]:
        if id_ in self.batches:
            return 0, "exists"
        if file_owner != owner:
            return 0, "no_file"
        status = "failed" if errors else "validating"
        b = ModelBatch(owner, endpoint, status, 0 if errors else len(lines), now + window_s * 1_000_000,
                       {} if errors else dict(enumerate(lines)))
        if errors:
            b.times["failed"] = now
        else:
            self.active.add(id_)
        self.batches[id_] = b
        return 1, status

    def settle(self, id_: str, now: int) -> tuple[str, int]:
        """(status, 1 if this call ended the batch)."""
        b = self.batches[id_]
        if b.status in ENDED:
            return b.status, 0
        done = len(b.ok) + len(b.err)
        held = sum(1 for until in b.leases.values() if until > now)
        if done >= b.total:
            final = "completed"
        elif held == 0 and b.status == "cancelling":
            final = "cancelled"
        elif held == 0 and now >= b.expires_us:
            final = "expired"
        else:
            return b.status, 0
        b.status, b.n_left = final, b.total - done
        b.times[final] = now
        self.active.discard(id_)
        b.leases.clear()
        if final == "completed":
            b.times["finalizing"] = now
            b.lines.clear()
        return final, 1

    def claim(self, id_: str, most: int, lease_ms: int, now: int) -> tuple:
        """('run', chunk, owner, endpoint, started, ((index, line), ...)) or (word, ended)."""
        b = self.batches.get(id_)
        if b is None:
            self.active.discard(id_)
            return ("gone", 0)
        if b.status == "cancelling" or now >= b.expires_us:
            return self.settle(id_, now)
        if b.status not in ("validating", "in_progress"):
            self.active.discard(id_)
            return (b.status, 0)
        for _ in range(STALE_TRIES):
            stale = sorted((until, chunk) for chunk, until in b.leases.items() if until <= now)
            if stale:
                chunk = stale[0][1]
                a, z = (int(x) for x in chunk.split(":"))
            elif b.next < b.total:
                a, z = b.next, min(b.next + most, b.total)
                chunk, b.next = f"{a}:{z}", z
            else:
                final, ended = self.settle(id_, now)
                return ("completed" if final == "completed" else "wait", ended)
            todo = tuple((i, b.lines[i]) for i in range(a, z) if not b.has_result(i))
            if todo:
                b.leases[chunk] = now + lease_ms * 1000
                started = int(b.status == "validating")
                if started:
                    b.status = "in_progress"
                    b.times["in_progress"] = now
                return ("run", chunk, b.owner, b.endpoint, started, todo)
            b.leases.pop(chunk, None)
        return ("wait", 0)

    def record(self, id_: str, index: int, ok: bool, line: str, chunk: str, last: bool, lease_ms: int,
               now: int) -> tuple[int, str, int]:
        b = self.batches.get(id_)
        if b is None:
            return 0, "gone", 0
        kept = 0
        if b.status not in ENDED and not b.has_result(index):
            (b.ok if ok else b.err)[index] = line
            kept = 1
        if chunk != "-" and b.status not in ENDED:
            if last:
                b.leases.pop(chunk, None)
            elif chunk in b.leases:
                b.leases[chunk] = now + lease_ms * 1000
        return (kept, *self.settle(id_, now))

    def cancel(self, id_: str, owner: str, now: int) -> tuple[int, str, int]:
        """(found, status after it, 1 if it changed)."""
        b = self.batches.get(id_)
        if b is None or b.owner != owner:
            return 0, "", 0
        changed = int(b.status in ("validating", "in_progress"))
        if changed:
            b.status = "cancelling"
            b.times["cancelling"] = now
        return 1, self.settle(id_, now)[0], changed
