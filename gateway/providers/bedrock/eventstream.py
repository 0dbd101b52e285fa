"""An incremental decoder of AWS's binary event stream (`application/vnd.amazon.eventstream`).

`/converse-stream` answers with this framing instead of SSE. Each message is: a prelude (total
length, headers length, both 4-byte big-endian) and its CRC32, the headers, the payload, and a
CRC32 of everything before it. A header is a 1-byte name length, the name, a 1-byte value type and
the value (types 0-9: true, false, byte, short, int, long, bytes, string, timestamp, uuid; bytes
and strings carry a 2-byte length). Both CRCs are checked: a corrupt stream is a ValueError, which
the relay treats as a failed stream.

`EventStreamParser` has the SSE parser's interface (`feed(chunk)` → `(event, data)` pairs), so the
relay handles both alike: an event message gives (`:event-type`, payload); an exception message
(`:message-type` exception) gives (b"exception:" + `:exception-type`, payload); an error message
gives (b"error:" + `:error-code`, `{"message": :error-message}`).
"""

from __future__ import annotations

import struct
import zlib

import orjson

MAX_MESSAGE = 16 << 20  # bytes; Bedrock's events are small: a bigger length is a corrupt prelude
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}  # value type → its fixed size


def parse_headers(data: bytes) -> dict[str, bytes | int | bool]:
    """A message's headers; strings and byte arrays as bytes, numbers as ints."""
    headers: dict[str, bytes | int | bool] = {}
    pos = 0
    while pos < len(data):
        size = data[pos]
        name = data[pos + 1:pos + 1 + size].decode()
        pos += 1 + size
        kind = data[pos]
        pos += 1
        if kind in (6, 7):
            (length,) = struct.unpack_from(">H", data, pos)
            headers[name] = data[pos + 2:pos + 2 + length]
            pos += 2 + length
        elif kind in _FIXED:
            width = _FIXED[kind]
            raw = data[pos:pos + width]
            headers[name] = (kind == 0) if kind < 2 else (int.from_bytes(raw, "big", signed=True) if kind != 9 else raw)
            pos += width
        else:
            raise ValueError(f"event stream header {name!r} has an unknown value type {kind}")
        if pos > len(data):
            raise ValueError("event stream headers are truncated")
    return headers


def _text(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value or "").encode()


class EventStreamParser:
    """Bytes in arbitrary network chunks → whole messages as (event, payload) pairs."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[tuple[bytes, bytes]] = []
        pos = 0
        while len(buf) - pos >= 12:
            total, headers_len, prelude_crc = struct.unpack_from(">III", buf, pos)
            if zlib.crc32(buf[pos:pos + 8]) != prelude_crc:
                raise ValueError("event stream prelude CRC mismatch")
            if total > MAX_MESSAGE or total < 16 + headers_len:
                raise ValueError(f"event stream message length {total} is impossible")
            if len(buf) - pos < total:
                break
            (message_crc,) = struct.unpack_from(">I", buf, pos + total - 4)
            if zlib.crc32(buf[pos:pos + total - 4]) != message_crc:
                raise ValueError("event stream message CRC mismatch")
            headers = parse_headers(buf[pos + 12:pos + 12 + headers_len])
            out.append(_event(headers, buf[pos + 12 + headers_len:pos + total - 4]))
            pos += total
        self._buf = buf[pos:]
        return out

    def close(self) -> list[tuple[bytes, bytes]]:
        """A stream that ends inside a message has lost it: the relay sees the stream cut short."""
        self._buf = b""
        return []


def _event(headers: dict[str, bytes | int | bool], payload: bytes) -> tuple[bytes, bytes]:
    kind = _text(headers.get(":message-type") or b"event")
    if kind == b"exception":
        return b"exception:" + _text(headers.get(":exception-type")), payload
    if kind == b"error":
        message = _text(headers.get(":error-message")).decode(errors="replace")
        return b"error:" + _text(headers.get(":error-code")), orjson.dumps({"message": message})
    return _text(headers.get(":event-type")), payload

