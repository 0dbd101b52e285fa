#!/usr/bin/env python
"""Noised copies of training rows in the style people type: data augmentation for the task classifier.

    python scripts/augment_rows.py [--data DIR] [--files realistic_train,dev,extra,condense]
                                   [--kinds all|KIND,...] [--copies N] [--seed S] -o OUT.jsonl

Most training rows were written by a language model or a benchmark's authors; requests written by
people are shorter, lower-case, unpunctuated, with typos and fragments and without greetings
(issue #18). For each row of the named training files this writes ``--copies`` noised copies
(fewer when a copy would not differ from its row or from an earlier copy), label unchanged:

* ``case``: lower-case the words (capitalised ones and "I"), or only the first letter;
* ``punct``: drop the final ``.?!``, commas, and some apostrophes ("dont");
* ``polite``: drop greetings and framing ("Hi,", "Could you please", "I would like you to",
  "Thank you!") when at least three words are left, so a "thanks!" stays a thanks;
* ``typo``: swap, drop or double one letter in 4-12% of the words of four letters or more;
* ``terse``: a summary's instruction becomes a terse human form ("tldr", "gist?", "summarize
  pls") before or after the pasted document; a code request keeps its first sentence and the code.

Only the instruction is noised, never pasted material: fenced blocks, lines that look like code,
logs or markup, and the middle of a long paste are left as they are (``split``). Every user turn
gets the same style (``terse`` only the last one). With ``all`` each copy draws every kind with
probability 0.6 (at least one). Deterministic: each copy's random draws are seeded by ``--seed``,
the file, the row index and the copy number. Each output row carries ``origin`` (``{"file",
"index"}``: the row it copies, the index counting the file's rows from 0) and ``augment`` (the kinds
that changed it), so a cross-validation can keep a row's copies out of training while it is tested
(scripts/train_classifier.py ``--augment``). The output holds text of the task-routing data (some
of it ShareAlike): write it outside the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("case", "punct", "polite", "typo", "terse")
P_ALL = 0.6  # probability of each kind in an ``all`` copy
SHORT = 200  # a paragraph longer than this is pasted material, not an instruction
# A line of code, a log, a stack trace, markup or a table: never noised
CODE_LINE = re.compile(
    r"^\s{2,}\S|^\t|[{};]\s*$|^\s*[}\])]|=>|==|!=|:=|->|::|\w\(.*\)|^\s*[$#>]\s|^\s*(?:def|class|import|from|return|"
    r"SELECT|FROM|WHERE|INSERT|UPDATE|CREATE|ALTER|const|let|var|function|public|private|func|fn|package|"
    r"#include|Traceback|File \"|at [\w.$]+\(|[A-Za-z]*(?:Error|Exception):)\b|<[/a-zA-Z][^>]*>|^\s*[-*]\s|\|.*\||"
    r"^\s*\d{2}:\d{2}|^\s*\[?\d{4}-\d{2}-\d{2}|^\s*[\w.-]+:\s*$|\b(?:INFO|WARN|ERROR|DEBUG)\b|`")
FENCE = re.compile(r"```.*?(?:```|\Z)|\"\"\".*?(?:\"\"\"|\Z)", re.S)
WORD = re.compile(r"(?<![\w./@#\\$-])[^\W\d_]+(?:'[^\W\d_]+)?(?![\w/@(-]|\.\w)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
TERSE_SUMMARY = ("tldr", "tl;dr?", "summarize pls", "summary?", "gist?", "sum this up", "short version pls",
                 "key points?", "main points", "recap pls", "whats this about", "what's the gist", "cliff notes?",
                 "condense this", "boil this down", "in a few lines?", "bullet points pls", "eli5", "summarise",
                 "quick summary", "what does it say", "tl;dr")
GREETING = re.compile(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there| team| all| guys)?\s*[,!.]*\s+", re.I)
FRAMING = re.compile(
    r"^(?:(?:could|can|would|will) you(?: please| kindly)?|please|kindly|i(?:'d| would) like you to|"
    r"i (?:need|want) you to|i was wondering if you could|i(?:'d| would) appreciate it if you could|"
    r"(?:could|can) i ask you to|is it possible (?:for you )?to)\s+", re.I)
PLEASE = re.compile(r",?\s*\b(?:please|pls|por favor|bitte|s'il (?:te|vous) pla[iî]t)\b,?", re.I)
THANKS = re.compile(r"\s*\b(?:thanks?(?: you)?(?: so much| a lot| very much| in advance)?|many thanks|"
                    r"cheers|gracias|danke|merci)\b[.!]*\s*$", re.I)

Rng = random.Random


def split(text: str, last: bool = True) -> list[tuple[str, bool]]:
    """``text`` as consecutive pieces, each marked True when it is instruction prose that may be
    noised. Pasted material stays False: fenced blocks, code-like lines, paragraphs longer than
    SHORT, the middle paragraphs of a paste; when a document comes first, its last paragraph may
    be the instruction (``last`` allows that)."""
    pieces: list[tuple[str, str]] = []  # (text, "fence" | "para" | "sep")
    pos = 0
    for m in FENCE.finditer(text):
        _paragraphs(text[pos : m.start()], pieces)
        pieces.append((m.group(), "fence"))
        pos = m.end()
    _paragraphs(text[pos:], pieces)
    paras = [i for i, (_, kind) in enumerate(pieces) if kind == "para"]
    prose: set[int] = set()
    if len(pieces) == 1 and paras:
        prose.add(0)
    elif paras:
        first, final = paras[0], paras[-1]
        if len(pieces[first][0]) <= SHORT and not CODE_LINE.search(pieces[first][0].split("\n", 1)[0]):
            prose.add(first)
        if last and final != first and len(pieces[final][0]) <= SHORT and (
                first not in prose or pieces[final][0].rstrip().endswith("?")):
            prose.add(final)
    out: list[tuple[str, bool]] = []
    for i, (piece, _) in enumerate(pieces):
        if i not in prose:
            out.append((piece, False))
        elif len(pieces) == 1 and len(piece) > SHORT:
            out += _head_only(piece)
        else:
            out += [(line, bool(line.strip()) and not CODE_LINE.search(line))
                    for line in piece.splitlines(keepends=True)]
    return out


def _paragraphs(s: str, out: list[tuple[str, str]]) -> None:
    pos = 0
    for m in re.finditer(r"\n[ \t]*\n\s*", s):
        if m.start() > pos:
            out.append((s[pos : m.start()], "para"))
        out.append((m.group(), "sep"))
        pos = m.end()
    if pos < len(s):
        out.append((s[pos:], "para"))


def _head_only(piece: str) -> list[tuple[str, bool]]:
    """A long single paragraph: its first line, or its first sentence, is the instruction."""
    head, sep, rest = piece.partition("\n")
    if sep and len(head) <= 250 and not CODE_LINE.search(head):
        return [(head, True), (sep + rest, False)]
    m = re.search(r"[:.?!]\s", piece[:250])
    if m and not CODE_LINE.search(piece[: m.end()]):
        return [(piece[: m.end()], True), (piece[m.end() :], False)]
    return [(piece, False)]


def _on_words(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the plain words of ``text`` (not identifiers, paths, URLs or inline code)."""
    return WORD.sub(lambda m: fn(m.group()), text)


