"""Prompt tokens that a provider bills, bounded from above without its tokenizer.

Budgets and token buckets reserve a request's worst case before the upstream call, so the prompt
side must never be below what the provider bills. Tokenizers are not fast enough for the hot path
(`tiktoken` takes ~0.4 ms for 8,000 characters here) and Anthropic's and Gemini's are not public,
so this is a bound by content class: each UTF-8 byte is mapped to a class (ASCII vowels and
consonants by case, digits, spaces, line breaks, punctuation; the lead byte of every other
character by script block: Latin-1, Greek, Cyrillic, Hebrew, Arabic, Indic/Thai, CJK, kana,
Hangul, symbols, 4-byte emoji), the classes are counted with `bytes.translate` and `bytes.count`
(no Python loop per character), and the bound is a weighted sum plus a term for consonant runs
without vowels (identifiers, base64, hex) that tokenize densest. The weights are the tightest
that stay at or above every official count of the measurement corpus (an upper envelope, fitted
by `scripts/token_bound_report.py --fit`, 3% headroom); the figures and limits are in
docs/cost.md, "Prompt token bound".

`family` picks whose tokenizers the bound must cover: "openai" (o200k and cl100k), "anthropic"
(Claude 3 to 4.6, and Opus 4.7's denser vocabulary), "gemini", or "any" (the default: all).
"""

from __future__ import annotations

import math
from operator import mul
from typing import Any

import orjson

from gateway.pipeline.media_tokens import audio_bound, file_bound, image_bound


def _class_of(byte: int) -> str:
    if byte < 0x80:
        ch = chr(byte)
        if ch.isalpha():
            vowel = ch.lower() in "aeiouy"
            return ("V" if vowel else "U") if ch.isupper() else ("v" if vowel else "l")
        if ch.isdigit():
            return "d"
        if ch == " ":
            return "s"
        if ch in "\n\r\t" or byte < 0x20 or byte == 0x7F:
            return "n"
        return "p"
    if byte < 0xC0:
        return "."  # a continuation byte: its character is counted by its lead byte
    lead_classes = (
        (0xC2, 0xC2, "A"), (0xC3, 0xC5, "B"), (0xCE, 0xCF, "E"), (0xD0, 0xD3, "F"), (0xD6, 0xD7, "H"),
        (0xD8, 0xDB, "I"), (0xE0, 0xE0, "K"), (0xE1, 0xE1, "L"), (0xE2, 0xE2, "M"), (0xE3, 0xE3, "N"),
        (0xE4, 0xE9, "O"), (0xEA, 0xEA, "Y"), (0xEB, 0xED, "P"), (0xEE, 0xEF, "Q"), (0xF0, 0xF4, "R"),
    )
    for first, last, name in lead_classes:
        if first <= byte <= last:
            return name
    return "Z"  # the rarer 2-byte blocks (Latin Extended-B, IPA, Armenian, Syriac...), invalid leads


_TABLE = bytes(ord(_class_of(b)) for b in range(256))
ASCII_CLASSES = "vlVUdsn"  # punctuation is what remains
WIDE_CLASSES = "ABZEFHIKLMNOYPQR"
FEATURES = ("vowel", "consonant", "Vowel", "Consonant", "digit", "space", "newline", "punct",
            *WIDE_CLASSES, "excess", "breaks", "const")

