"""The one multipart/form-data body the gateway reads: a Files API upload (`file` and `purpose`,
as the openai SDK's `files.create` sends them). A small reader of our own: the body is already
in memory under its size cap, and a form library would be a dependency for one endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from gateway.errors import bad_request


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    data: bytes


def _params(header: str) -> Message:
    msg = Message()
    msg["content-type"] = header
    return msg


def parse_form(body: bytes, content_type: str) -> dict[str, Part]:
    """The form's parts by name (the first of a repeated name); a 400 for a body that is not one."""
    boundary = _params(content_type or "").get_param("boundary")
    if not content_type.lower().startswith("multipart/form-data") or not isinstance(boundary, str) or not boundary:
        raise bad_request("Upload the file as multipart/form-data with the fields 'file' and 'purpose'.")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise bad_request("The multipart body is malformed (no closing boundary).")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("The multipart body is malformed (a part has no headers).")
        disposition = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        params = _params("form-data; " + disposition.partition(";")[2])
        name, filename = params.get_param("name"), params.get_param("filename")
        if isinstance(name, str) and name not in parts:
            parts[name] = Part(name, filename if isinstance(filename, str) else None, data)
    return parts
