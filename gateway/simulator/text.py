"""Deterministic text, token, JSON and embedding generation.

Every provider format renders the same neutral `Reply` so that one request gives
the same answer whatever wire format carries it. Output is a pure function of
(seed, model, prompt text, choice index), which is what lets tests compare a
streamed answer with a non-streamed one. Token rules are deliberately simple so
tests can check usage exactly:

* prompt tokens = ceil(characters / 4) of all message text, at least 1;
* completion tokens = pieces emitted; a text piece is one word (with its
  leading space), a JSON piece is 4 characters.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

WORDS: tuple[str, ...] = tuple(
    """alpha bright cloud delta echo forest garden harbor island jasmine kettle
    lantern meadow north ocean pepper quiet river silver timber umbra valley willow
    xenon yellow zephyr amber breeze copper dune ember fable glacier horizon ivory
    juniper kindle lumen marble nectar orbit prism quartz ripple sable tundra
    upland velvet wander yonder zenith anchor beacon canyon drift""".split()
)

JSON_PIECE_CHARS = 4


def rng_for(*parts: object) -> random.Random:
    """A Random seeded from a stable hash of `parts` (Python's hash() is salted)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def unit_draw(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) for fault injection decisions."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def prompt_tokens(text_len: int) -> int:
    """ceil(chars/4), at least 1."""
    return max(1, (text_len + 3) // 4)


# Providers bill a chat's framing too: OpenAI's rule is 3 tokens around each message and 3 that
# prime the reply (role markers and separators); the others bill theirs in the same range.
FRAME_PER_MESSAGE = 3
FRAME_PER_REQUEST = 3


def billed_prompt_tokens(texts: list[str]) -> int:
    """What a chat's prompt is billed: its text plus the framing of each message and the reply."""
    return prompt_tokens(sum(len(t) for t in texts)) + FRAME_PER_MESSAGE * len(texts) + FRAME_PER_REQUEST


@lru_cache(maxsize=4096)
def word_pieces(seed: int, model: str, prompt: str, index: int, count: int) -> tuple[str, ...]:
    """`count` words as pieces ("Word", " word", " word." ...), sentence-cased.

    One SHAKE digest supplies all the randomness (a byte per word choice and per
    sentence length): much cheaper per request than seeding a Random.
    """
    stream = hashlib.shake_128(repr((seed, model, prompt, index)).encode()).digest(2 * count + 1)
    pieces: list[str] = []
    capital = True
    until_stop = 5 + stream[-1] % 7
    n_words = len(WORDS)
    for i in range(count):
        word = WORDS[stream[i] % n_words]
        if capital:
            word = word.capitalize()
            capital = False
        until_stop -= 1
        if until_stop == 0 or i == count - 1:
            word += "."
            capital = True
            until_stop = 5 + stream[count + i] % 7
        pieces.append(word if i == 0 else " " + word)
    return tuple(pieces)


def json_pieces(text: str) -> tuple[str, ...]:
    """Split serialized JSON into fixed-size pieces (each one token)."""
    return tuple(text[i : i + JSON_PIECE_CHARS] for i in range(0, len(text), JSON_PIECE_CHARS)) or ("",)


def value_for_schema(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value that satisfies a (JSON Schema / Gemini OpenAPI subset) schema."""
    if not isinstance(schema, dict):
        return WORDS[rng.randrange(len(WORDS))]
    if "enum" in schema and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return value_for_schema(schema[key][0], rng, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    kind = str(kind).lower() if kind else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties") or {}
        if depth > 4:
            return {}
        return {name: value_for_schema(sub, rng, depth + 1) for name, sub in props.items()}
    if kind == "array":
        if depth > 4:
            return []
        low = int(schema.get("minItems", 1))
        return [value_for_schema(schema.get("items"), rng, depth + 1) for _ in range(max(low, 1))]
    if kind == "integer":
        low = int(schema.get("minimum", 1))
        high = int(schema.get("maximum", max(low, 1) + 99))
        return rng.randint(low, max(low, high))
    if kind == "number":
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", low + 100.0))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return WORDS[rng.randrange(len(WORDS))]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A generated function call; `pieces` are the argument JSON in token-sized parts."""

    call_id: str
    name: str
    arguments: str
    pieces: tuple[str, ...]
    truncated: bool = False
    custom: bool = False  # a custom (freeform) tool's call: `arguments` is its plain-text input


@dataclass(frozen=True, slots=True)
class Reply:
    """One generated choice, independent of wire format.

    finish: "stop" (natural end), "length" (max tokens hit), "stop_sequence"
    (a stop string cut it; `stop_sequence` says which), "tool" (a tool call).
    """

    pieces: tuple[str, ...]
    finish: str
    output_tokens: int
    stop_sequence: str | None = None
    tool_call: ToolCall | None = None
    is_json: bool = False

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(slots=True)
class Ask:
    """What a request asks for, extracted by each format's parser."""

    model: str
    prompt: str
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    json_schema: Any = None  # dict schema, or True for "any JSON object"
    tools: list[tuple[str, Any]] = field(default_factory=list)  # (name, parameters schema)
    tool_choice: str | None = None  # None/"auto", "none", "required", or a tool name
    last_is_tool_result: bool = False
    tool_result: str = ""  # the text of the tool results that end the conversation
    custom: frozenset[str] = frozenset()  # which of `tools` are custom (freeform): called with plain text


def _apply_stop(pieces: tuple[str, ...], stops: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """Cut the text before the earliest stop string; the partial last piece stays."""
    text = "".join(pieces)
    best: tuple[int, str] | None = None
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1 and (best is None or at < best[0]):
                best = (at, stop)
    if best is None:
        return pieces, None
    cut, out, used = best[0], [], 0
    for piece in pieces:
        if used >= cut:
            break
        out.append(piece[: cut - used])
        used += len(piece)
    return tuple(out), best[1]


def _choose_tool(ask: Ask) -> tuple[str, Any] | None:
    if not ask.tools or ask.tool_choice == "none" or ask.last_is_tool_result:
        return None
    if ask.tool_choice not in (None, "auto", "required"):
        for name, schema in ask.tools:
            if name == ask.tool_choice:
                return name, schema
    lowered = ask.prompt.lower()
    for name, schema in ask.tools:
        if name.lower() in lowered:
            return name, schema
    return ask.tools[0]


def generate(ask: Ask, seed: int, index: int, target_tokens: int, id_prefix: str) -> Reply:
    """Build choice `index` of the reply to `ask` (target length before max_tokens)."""
    limit = ask.max_tokens if ask.max_tokens is not None else None
    tool = _choose_tool(ask)
    if tool is not None:
        rng = rng_for(seed, ask.model, ask.prompt, index, "tool")
        custom = tool[0] in ask.custom
        if custom:  # plain text, a word a piece
            pieces = word_pieces(seed, ask.model, ask.prompt, index, max(1, target_tokens))
        else:
            pieces = json_pieces(orjson.dumps(value_for_schema(tool[1] or {"type": "object"}, rng)).decode())
        truncated = limit is not None and len(pieces) > limit
        if truncated:
            pieces = pieces[:limit]
        call_id = id_prefix + rng.getrandbits(96).to_bytes(12, "big").hex()[:24]
        call = ToolCall(call_id, tool[0], "".join(pieces), pieces, truncated, custom)
        return Reply((), "length" if truncated else "tool", len(pieces), tool_call=call)
    if ask.json_schema is not None:
        rng = rng_for(seed, ask.model, ask.prompt, index, "json")
        if isinstance(ask.json_schema, dict):
            obj = value_for_schema(ask.json_schema, rng)
        else:
            words = word_pieces(seed, ask.model, ask.prompt, index, max(1, target_tokens // 2))
            obj = {"answer": "".join(words)}
        pieces = json_pieces(orjson.dumps(obj).decode())
        is_json = True
    else:
        pieces = word_pieces(seed, ask.model, ask.prompt, index, max(1, target_tokens))
        is_json = False
    finish = "stop"
    if limit is not None and len(pieces) > limit:
        pieces, finish = pieces[:limit], "length"
    pieces, stop_hit = _apply_stop(pieces, ask.stop)
    if stop_hit is not None:
        finish = "stop_sequence"
    return Reply(pieces, finish, len(pieces), stop_sequence=stop_hit, is_json=is_json)


@lru_cache(maxsize=1024)
def chunk_sizes(seed: int, total: int) -> tuple[int, ...]:
    """Split `total` pieces into stream chunks of 1-4 pieces (deterministic)."""
    rng = rng_for(seed, "chunks", total)
    sizes: list[int] = []
    while total > 0:
        size = min(total, rng.randint(1, 4))
        sizes.append(size)
        total -= size
    return tuple(sizes)


def group(pieces: tuple[str, ...], seed: int) -> list[tuple[str, int]]:
    """Join pieces into stream chunks: (text, tokens in it)."""
    out, at = [], 0
    for size in chunk_sizes(seed, len(pieces)):
        out.append(("".join(pieces[at : at + size]), size))
        at += size
    return out


@lru_cache(maxsize=2048)
def embedding(seed: int, model: str, text: str, dims: int) -> tuple[float, ...]:
    """A unit-length vector; equal texts give equal vectors."""
    rng = rng_for(seed, model, text, "embed")
    raw = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    # Round-trip through float32 so float and base64 encodings agree exactly.
    return struct.unpack(f"<{dims}f", struct.pack(f"<{dims}f", *(v / norm for v in raw)))