@dataclass(frozen=True)
class Style:
    """One copy's habits, drawn once so that all of its turns and lines share them."""

    lower_all: bool  # lower-case every capitalised word, or only the first letter
    commas: bool  # drop commas
    apostrophes: bool  # "dont", "its"
    typo_rate: float

    @classmethod
    def draw(cls, rng: Rng) -> Style:
        return cls(rng.random() < 0.6, rng.random() < 0.5, rng.random() < 0.3, rng.uniform(0.04, 0.12))


def case(text: str, style: Style, rng: Rng, first: bool) -> str:
    if style.lower_all:
        return _on_words(text, lambda w: w.lower() if w[1:].islower() or len(w) == 1 else w)
    return text[:1].lower() + text[1:] if first else text


def punct(text: str, style: Style, rng: Rng, first: bool) -> str:
    out = re.sub(r"[.?!。？！]+(\s*)$", r"\1", text)
    if style.commas:
        out = re.sub(r",(?=\s)", "", out)
    if style.apostrophes:
        out = re.sub(r"(?<=[a-z])'(?=(?:t|s|m|re|ll|ve|d)\b)", "", out)
    return out


def polite(text: str, style: Style, rng: Rng, first: bool) -> str:
    out = text
    if first:
        out = FRAMING.sub("", GREETING.sub("", out))
    out = THANKS.sub(lambda m: "\n" if m.group().endswith("\n") else "", out)
    out = re.sub(r"  +", " ", PLEASE.sub("", out))
    if not text[:1].isspace():
        out = out.lstrip(" ,")
    return out if len(WORD.findall(out)) >= 3 else text


def typo(text: str, style: Style, rng: Rng, first: bool) -> str:
    def one(w: str) -> str:
        if len(w) < 4 or not w.isascii() or not w.isalpha() or rng.random() >= style.typo_rate:
            return w
        i = rng.randrange(1, len(w) - 1)
        move = rng.randrange(3)
        if move == 0:
            return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        return w[:i] + w[i + 1 :] if move == 1 else w[:i] + w[i] + w[i:]

    return _on_words(text, one)


