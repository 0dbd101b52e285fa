"""multipart/form-data (RFC 7578), as OpenAI's audio endpoints take an upload: read a client's
body into its parts, and write parts back out for the provider with only `model` changed.

The body has been read whole under `server.max_body_bytes`, so the parser splits bytes in memory
(no streaming parser, no dependency); it keeps each part's bytes as they came.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from gateway.errors import bad_request

MAX_PARTS = 64  # OpenAI's forms have a dozen fields; more is not a real client
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"The form field '{self.name[:40]}' is not UTF-8 text.", self.name[:40]) from None


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data content type; a 400 for any other content type."""
    if not content_type or content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise bad_request("This endpoint takes a multipart/form-data upload (the audio in a 'file' field).",
                          code="unsupported_content_type")
    params = {k.lower(): quoted or bare for k, quoted, bare in _PARAM.findall(content_type)}
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise bad_request("The multipart/form-data content type has no valid boundary.")
    return boundary.encode("latin-1")


def parse_form(content_type: str | None, body: bytes) -> list[Part]:
    """The form's parts in order; a 400 for a body that is not one."""
    delimiter = b"\r\n--" + boundary_of(content_type)
    pieces = (b"\r\n" + body).split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise bad_request("The multipart/form-data body is malformed or cut short (no closing boundary).")
    if len(pieces) - 2 > MAX_PARTS:
        raise bad_request(f"The form has more than {MAX_PARTS} fields.")
    return [_part(piece) for piece in pieces[1:-1]]


def _part(piece: bytes) -> Part:
    end = piece.find(b"\r\n\r\n")
    if not piece.startswith(b"\r\n") and not piece[:1].isspace() or end < 0:
        raise bad_request("A multipart/form-data part is malformed (no blank line after its headers).")
    disposition = content_type = None
    for line in piece[:end].decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-disposition":
            disposition = value.strip()
        elif name.strip().lower() == "content-type":
            content_type = value.strip()
    if disposition is None or disposition.split(";", 1)[0].strip().lower() != "form-data":
        raise bad_request("A multipart/form-data part has no 'Content-Disposition: form-data' header.")
    params = {k.lower(): (q.replace('\\"', '"') if q else b) for k, q, b in _PARAM.findall(disposition)}
    if not params.get("name"):
        raise bad_request("A multipart/form-data part has no field name.")
    return Part(params["name"], piece[end + 4:], params.get("filename"), content_type)


def _quoted(value: str) -> str:
    """A name or file name inside quotes, as browsers and the SDKs' encoders write it (RFC 7578 4.2)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode_form(parts: list[Part]) -> tuple[bytes, str]:
    """The parts as a body and its content type, under a fresh boundary no part contains."""
    while True:
        boundary = "gateway-" + secrets.token_hex(16)
        mark = boundary.encode("ascii")
        if not any(mark in p.data for p in parts):
            break
    out = []
    for p in parts:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(p.name)}"'
        if p.filename is not None:
            head += f'; filename="{_quoted(p.filename)}"'
        if p.content_type:
            head += f"\r\nContent-Type: {p.content_type}"
        out += [head.encode("utf-8"), b"\r\n\r\n", p.data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
