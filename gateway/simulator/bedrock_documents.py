"""Converse `document` blocks, checked as the API reference states them: `format` one of nine,
a `name` of 1-200 characters (letters and digits, single whitespace, hyphens, parentheses, square
brackets) that no other document of the request has, and `source.bytes` (base64 in the JSON
protocol; S3 locations and the other sources are not simulated). A text document's text joins the
prompt, so it is counted and can be answered from; a binary one counts by its size.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .wire import BadRequest

FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
TEXT_FORMATS = ("csv", "html", "txt", "md")
NAME = re.compile(r"^(?:[A-Za-z0-9()\[\]-]|\s(?!\s)){1,200}$")
BYTES_PER_TOKEN = 4  # a binary document's share of the prompt: its size, as if it were text


def document_text(value: Any, where: str, names: set[str]) -> str:
    """The text a document adds to the prompt; a 400 for a block Bedrock would refuse."""
    if not isinstance(value, dict) or set(value) - {"format", "name", "source", "context", "citations"}:
        raise BadRequest(f"{where}.document: unknown member")
    if value.get("format") not in FORMATS:
        raise BadRequest(f"{where}.document.format: must be one of {', '.join(FORMATS)}")
    name = value.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise BadRequest(f"{where}.document.name: must be 1-200 characters: alphanumeric, single whitespace, "
                         "hyphens, parentheses, square brackets")
    if name.lower() in names:
        raise BadRequest(f"{where}.document.name: the document name {name!r} is used more than once in the request")
    names.add(name.lower())
    source = value.get("source")
    if not isinstance(source, dict) or set(source) != {"bytes"} or not isinstance(source["bytes"], str):
        raise BadRequest(f"{where}.document.source: bytes is required")
    try:
        raw = base64.b64decode(source["bytes"], validate=True)
    except binascii.Error:
        raise BadRequest(f"{where}.document.source.bytes: invalid base64") from None
    if not raw:
        raise BadRequest(f"{where}.document.source.bytes: the document is empty")
    if value["format"] in TEXT_FORMATS:
        return f"[{name}]\n" + raw.decode(errors="replace")
    return f"[{name}] " + "x " * (len(raw) // BYTES_PER_TOKEN)
