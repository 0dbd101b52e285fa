"""The Batch API's shared state (gateway/batch/): uploaded files and batches, changed only by
lua/file_put.lua and lua/batch_*.lua, read here. Their reference model is
gateway/state/reference_batch.py.

A batch's keys (record, input lines, results, chunk leases) share the prefix's hash tag with
the list of active batches, so each script touches one slot. Output and error files are not
stored twice: they are views of the batch's results (gateway/batch/files.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.state.values import as_int, as_text

FILE_FIELDS = ("owner", "purpose", "filename", "bytes", "lines", "created_us", "expires_us")
TIMES = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
STAGE_LINES = 500        # input lines per lua/batch_stage.lua call: a millisecond or two of the engine
STAGE_TTL_MS = 600_000   # staged lines of a batch never created go after this


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    owner: str
    purpose: str
    filename: str
    bytes: int
    lines: int
    created_us: int
    expires_us: int


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A batch as its record holds it. `n_left`: lines with no result when it ended (cancelled,
    expired), shown as error lines."""

    id: str
    owner: str
    endpoint: str
    input_file_id: str
    status: str
    created_us: int
    expires_us: int
    total: int
    n_ok: int
    n_err: int
    n_left: int
    bytes_ok: int
    bytes_err: int
    times: dict[str, int] = field(default_factory=dict)   # 'completed' -> µs, for the statuses reached
    metadata: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, batch_id: str, raw: dict[Any, Any]) -> "BatchRecord":
        h = {as_text(k): v for k, v in raw.items()}

        def i(name: str) -> int:
            return as_int(h.get(name))

        meta, errors = h.get("metadata"), h.get("errors")
        return cls(id=batch_id, owner=as_text(h.get("owner")), endpoint=as_text(h.get("endpoint")),
                   input_file_id=as_text(h.get("input_file_id")), status=as_text(h.get("status")),
                   created_us=i("created_us"), expires_us=i("expires_us"), total=i("total"), n_ok=i("n_ok"),
                   n_err=i("n_err"), n_left=i("n_left"), bytes_ok=i("bytes_ok"), bytes_err=i("bytes_err"),
                   times={t: i(f"{t}_us") for t in TIMES if h.get(f"{t}_us")},
                   metadata=orjson.loads(meta) if meta else None, errors=orjson.loads(errors) if errors else None)


@dataclass(frozen=True, slots=True)
class Claim:
    """A chunk of a batch's lines a worker holds: (index, line JSON) of those with no result yet."""

    batch_id: str
    chunk: str
    owner: str
    endpoint: str
    lines: tuple[tuple[int, bytes], ...]
    started: bool = False  # this claim made the batch in_progress


@dataclass(frozen=True, slots=True)
class NoClaim:
    """Nothing to run: `status` is wait, gone, or the batch's status; `ended`: this call ended it."""

    status: str
    ended: bool = False


@dataclass(frozen=True, slots=True)
class Results:
    """What a batch's files are made of: output lines by index, and the input lines of a batch that
    ended with lines not run (their custom_id for the error file)."""

    ok: dict[int, bytes]
    err: dict[int, bytes]
    inputs: dict[int, bytes]


