"""OpenAI `file` parts (and so an Anthropic client's `document` blocks, which the Messages inbound
turns into them) → Converse `document` blocks: `{"document": {"format", "name", "source":
{"bytes"}}}`, the base64 data as it came (the JSON protocol's way of carrying bytes).

Converse reads nine document formats, told by the data URL's media type (or, for
`application/octet-stream`, by the file name's extension); an image sent as a file becomes an
`image` block. Anything else is the request's 400, naming the part, rather than Bedrock's
ValidationException after a round trip. Bedrock's rules for `name`: 1-200 characters, only
letters and digits, single whitespace, hyphens, parentheses and square brackets, and no two
documents of one request with the same name; so the file name is cleaned and numbered here.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import bad_request, shown
from gateway.providers import openai_side

DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
}
EXTENSIONS = frozenset(DOCUMENT_FORMATS.values())
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
NAME_MAX = 200
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\s()\[\]-]+")  # Bedrock: alphanumerics, whitespace, - ( ) [ ]
_SPACES = re.compile(r"\s+")


class DocumentNames:
    """The document names one request has used: Bedrock refuses two documents of one name."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def name(self, filename: Any) -> str:
        """A name Bedrock takes, from the client's file name (its extension dropped), made unique."""
        stem = filename.rsplit(".", 1)[0] if isinstance(filename, str) and "." in filename[1:] else filename
        base = _SPACES.sub(" ", _NOT_ALLOWED.sub("-", stem if isinstance(stem, str) else "")).strip(" -")
        base = base[:NAME_MAX - 8].strip() or "document"
        name, n = base, 1
        while name.lower() in self._used:
            n += 1
            name = f"{base} ({n})"
        self._used.add(name.lower())
        return name


def _extension(filename: Any) -> str | None:
    if isinstance(filename, str) and "." in filename:
        ext = filename.rsplit(".", 1)[1].lower()
        return ext if ext in EXTENSIONS else None
    return None


def file_block(part: dict[str, Any], where: str, names: DocumentNames) -> dict[str, Any]:
    """A `file` part as a Converse `document` block (an image file as an `image` block); a 400
    for a file that is not inline or of a kind Converse does not read."""
    media_type, data = openai_side.file_data(part, where, " by this model (Bedrock reads bytes)")
    media_type = media_type.split(";", 1)[0].strip().lower()
    filename = part["file"].get("filename")
    if media_type in IMAGE_FORMATS:
        return {"image": {"format": IMAGE_FORMATS[media_type], "source": {"bytes": data}}}
    fmt = DOCUMENT_FORMATS.get(media_type)
    if fmt is None and media_type == "application/octet-stream":
        fmt = _extension(filename)
    if fmt is None:
        raise bad_request(f"{where}: file type {shown(media_type)} is not one this model reads (Bedrock Converse "
                          "takes pdf, csv, doc, docx, xls, xlsx, html, txt and md documents, and png, jpeg, gif "
                          "and webp images).", where)
    return {"document": {"format": fmt, "name": names.name(filename), "source": {"bytes": data}}}