# Weights per family, in FEATURES order; fitted by scripts/token_bound_report.py --fit.
# Each bound is at or above its own tokenizers' counts on the corpus ("any" takes the largest).
WEIGHTS: dict[str, tuple[float, ...]] = {
    "o200k": (0.474, 0.0, 1.187, 0.0, 1.499, 0.038, 1.026, 0.68, 0.5, 1.182, 2.0, 0.5, 0.4, 0.5, 0.5, 0.8, 1.0, 2.311, 0.8, 1.0, 3.073, 0.8, 1.106, 4.091, 1.139, 0.261, 2.087),
    "cl100k": (0.534, 0.0, 0.287, 0.352, 1.489, 0.367, 2.785, 0.673, 0.5, 2.971, 2.372, 1.012, 0.601, 1.163, 0.855, 1.47, 2.035, 1.665, 0.983, 1.702, 3.067, 1.43, 1.0, 4.093, 1.203, 0.101, 2.454),
    "anthropic": (0.367, 0.215, 1.859, 1.552, 1.332, 0.377, 1.099, 0.97, 3.161, 6.0, 2.0, 0.708, 0.4, 0.729, 0.738, 1.067, 1.0, 1.57, 1.11, 1.113, 3.085, 1.208, 1.093, 4.138, 0.708, 0.173, 7.429),
    "gemini": (0.34, 0.0, 1.848, 0.179, 1.448, 0.0, 1.351, 0.664, 0.618, 1.199, 2.0, 0.5, 0.4, 0.5, 0.5, 0.8, 1.0, 1.023, 0.8, 1.0, 3.084, 0.8, 1.0, 4.118, 0.843, 0.355, 2.292),
}
FAMILIES = ("o200k", "cl100k", "anthropic", "gemini", "any")  # "any": the largest of the four
_NARROW = [*range(8), 24, 25, 26]  # the features an ASCII text can have (its wide-script counts are 0)
_NARROW_WEIGHTS = {family: [w[i] for i in _NARROW] for family, w in WEIGHTS.items()}
_ASCII_KEYS = tuple(c.encode() for c in ASCII_CLASSES)  # single bytes: `map(mapped.count, ...)` runs in C
_WIDE_KEYS = tuple(c.encode() for c in WIDE_CLASSES)
_NO_WIDE = (0,) * len(WIDE_CLASSES)


def features(text: str) -> list[int]:
    """The class counts of `text`, in FEATURES order (the excess term and a 1 last)."""
    raw = text.encode("utf-8", "surrogatepass")
    mapped = raw.translate(_TABLE)
    counts = list(map(mapped.count, _ASCII_KEYS))
    if text.isascii():
        punct = len(raw) - sum(counts)
        wide: tuple[int, ...] | list[int] = _NO_WIDE
    else:  # most texts hold one or two scripts: `in` (memchr) skips the others
        wide = [mapped.count(c) if c in mapped else 0 for c in _WIDE_KEYS]
        punct = len(raw) - sum(counts) - mapped.count(b".") - sum(wide)
    vowels, consonants = counts[0] + counts[2], counts[1] + counts[3]
    return [*counts, punct, *wide, max(0, consonants - 2 * vowels), _breaks(raw), 1]


_COARSE = bytes(1 if chr(b).isalnum() or b >= 0x80 else 2 if b == 0x20 else 3 for b in range(256))


def _breaks(raw: bytes) -> int:
    """How often the byte class changes between word, space and other: the pieces a
    pre-tokenizer cuts, counted with one XOR of the text with itself shifted by a byte."""
    n = len(raw)
    if n < 2:
        return 0
    coarse = int.from_bytes(raw.translate(_COARSE), "little")
    return n - 1 - (coarse ^ (coarse >> 8)).to_bytes(n, "little")[:n - 1].count(0)


SHORT = 64  # characters; up to this a text is bounded by its UTF-8 length (a few dozen tokens over)


def family_of(wire_format: str, base_url: str) -> str:
    """Whose tokenizer a deployment bills with: OpenAI's own API and Azure use o200k, Anthropic
    and Gemini their own; any other OpenAI-compatible server (DeepSeek, vLLM, ...) is unknown."""
    if wire_format == "azure" or (wire_format in ("openai", "openai_responses")
                                  and ("api.openai.com" in base_url or ".openai.azure.com" in base_url)):
        return "o200k"
    # Claude and Gemini on Vertex, Claude on Bedrock's InvokeModel: their own tokenizers (the
    # `bedrock` format, Converse, serves every vendor's models, so it stays "any")
    family = wire_format.removeprefix("vertex_").removeprefix("bedrock_")
    if family in ("anthropic", "gemini"):
        return family
    return "any"