class BatchState:
    """Typed calls of the batch scripts and reads of what they wrote. `state` is the StateStore
    or the GuardedState around it (anything with `scripts`, `client` and `keys`)."""

    def __init__(self, state: Any) -> None:
        self.scripts, self.client, self.keys = state.scripts, state.client, state.keys

    # ------------------------------------------------------------------ files
    async def put_file(self, file_id: str, owner: str, filename: str, data: bytes, lines: int, ttl_ms: int,
                       max_bytes: int) -> tuple[bool, str, int]:
        """(stored, reason '' / too_large / exists, engine µs)."""
        stored, reason, now = await self.scripts.call(
            "file_put", [self.keys.file(file_id)],
            [owner, "batch", filename, data, str(lines), str(ttl_ms), str(max_bytes)], pooled=True)
        return bool(int(stored)), as_text(reason), int(now)

    async def file(self, file_id: str) -> FileRecord | None:
        raw = await self.client.hmget(self.keys.file(file_id), list(FILE_FIELDS))
        if raw[0] is None:
            return None
        f = dict(zip(FILE_FIELDS, raw))
        return FileRecord(file_id, as_text(f["owner"]), as_text(f["purpose"]), as_text(f["filename"]),
                          as_int(f["bytes"]), as_int(f["lines"]), as_int(f["created_us"]), as_int(f["expires_us"]))

    async def file_data(self, file_id: str) -> bytes | None:
        data = await self.client.hget(self.keys.file(file_id), "data")
        return data.encode() if isinstance(data, str) else data

    # ------------------------------------------------------------------ batches
    async def create(self, batch_id: str, owner: str, endpoint: str, input_file_id: str, window_s: int,
                     keep_ms: int, metadata: dict[str, str] | None, errors: list[dict[str, Any]] | None,
                     lines: list[bytes]) -> tuple[bool, str]:
        """(created, its status, or why not: no_file / exists)."""
        keys = [*self.keys.batch(batch_id), self.keys.batches(), self.keys.owner_batches(owner),
                self.keys.file(input_file_id)]
        args: list[Any] = [batch_id, owner, endpoint, input_file_id, str(window_s), str(keep_ms),
                           orjson.dumps(metadata) if metadata else "", orjson.dumps(errors) if errors else "",
                           str(0 if errors else len(lines))]
        for first in range(0, 0 if errors else len(lines), STAGE_LINES):  # short calls (lua/batch_stage.lua)
            stored, _ = await self.scripts.call("batch_stage", keys[:2],
                                                [str(first), str(STAGE_TTL_MS), *lines[first:first + STAGE_LINES]],
                                                pooled=True)
            if not int(stored):
                return False, "exists"
        created, status, _ = await self.scripts.call("batch_create", keys, args, pooled=True)
        return bool(int(created)), as_text(status)

    async def batch(self, batch_id: str) -> BatchRecord | None:
        raw = await self.client.hgetall(self.keys.batch(batch_id)[0])
        return BatchRecord.of(batch_id, raw) if raw else None

    async def batch_ids(self, owner: str | None, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Batch ids newest first (one owner's, or every batch), after the id `after`; and whether
        there are more."""
        key = self.keys.batches() if owner is None else self.keys.owner_batches(owner)
        start = 0
        if after:
            rank = await self.client.zrevrank(key, after)
            if rank is None:
                return [], False
            start = rank + 1
        ids = [as_text(i) for i in await self.client.zrevrange(key, start, start + limit)]
        return ids[:limit], len(ids) > limit

    async def batches(self, ids: list[str]) -> list[BatchRecord]:
        """The records of `ids` that still exist, in that order."""
        pipe = self.client.pipeline(transaction=False)
        for batch_id in ids:
            pipe.hgetall(self.keys.batch(batch_id)[0])
        return [BatchRecord.of(i, raw) for i, raw in zip(ids, await pipe.execute()) if raw]

    async def active(self, n: int = 32) -> list[str]:
        """Batches that may have lines to run, oldest first."""
        return [as_text(i) for i in await self.client.zrange(self.keys.active_batches(), 0, n - 1)]

    async def claim(self, batch_id: str, most: int, lease_ms: int) -> Claim | NoClaim:
        """A chunk to run, or what the batch is doing instead."""
        reply = await self.scripts.call("batch_claim", self.keys.batch(batch_id), [batch_id, str(most), str(lease_ms)])
        head = as_text(reply[0])
        if head != "run":
            return NoClaim(head, bool(int(reply[2])))
        rest = reply[6:]
        lines = tuple((int(rest[i]), rest[i + 1] if isinstance(rest[i + 1], bytes) else rest[i + 1].encode())
                      for i in range(0, len(rest), 2))
        return Claim(batch_id, as_text(reply[1]), as_text(reply[2]), as_text(reply[3]), lines, bool(int(reply[5])))

    async def record(self, batch_id: str, index: int, ok: bool, line: bytes, chunk: str = "-", last: bool = False,
                     lease_ms: int = 1) -> tuple[bool, str, bool]:
        """(kept: the line had no result yet, the batch's status after it, whether it ended it)."""
        kept, status, _, ended = await self.scripts.call(
            "batch_record", self.keys.batch(batch_id),
            [batch_id, str(index), "ok" if ok else "err", line, chunk, "1" if last else "0", str(lease_ms)])
        return bool(int(kept)), as_text(status), bool(int(ended))

    async def cancel(self, batch_id: str, owner: str) -> tuple[str, bool] | None:
        """(the batch's status after the owner asked to cancel it, whether that changed it); None:
        no such batch of theirs."""
        found, status, _, changed = await self.scripts.call("batch_cancel", self.keys.batch(batch_id),
                                                            [batch_id, owner])
        return (as_text(status), bool(int(changed))) if int(found) else None

    async def results(self, batch_id: str, with_inputs: bool) -> Results:
        keys = self.keys.batch(batch_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys[2])
        pipe.hgetall(keys[3])
        if with_inputs:
            pipe.hgetall(keys[1])
        raw = await pipe.execute()

        def by_index(h: dict[Any, Any]) -> dict[int, bytes]:
            return {int(k): v if isinstance(v, bytes) else v.encode() for k, v in h.items()}

        return Results(by_index(raw[0]), by_index(raw[1]), by_index(raw[2]) if with_inputs else {})
