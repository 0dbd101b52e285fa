"""An incremental Server-Sent-Events parser: bytes in, (event, data) pairs out.

Upstream streams arrive in arbitrary network chunks; this joins them into whole events
without buffering more than one event.
"""

from __future__ import annotations


class SSEParser:
    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event: bytes = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """Return the events completed by this chunk as (event name, data) pairs."""
        buf = self._buf + chunk if self._buf else chunk
        events: list[tuple[bytes, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append((self._event, b"\n".join(self._data)))
                self._event, self._data = b"", []
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                self._event = line[6:].strip()
            # comments (":") and other fields (id, retry) are ignored
        self._buf = buf[start:]
        return events

    def close(self) -> list[tuple[bytes, bytes]]:
        """Flush an event left without its blank line when the stream ends."""
        events = self.feed(b"\n\n") if (self._buf or self._data) else []
        self._buf = b""
        return events