class TokenFamilies:
    """The tokenizer family a chain's prompt bound must cover (one family, else "any"), cached
    per chain: `family_of` for each deployment once, then a dict lookup."""

    def __init__(self) -> None:
        self._by_chain: dict[tuple[str, ...], str] = {}

    def of(self, deployments: tuple[Any, ...]) -> str:
        names = tuple(d.name for d in deployments)
        family = self._by_chain.get(names)
        if family is None:
            found = {family_of(d.provider.format, d.provider.base_url) for d in deployments}
            family = found.pop() if len(found) == 1 else "any"
            if len(self._by_chain) > 1024:
                self._by_chain.clear()
            self._by_chain[names] = family
        return family


def _short_bound(text: str) -> int:
    """A token of a byte-level BPE (or of SentencePiece with byte fallback) covers at least one
    byte; Claude's counts run up to ~5% over the byte count on digit runs and rare scripts (the
    fixture): bytes + 1/8 + 2 bounds a short text for a fraction of the class count's cost."""
    n = len(text) if text.isascii() else len(text.encode())
    return n + (n >> 3) + 2 if n else 0


MEMO_CHARS = 4_000_000  # characters a worker's memo keeps alive, oldest out first
ENTRY_CHARS = 64  # what an entry's key and slot cost, counted as characters against the budget


class BoundMemo:
    """Bounds of long texts counted before. An agent resends its whole conversation every turn
    (Claude Code: ~50 kB, 100+ messages, the same system prompt and tools), so almost every long
    text of a request was counted on the turn before: a lookup hashes the text once, which costs
    about a hundredth of counting its classes (docs/benchmarks.md). Keyed by the text itself, so
    a hit is exact; bounded by the characters it keeps alive."""

    def __init__(self, max_chars: int = MEMO_CHARS) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._bounds: dict[tuple[str, str], int] = {}

    def get(self, text: str, family: str) -> int | None:
        return self._bounds.get((text, family))

    def put(self, text: str, family: str, bound: int) -> None:
        if len(text) > self.max_chars // 4:
            return  # one huge document would push out a whole conversation
        key = (text, family)
        if key not in self._bounds:
            self.chars += len(text) + ENTRY_CHARS
        self._bounds[key] = bound
        while self.chars > self.max_chars:  # dicts keep insertion order: the oldest go first
            oldest = next(iter(self._bounds))
            del self._bounds[oldest]
            self.chars -= len(oldest[0]) + ENTRY_CHARS

    def clear(self) -> None:
        self._bounds.clear()
        self.chars = 0


MEMO = BoundMemo()


def text_bound(text: str, family: str = "any") -> int:
    """Upper bound of the tokens of one string, without message framing."""
    if len(text) <= SHORT:
        return _short_bound(text)
    bound = MEMO.get(text, family)
    if bound is None:
        bound = _counted_bound(text, family)
        MEMO.put(text, family, bound)
    return bound


def _counted_bound(text: str, family: str) -> int:
    # a weighted sum in C; leaving out the zero counts (or adding them) changes no bit of it
    counts = features(text)
    weights = WEIGHTS
    if text.isascii():
        counts, weights = [*counts[:8], *counts[-3:]], _NARROW_WEIGHTS
    if family == "any":
        bound = math.ceil(max([sum(map(mul, w, counts)) for w in weights.values()]))
    else:
        bound = math.ceil(sum(map(mul, weights[family], counts)))
    return max(bound, _short_bound(text[:SHORT]))  # never below what its first SHORT characters got