def noise_text(text: str, kind: str, style: Style, rng: Rng) -> str:
    """One kind of noise (not terse) applied to the instruction pieces of one text."""
    out, first = [], True
    for piece, is_prose in split(text):
        if is_prose:
            piece = NOISE[kind](piece, style, rng, first)
            first = False
        out.append(piece)
    return "".join(out)


def terse(text: str, label: str, rng: Rng) -> str:
    """A summary's instruction replaced by a terse form around its document; a code request cut to
    its first sentence with its code. Anything else is left as it is."""
    pieces = split(text)
    material = "".join(p for p, prose in pieces if not prose).strip()
    prose = [p for p, is_prose in pieces if is_prose]
    if not prose:
        return text
    if label == "summarization":
        if len(material) < 200:
            return text
        ask = rng.choice(TERSE_SUMMARY)
        return f"{ask}\n\n{material}" if rng.random() < 0.5 else f"{material}\n\n{ask}"
    if label == "code_generation":
        instruction = " ".join(p.strip() for p in prose)
        sentences = SENTENCE_END.split(instruction)
        if len(sentences) < 2 or len(sentences[0].split()) < 3:
            return text
        return sentences[0] + ("\n\n" + material if material else "")
    return text


NOISE: dict[str, Callable[[str, Style, Rng, bool], str]] = {"case": case, "punct": punct, "polite": polite, "typo": typo}


def _map_text(content, fn: Callable[[str], str]):
    if isinstance(content, str):
        return fn(content)
    if isinstance(content, list):
        return [{**p, "text": fn(p["text"])} if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                for p in content]
    return content


def augment(row: dict, kinds: list[str], rng: Rng) -> tuple[dict, list[str]]:
    """A noised copy of ``row`` and the kinds that changed it (empty: the copy equals the row)."""
    messages = [dict(m) for m in row["messages"]]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    changed, style = [], Style.draw(rng)
    for kind in kinds:
        before = orjson.dumps(messages)
        for i in users:
            if kind == "terse":
                if i == users[-1]:
                    messages[i]["content"] = _map_text(messages[i]["content"], lambda t: terse(t, row["label"], rng))
            else:
                messages[i]["content"] = _map_text(messages[i]["content"], lambda t: noise_text(t, kind, style, rng))
        if orjson.dumps(messages) != before:
            changed.append(kind)
    return {**row, "messages": messages}, changed


def rng_for(seed: int, file: str, index: int, copy: int) -> Rng:
    digest = hashlib.sha256(f"{seed}:{file}:{index}:{copy}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def augment_file(name: str, rows: list[dict], kinds: tuple[str, ...], copies: int, seed: int) -> list[dict]:
    out = []
    for index, row in enumerate(rows):
        seen = {orjson.dumps(row["messages"])}
        for copy in range(copies):
            rng = rng_for(seed, name, index, copy)
            if len(kinds) == 1:
                chosen = list(kinds)
            else:
                chosen = [k for k in kinds if rng.random() < P_ALL] or [rng.choice(kinds)]
            new, changed = augment(row, chosen, rng)
            key = orjson.dumps(new["messages"])
            if not changed or key in seen:
                continue
            seen.add(key)
            source = row.get("source") or name
            out.append({"messages": new["messages"], "label": row["label"], "source": source,
                        "origin": {"file": name, "index": index}, "augment": changed})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the task-routing data directory (default: $TASK_ROUTING_DATA)")
    ap.add_argument("--files", default="realistic_train,dev,extra,condense",
                    help="training files whose rows get copies (names as in train_classifier.py)")
    ap.add_argument("--kinds", default="all", help=f"'all' or a comma list of {', '.join(KINDS)}")
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    kinds = KINDS if args.kinds == "all" else tuple(args.kinds.split(","))
    if unknown := set(kinds) - set(KINDS):
        sys.exit(f"unknown kinds {sorted(unknown)}: choose from {', '.join(KINDS)}")
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_classifier as T

    sets = T.load_training(T.data_dir(args.data))
    out, counts = [], {}
    for name in args.files.split(","):
        if name not in sets:
            sys.exit(f"{name}: not a training file ({', '.join(sets)})")
        rows = augment_file(name, sets[name], kinds, args.copies, args.seed)
        counts[name] = len(rows)
        out += rows
    Path(args.out).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in out))
    print(f"wrote {len(out)} rows to {args.out}: {counts}")


if __name__ == "__main__":
    main()
