"""Upper bounds of the tokens a provider bills for an image, an audio clip or a file part.

Each number is the provider's published formula (sources in docs/cost.md, "Prompt token bound").
An image's size is read from the header of a base64 data URL (PNG, JPEG, GIF, WebP: a few dozen
bytes decoded, no pixels); an image given by URL, or one whose header cannot be read, is billed
the largest amount the provider bills for any one image.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from typing import Any

# OpenAI tile models (gpt-4o, gpt-4.1, gpt-4.5, o1, o3, gpt-5 at 85/170 or less): low detail is a
# flat 85; high/auto fit the image in 2048x2048, scale its short side to 768, 170 per 512 px tile.
OPENAI_TILE_BASE, OPENAI_TILE, OPENAI_LOW = 85, 170, 85
# OpenAI patch models (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano, gpt-5.2+): 32 px patches, at
# most 1,536 (2,500 for gpt-5.4 at high), times a per-model multiplier, the largest being 2.46
# (gpt-4.1-nano); `detail: low` does not lower them.
OPENAI_PATCH_CAP, OPENAI_PATCH_CAP_HIGH, OPENAI_PATCH_MULT, OPENAI_PATCH_MULT_HIGH = 1536, 2500, 2.46, 1.2
OPENAI_ORIGINAL = 12_000  # `detail: "original"` (gpt-5.4+): up to 10,000 patches x 1.2, not verified
# Anthropic: w*h/750 after fitting the long edge in 1568 px and ~1.15 MP (at most ~1,600) up to
# Opus 4.6; from Opus 4.7 one token per 28x28 px patch, long edge up to 2576 px, at most 4,784.
ANTHROPIC_MAX = 4784
# Gemini: 258 per 768x768 tile (2.x; 258 when both sides are at most 384 px); Gemini 3 bills a
# fixed allowance per image, 1,120 at the default HIGH resolution and 2,240 at ULTRA_HIGH.
GEMINI_TILE, GEMINI3_MAX, GEMINI_TILES_MAX = 258, 2240, 16

AUDIO_BYTES_PER_TOKEN = 16  # Gemini bills 32 tokens a second, OpenAI 10: a 4 kbit/s clip or richer
PDF_PAGE_TOKENS = 3000 + ANTHROPIC_MAX  # a page's text (Anthropic: 1,500-3,000) plus its image
PDF_MAX_PAGES = 100  # Anthropic's and OpenAI's page limit per document
PDF_BYTES_PER_PAGE = 1000  # when the page objects cannot be counted (compressed object streams)
_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height from a base64 data URL's header, without decoding the pixels."""
    if not url.startswith("data:"):
        return None
    comma = url.find(",", 0, 100)
    if comma < 0 or ";base64" not in url[:comma]:
        return None
    chunk = url[comma + 1:comma + 1 + 64 * 1024]  # a JPEG's SOF can follow EXIF/ICC segments
    chunk = chunk[:len(chunk) // 4 * 4]
    try:
        head = base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return None
    return _png(head) or _gif(head) or _webp(head) or _jpeg(head)


def _png(b: bytes) -> tuple[int, int] | None:
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24:
        return struct.unpack(">II", b[16:24])
    return None


def _gif(b: bytes) -> tuple[int, int] | None:
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        return struct.unpack("<HH", b[6:10])
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP" or len(b) < 30:
        return None
    kind = b[12:16]
    if kind == b"VP8 ":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        return int.from_bytes(b[24:27], "little") + 1, int.from_bytes(b[27:30], "little") + 1
    return None


def _jpeg(b: bytes) -> tuple[int, int] | None:
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(b[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", b[i + 5:i + 9])
            return w, h
        i += 2 + length
    return None


def _openai_tiles(w: int, h: int) -> int:
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    scale = 768 / min(w, h)
    if scale < 1:
        w, h = w * scale, h * scale
    return math.ceil(w / 512) * math.ceil(h / 512)


def _patches(w: int, h: int, cap: int) -> int:
    patches = math.ceil(w / 32) * math.ceil(h / 32)
    return min(patches, cap)


def openai_image(size: tuple[int, int] | None, detail: str) -> int:
    if detail == "original":
        return OPENAI_ORIGINAL
    if size is None:
        tile = OPENAI_TILE_BASE + OPENAI_TILE * 8  # 768x2048 after scaling: 2x4 tiles
        return max(tile, math.ceil(OPENAI_PATCH_CAP * OPENAI_PATCH_MULT),
                   math.ceil(OPENAI_PATCH_CAP_HIGH * OPENAI_PATCH_MULT_HIGH))
    w, h = max(1, size[0]), max(1, size[1])
    tile = OPENAI_LOW if detail == "low" else OPENAI_TILE_BASE + OPENAI_TILE * _openai_tiles(w, h)
    return max(tile, math.ceil(_patches(w, h, OPENAI_PATCH_CAP) * OPENAI_PATCH_MULT),
               math.ceil(_patches(w, h, OPENAI_PATCH_CAP_HIGH) * OPENAI_PATCH_MULT_HIGH))


def anthropic_image(size: tuple[int, int] | None) -> int:
    if size is None:
        return ANTHROPIC_MAX
    w, h = max(1, size[0]), max(1, size[1])
    return min(ANTHROPIC_MAX, max(math.ceil(w * h / 750), math.ceil(w / 28) * math.ceil(h / 28)))


def gemini_image(size: tuple[int, int] | None) -> int:
    if size is None:
        return max(GEMINI3_MAX, GEMINI_TILE * GEMINI_TILES_MAX)
    w, h = size
    tiles = 1 if w <= 384 and h <= 384 else math.ceil(w / 768) * math.ceil(h / 768)
    return max(GEMINI3_MAX, GEMINI_TILE * min(tiles, GEMINI_TILES_MAX))


def image_bound(part: dict[str, Any], family: str) -> int:
    """Tokens of one `image_url` (or `input_image`) content part."""
    spec = part.get("image_url")
    url, detail = (spec, "auto") if isinstance(spec, str) else (
        (spec.get("url"), spec.get("detail") or "auto") if isinstance(spec, dict) else (None, "auto"))
    size = image_size(url) if isinstance(url, str) else None
    values = []
    if family in ("openai", "any"):
        values.append(openai_image(size, detail))
    if family in ("anthropic", "any"):
        values.append(anthropic_image(size))
    if family in ("gemini", "any"):
        values.append(gemini_image(size))
    return max(values)


def audio_bound(part: dict[str, Any]) -> int:
    """Tokens of an `input_audio` part: its encoded length bounds its duration (at >= 4 kbit/s)."""
    spec = part.get("input_audio")
    data = spec.get("data") if isinstance(spec, dict) else None
    size = len(data) * 3 // 4 if isinstance(data, str) else 0
    return size // AUDIO_BYTES_PER_TOKEN + 64


def file_bound(part: dict[str, Any]) -> int:
    """Tokens of a `file` part (PDF): every page's text and image; a file by id counts as the
    longest document a provider accepts."""
    spec = part.get("file")
    data = spec.get("file_data") if isinstance(spec, dict) else None
    if not isinstance(data, str):
        return PDF_MAX_PAGES * PDF_PAGE_TOKENS
    comma = data.find(",", 0, 100)
    try:
        raw = base64.b64decode(data[comma + 1:] if data.startswith("data:") else data)
    except (binascii.Error, ValueError):
        raw = data.encode()
    pages = len(_PAGE.findall(raw)) or -(-len(raw) // PDF_BYTES_PER_PAGE)
    return min(pages, PDF_MAX_PAGES * 6) * PDF_PAGE_TOKENS
