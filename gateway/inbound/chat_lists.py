"""The list fields of a chat stream, numbered for the openai SDK's stream helper and back.

The gateway's answers carry lists OpenAI's chat API does not stream (`annotations` of a web
search, its `reasoning_items`, Claude's `thinking_blocks`), each entry sent whole in a chunk when
it is ready, so one answer may send a list in several chunks. The openai SDK's
`client.chat.completions.stream(...)` merges a list across chunks by its entries' `index` and
raises `RuntimeError` on an entry without one. So a chat client's stream numbers those entries by
their place in the whole answer's list, and the numbers are taken out of the assistant messages
a client sends back, so that no provider and no stored answer sees them (the canonical stream and
the cache's copy of it never carry them).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

LIST_FIELDS = ("annotations", "reasoning_items", "thinking_blocks")
# One of them as a key (a quote inside a JSON string is escaped, so never there); one regex
# search costs about half of three `in` tests, on every frame of every chat stream.
_LIST_KEY = re.compile(rb'"(?:annotations|reasoning_items|thinking_blocks)"')


def has_list_field(frames: bytes) -> bool:
    return _LIST_KEY.search(frames) is not None


class EntryNumbers:
    """The next index of each (choice, field) in one stream."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[tuple[int, str], int] = {}

    def number(self, frames: bytes) -> bytes:
        """`frames` (SSE `data:` events) with an `index` on every entry of a list field."""
        out = []
        for event in frames.split(b"\n\n"):
            if event.startswith(b"data: {") and has_list_field(event):
                chunk = orjson.loads(event[6:])
                if self._number_chunk(chunk):
                    event = b"data: " + orjson.dumps(chunk)
            out.append(event)
        return b"\n\n".join(out)

    def _number_chunk(self, chunk: Any) -> bool:
        changed = False
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            for field in LIST_FIELDS:
                entries = delta.get(field)
                if not isinstance(entries, list):
                    continue
                key = (choice.get("index") or 0, field)
                at = self._next.get(key, 0)
                for entry in entries:
                    if isinstance(entry, dict):
                        entry["index"] = at
                        at += 1
                        changed = True
                self._next[key] = at
        return changed


def without_entry_numbers(messages: list[Any]) -> None:
    """Take the stream's numbers out of the list fields of the assistant messages sent back (in place)."""
    for message in messages:
        if not isinstance(message, dict) or len(message) < 3 or message.get("role") != "assistant":
            continue
        for field in LIST_FIELDS:
            entries = message.get(field)
            if isinstance(entries, list):
                for entry in entries:
                    if isinstance(entry, dict):
                        entry.pop("index", None)
