"""Scanning one request's prompt with a policy, and redacting it in place.

What is read: every string under the canonical `messages` (text content, text parts, tool
results, tool-call arguments, the system prompt), and under the content fields of the client's
own-format copy (NATIVE: Anthropic `system`/`messages`, Gemini `contents`/`systemInstruction`,
Responses `instructions`/`input`), which a same-format provider receives instead of the
canonical fields; an embeddings request's `input`. What is never read or changed: the keys
that name or sign things (SKIP: ids, roles, types, signatures, thinking blocks a provider
signed, base64 data, URLs), so a redacted request is still one the provider takes.

A tool call's `arguments` is a JSON document in a string: its string values are redacted and
the document written again, so it stays valid JSON (a string that is not JSON is redacted as
text). A placeholder is the detector's name and a number, `[EMAIL_1]`: one value keeps one
number throughout the request, numbered in the order the conversation first shows it, so a
client that resends a conversation gets the same placeholders every turn; a number a
placeholder already in the text holds (a stored earlier turn) is not given to another value.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.guard.detectors import Span
from gateway.guard.scanner import Scanner

SKIP = frozenset({
    "type", "role", "id", "name", "model", "signature", "thinking", "redacted_thinking", "thinking_blocks",
    "encrypted_content", "data", "media_type", "mime_type", "mimeType", "tool_use_id", "tool_call_id", "call_id",
    "url", "image_url", "file_url", "file_id", "file_data", "fileData", "file_uri", "fileUri", "inlineData",
    "inline_data", "cache_control", "extra_content", "thoughtSignature", "thought_signature", "citations",
    "detail", "format", "status", "x_gateway_native",
})
"""Keys whose values are identifiers, signatures, binary data or references, never prompt text."""

JSON_STRINGS = frozenset({"arguments"})
"""Keys whose string value is a JSON document (OpenAI tool calls, Responses function calls)."""

NATIVE_CONTENT = ("system", "messages", "contents", "systemInstruction", "system_instruction", "instructions",
                  "input")
"""The fields of a client's own-format body (NATIVE) that hold its prompt."""

_PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]{0,31})_([0-9]{1,6})\]")

Slot = tuple[Any, Any, str, bool]  # (container, key or index, the string there, whether it is a JSON document)


def collect(value: Any, slots: list[Slot], container: Any = None, key: Any = None) -> None:
    """Every string under `value` to scan, in document order, with where it sits (`container` and
    `key` say where `value` itself sits, for a string at the top). Parsed JSON holds exact types,
    so `type(x) is` tests suffice (and cost less than isinstance on the hot path)."""
    kind = type(value)
    if kind is str:
        if value and container is not None:
            slots.append((container, key, value, False))
    elif kind is dict:
        for k, item in value.items():
            kind = type(item)
            if kind is str:
                if k not in SKIP:
                    if item:
                        slots.append((value, k, item, k in JSON_STRINGS))
                elif k == "data" and item and value.get("type") == "text":
                    slots.append((value, k, item, False))  # an Anthropic plain-text document's source
            elif (kind is dict or kind is list) and k not in SKIP:
                collect(item, slots)
    elif kind is list:
        for i, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if item:
                    slots.append((value, i, item, False))
            elif kind is dict or kind is list:
                collect(item, slots)


class Scan:
    """One request's scan under one scanner: per detector the distinct values found, and, when
    `write`, each value's placeholder number (the strings are then replaced where they sit)."""

    __slots__ = ("scanner", "write", "values", "taken", "next")

    def __init__(self, scanner: Scanner, write: bool) -> None:
        self.scanner, self.write = scanner, write
        self.values: dict[str, dict[str, int]] = {}  # detector -> value -> its number
        self.taken: dict[str, set[int]] = {}         # placeholder label -> numbers already in the text
        self.next: dict[str, int] = {}               # detector -> the next number to try

    def counts(self) -> tuple[tuple[str, int], ...]:
        """(detector, distinct values found), in the scanner's order; only detectors that found some."""
        return tuple((d.name, len(self.values[d.name])) for d in self.scanner.detectors if d.name in self.values)

    def run(self, slots: list[Slot]) -> None:
        """Scan the strings of `slots` (all at once), then record and, when writing, redact them
        in document order."""
        found = self.scanner.find_all([slot[2] for slot in slots])
        # JSON with \u escapes may hide a finding from a scan of its raw text: it is parsed anyway
        escaped = any(is_json and "\\u" in text for _, _, text, is_json in slots)
        if not escaped and not any(found):
            return
        for (container, key, text, is_json), spans in zip(slots, found):
            if is_json and (spans or "\\u" in text):
                new = self._json(text, spans)
            elif spans or (self.write and "[" in text):
                new = self.apply(text, spans)
            else:
                continue
            if new is not text:
                container[key] = new

    def _json(self, raw: str, spans: tuple[Span, ...]) -> str:
        """A JSON document in a string: its string values scanned, the document written again
        (so it stays valid JSON); a string that is not JSON is scanned as text."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self.apply(raw, spans)
        holder = [doc]
        inner: list[Slot] = []
        collect(doc, inner, holder, 0)
        self.run(inner)
        if not self.write:
            return raw
        try:
            return orjson.dumps(holder[0]).decode()
        except orjson.JSONEncodeError:  # an integer past 64 bits: scanned as text instead
            return self.apply(raw, spans)

    def apply(self, text: str, spans: tuple[Span, ...]) -> str:
        """`text` with `spans` (findings in it) recorded and, when writing, replaced by placeholders."""
        if not self.write:
            for s in spans:
                self.values.setdefault(s.detector, {}).setdefault(text[s.start:s.end], 0)
            return text
        marks = [(m.start(), m.group(1), int(m.group(2))) for m in _PLACEHOLDER.finditer(text)] if "[" in text else []
        out, at, mark = [], 0, 0
        for s in spans:
            while mark < len(marks) and marks[mark][0] < s.start:  # placeholders before it hold their numbers
                self.taken.setdefault(marks[mark][1], set()).add(marks[mark][2])
                mark += 1
            out.append(text[at:s.start])
            out.append(self._placeholder(s.detector, text[s.start:s.end]))
            at = s.end
        for _, label, number in marks[mark:]:
            self.taken.setdefault(label, set()).add(number)
        if not spans:
            return text
        out.append(text[at:])
        return "".join(out)

    def _placeholder(self, detector: str, found: str) -> str:
        label = detector.upper()
        numbers = self.values.setdefault(detector, {})
        number = numbers.get(found)
        if number is None:
            taken = self.taken.get(label, ())
            number = self.next.get(detector, 1)
            while number in taken:
                number += 1
            numbers[found] = number
            self.next[detector] = number + 1
        return f"[{label}_{number}]"