# Framing per family: (per request, per message, per name, per tool definition, tools preamble).
# OpenAI: 3 a message, 1 a name, 3 priming the reply (OpenAI cookbook, "How to count tokens");
# Anthropic: one user message costs 7 (Claude 3 to 4.6), 11 (Opus 4.7) or 6 (4.8) beyond its
# text (ctok, measured on count_tokens), and tool use adds a 346-token system prompt (Anthropic
# docs, tool use pricing); Gemini: no documented framing, a small allowance.
FRAMING = {
    "o200k": (3, 4, 1, 12, 32), "cl100k": (3, 4, 1, 12, 32), "anthropic": (4, 8, 1, 16, 346),
    "gemini": (4, 4, 1, 16, 32), "any": (4, 8, 1, 16, 346),
}
MEDIA_FAMILY = {"o200k": "openai", "cl100k": "openai", "anthropic": "anthropic", "gemini": "gemini", "any": "any"}
TEXT_PARTS = frozenset({"text", "input_text", "output_text", "refusal"})
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def _json_bound(value: Any, family: str) -> int:
    return text_bound(orjson.dumps(value).decode(), family)


def _part_bound(part: Any, family: str) -> int:
    if not isinstance(part, dict):
        return _json_bound(part, family)
    kind = part.get("type")
    if kind in TEXT_PARTS:
        text = part.get("text", part.get("refusal"))
        return text_bound(text, family) if isinstance(text, str) else _json_bound(part, family)
    if kind in IMAGE_PARTS:
        return image_bound(part, MEDIA_FAMILY[family])
    if kind == "input_audio":
        return audio_bound(part)
    if kind == "file":
        return file_bound(part)
    return _json_bound(part, family)  # an unknown part: billed at most as its JSON text


def content_bound(content: Any, family: str = "any") -> int:
    """Tokens of one message's `content`: a string, a list of parts, or null."""
    if content is None:
        return 0
    if isinstance(content, str):
        return text_bound(content, family)
    if isinstance(content, list):
        return sum(_part_bound(part, family) for part in content)
    return _json_bound(content, family)


def message_bound(message: dict[str, Any], family: str = "any") -> int:
    _, per_message, per_name, per_tool, _ = FRAMING[family]
    total = per_message + content_bound(message.get("content"), family)
    name = message.get("name")
    if isinstance(name, str):
        total += per_name + text_bound(name, family)
    for field in ("tool_calls", "function_call", "tool_call_id", "audio"):
        value = message.get(field)
        if value is not None:
            total += _json_bound(value, family)
            total += per_tool * len(value) if isinstance(value, list) else per_tool
    return total


def chat_prompt_bound(body: dict[str, Any], family: str = "any") -> int:
    """Upper bound of the prompt tokens any supported provider (OpenAI o200k/cl100k models,
    Anthropic, Gemini, OpenAI-compatible) bills for this chat-completions body: messages (string or
    content parts: text, image_url, input_audio, file), names, tool_calls, tool messages, `tools`
    definitions, `response_format` JSON schema, plus per-message and per-request framing.
    `family` narrows it to one provider's tokenizers when the deployment is known."""
    per_request, _, _, per_tool, preamble = FRAMING[family]
    total = per_request
    messages = body.get("messages")
    if isinstance(messages, list):
        total += sum(message_bound(m, family) if isinstance(m, dict) else _json_bound(m, family)
                     for m in messages)
    tools = body.get("tools") or body.get("functions")
    schema = body.get("response_format")
    if isinstance(tools, list) and tools:
        total += preamble + per_tool * len(tools) + _json_bound(tools, family)
    if isinstance(schema, dict) and schema.get("type") in ("json_schema", "json_object"):
        total += preamble + per_tool + _json_bound(schema, family)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        total += _json_bound(choice, family)
    return total


def embeddings_input_bound(inp: Any, family: str = "any") -> list[int] | int:
    """Tokens per input of an embeddings request: an int for one string or one token-id array, a
    list for a batch (strings or token-id arrays, whose tokens are their length)."""
    if isinstance(inp, str):
        return text_bound(inp, family)
    if isinstance(inp, list):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in inp):
            return len(inp)
        return [len(v) if isinstance(v, list) else text_bound(v, family) if isinstance(v, str)
                else _json_bound(v, family) for v in inp]
    return _json_bound(inp, family)
