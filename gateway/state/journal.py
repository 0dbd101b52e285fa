"""A local append-only journal for settles that could not reach Redis, so spend is never lost.

Each worker appends JSON lines to its own file (held under an exclusive flock while it lives) and
fsyncs in batches. When Redis answers again the entries are replayed through the idempotent settle
script: an entry id is the attempt's request id, which settle records, so a crash between replay
and truncation, or a second replay, counts nothing twice. Files left by dead workers (their flock
is free) are adopted and replayed by the next worker that looks.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

Replay = Callable[[dict[str, Any]], Awaitable[bool]]


class Journal:
    def __init__(self, directory: Path, fsync_interval_s: float = 0.05) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"journal-{os.getpid()}.jsonl"
        self._fd = self._open()
        self._dirty = False
        self._interval = fsync_interval_s
        self._flusher: asyncio.Task[None] | None = None

    def _open(self) -> int:
        fd = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd

    def append(self, entry: dict[str, Any]) -> None:
        """Write one entry now; it is fsync'd within the batch interval (or at close)."""
        os.write(self._fd, orjson.dumps(entry) + b"\n")
        self._dirty = True
        if self._flusher is None or self._flusher.done():
            try:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())
            except RuntimeError:  # no loop (tests, shutdown): fsync at once
                self.sync()

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._interval)
        await asyncio.to_thread(self.sync)

    def sync(self) -> None:
        if self._dirty:
            self._dirty = False
            os.fsync(self._fd)

    def pending(self) -> int:
        """Entries waiting in every journal file of the directory (this worker's and adopted ones)."""
        return sum(1 for path in self.directory.glob("journal-*.jsonl") for _ in _entries(path))

    async def replay(self, settle: Replay) -> int:
        """Replay every journal file no live worker holds, this worker's own included; return how
        many entries were applied. Stops a file at the first entry Redis cannot take (still down);
        nothing is dropped.
        """
        self.sync()
        if os.fstat(self._fd).st_size:
            # Rotate first, so settles journaled while the replay runs go to a fresh file.
            os.rename(self.path, self.directory / f"journal-{os.getpid()}-{time.time_ns()}.jsonl")
            old, self._fd = self._fd, self._open()
            os.close(old)  # frees its lock: the rotated file is adopted below like any other
        applied = 0
        for other in sorted(self.directory.glob("journal-*.jsonl")):
            if other == self.path:
                continue
            try:
                fd = os.open(other, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live worker owns it, or is replaying it
                os.close(fd)
                continue
            try:
                entries = list(_entries(other))
                done = 0
                for entry in entries:
                    try:
                        await settle(entry)
                    except Exception:
                        break
                    done += 1
                applied += done
                if done == len(entries):
                    other.unlink(missing_ok=True)
                # After a partial replay the file stays whole: entries already applied are no-ops
                # when replayed again, since settle ignores a request id it has recorded.
            finally:
                os.close(fd)
        return applied

    def close(self) -> None:
        self.sync()
        os.close(self._fd)


def _entries(path: Path):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for line in data.splitlines():
        if line.strip():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:  # a torn last line from a crash mid-write
                continue
