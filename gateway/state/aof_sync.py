"""Flush the private engine's append-only files to disk once a second, from outside the engine.

The engine runs with `appendfsync no`: it write()s its append-only buffer before every reply
leaves, so what a client was told is in the kernel and survives the engine being killed. Its own
`everysec` mode does not give that: while its background fsync is slow (a busy disk) it holds
back the write() itself, for up to two seconds, and still replies; a kill then loses writes the
gateway saw acknowledged (a day's spend read back as 0 after a restart). The fsync it leaves out
is done here, in a thread of the process that owns the engine, so a host crash loses about the
last second, as with `everysec`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.observe.log import get_logger


def sync_append_files(directory: Path) -> int:
    """fdatasync every incremental append-only file in `directory`; return how many."""
    synced = 0
    for path in directory.glob("*.incr.aof"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # removed by a rewrite since the glob
            continue
        try:
            os.fdatasync(fd)  # flushes the file's dirty pages, whoever wrote them
            synced += 1
        finally:
            os.close(fd)
    return synced


class AppendFileSync:
    """A daemon thread that syncs the append-only directory every `interval_s` until `stop()`."""

    def __init__(self, directory: Path, interval_s: float = 1.0) -> None:
        self.directory = directory
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-aof-sync", daemon=True)

    def start(self) -> "AppendFileSync":
        self._thread.start()
        return self

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval_s):
            try:
                sync_append_files(self.directory)
                failing = False
            except OSError as exc:  # a full or failing disk: say so once, keep trying
                if not failing:
                    get_logger("gateway.state").error("engine_fsync_failed", error=type(exc).__name__,
                                                      detail=str(exc)[:200])
                failing = True

    def stop(self) -> None:
        """Stop, after one last sync (the engine has stopped writing by now)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            sync_append_files(self.directory)
        except OSError:
            pass
