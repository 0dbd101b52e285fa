"""Feature extraction for the task classifier: text access, tokenisation and the hand-rule /
shape features (see the feature list in :mod:`gateway.classify`'s docstring).

Split out of :mod:`gateway.classify`, which re-exports :func:`extract_features`; the lexicons it
matches against live in :mod:`gateway.classify_lexicon`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from gateway.classify_lexicon import (
    _CODE_GROUPS,
    _PHRASES,
    _STRUCT_SUBS,
    _STRUCT_SUBS_INTL,
    _STRUCT_WORDS,
    _WORD_GROUP,
)

# --------------------------------------------------------------------------- text access

LAST_HEAD = 600  # chars of a long last user turn that are tokenised: its start ...
LAST_TAIL = 300  # ... and its end (instructions are usually first or last)
STRUCT_HEAD = 450  # punctuation/layout markers are searched in this head ...
STRUCT_TAIL = 200  # ... and this tail of the turn
ZONE = 250  # instruction zone: this many chars at each end of the last user turn
CTX_HEAD = 300  # per context message
CTX_TAIL = 150
CTX_MAX_MSGS = 6  # most recent context messages considered


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                t = part.get("text")
                if isinstance(t, str):
                    out.append(t)
            elif isinstance(part, str):
                out.append(part)
        return "\n".join(out)
    return str(content)


def _has_image(content: Any) -> bool:
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("image_url", "image", "input_image"):
                return True
    return False


def _bound(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n" + text[-tail:]


# --------------------------------------------------------------------------- tokenisation
# Tokens are raw lower-cased word runs (Indic combining marks kept inside words); every
# hand-rule / shape feature starts with "#", so the two can never collide.

_CJK_CLS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
_TOK = re.compile(r"[\w\u0900-\u0dff]+")  # fast path (ASCII text)
# non-ASCII text: CJK runs are split from Latin/other letters ("gitで" -> "git", "で"), Indic words kept whole
_TOK_INTL = re.compile(r"[%s]+|[\u0900-\u0dff]+|[^\W%s]+" % (_CJK_CLS, _CJK_CLS))
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
CJK_ZONE = 100  # CJK character bigrams come from this many chars at each end of the turn


def _tokens(text: str, bigrams: int = 3) -> tuple[set[str], set[str]]:
    """(case-sensitive tokens, lower-cased tokens + CJK bigrams). ``bigrams`` says where
    CJK bigrams are taken: 0 nowhere, 1 the first CJK_ZONE chars, 2 the last, 3 both ends."""
    if text.isascii():
        cs = set(_TOK.findall(text))
        return cs, set(map(str.lower, cs))
    cs = set(_TOK_INTL.findall(text))
    low = set(map(str.lower, cs))
    if bigrams and _CJK.search(text) is not None:
        if len(text) <= 2 * CJK_ZONE:
            z = text
        elif bigrams == 1:
            z = text[:CJK_ZONE]
        elif bigrams == 2:
            z = text[-CJK_ZONE:]
        else:
            z = text[:CJK_ZONE] + "\n" + text[-CJK_ZONE:]
        for run in _TOK_INTL.findall(z):
            if len(run) > 1 and not run.isascii():
                low.update([run[i : i + 2] for i in range(len(run) - 1)])
    return cs, low


# --------------------------------------------------------------------------- hand rules

_SPEAKER_LINE = re.compile(r"^\[?[\w .()-]{1,24}\]?:\s", re.MULTILINE)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s", re.MULTILINE)


def _bucket(n: int, edges: Iterable[int]) -> int:
    b = 0
    for e in edges:
        if n >= e:
            b += 1
        else:
            break
    return b


_LEN_EDGES = (12, 25, 45, 80, 140, 250, 450, 800, 1400, 2500, 4500)
_LINE_EDGES = (2, 3, 5, 9, 17, 33)
_NUM_EDGES = (1, 2, 3, 5, 8)
_SYMS = "{}();=<>[]_\\|/*+"


def _lex_groups(toks: set[str], zone_low: str) -> set[str]:
    groups = {_WORD_GROUP[t] for t in _WORD_GROUP.keys() & toks}
    for key in _PHRASES.keys() & toks:
        for phrase, name in _PHRASES[key]:
            if name not in groups and phrase in zone_low:
                groups.add(name)
    return groups


def _lex(toks: set[str], zone_low: str, prefix: str, out: set[str]) -> None:
    out.update([prefix + g for g in _lex_groups(toks, zone_low)])


def _struct(text: str, toks_cs: set[str], prefix: str, out: set[str]) -> None:
    groups = {_STRUCT_WORDS[t] for t in _STRUCT_WORDS.keys() & toks_cs}
    for name, subs in _STRUCT_SUBS:
        if name not in groups and any(map(text.__contains__, subs)):
            groups.add(name)
    if not text.isascii():
        for name, subs in _STRUCT_SUBS_INTL:
            if name not in groups and any(map(text.__contains__, subs)):
                groups.add(name)
    if prefix:
        out.update([prefix + g for g in groups])
    else:
        out.update(groups)


def extract_features(messages: list[dict]) -> tuple[set[str], set[str]]:
    """Return (strong, weak) feature sets. ``strong`` = tokens of the last user turn plus
    rule / shape features (value 1); ``weak`` = tokens of the rest of the conversation
    (value ``alpha``; not repeated when already strong)."""
    strong: set[str] = set()
    weak: set[str] = set()
    msgs = [m for m in messages if isinstance(m, dict)] if messages else []
    if not msgs:
        strong.add("#empty")
        return strong, weak
    last_user = -1
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].get("role") == "user":
            last_user = i
            break
    content = msgs[last_user].get("content") if last_user >= 0 else None
    last_text = _content_text(content)
    if isinstance(content, list):
        strong.add("#parts")
        if _has_image(content):
            strong.add("#image")

    # ---- last user turn
    n = len(last_text)
    text = _bound(last_text, LAST_HEAD, LAST_TAIL)
    if n > 2 * ZONE:
        # tokenise head / middle / tail separately (same total cost as once) so the lexicon
        # can also say where the instruction sits: "#h..." at the start, "#t..." at the end
        head, tail = text[:ZONE], text[-ZONE:]
        hcs, htoks = _tokens(head, 1)
        mcs, mtoks = _tokens(text[ZONE:-ZONE], 0)
        tcs, ttoks = _tokens(tail, 2)
        toks = htoks | mtoks | ttoks
        toks_cs = hcs | mcs | tcs
        hl, tl = head.lower(), tail.lower()
        hg = _lex_groups(htoks, hl)
        tg = _lex_groups(ttoks, tl)
        strong.update(hg)
        strong.update(tg)
        strong.update([_WORD_GROUP[t] for t in _WORD_GROUP.keys() & mtoks])
        strong.update(["#h" + g for g in hg])
        strong.update(["#t" + g for g in tg])
        zone = hl
    else:
        toks_cs, toks = _tokens(text)
        zone = text.lower()
        strong.update(_lex_groups(toks, zone))
    strong.update(toks)
    # punctuation / layout markers: a smaller window is enough (the keywords above came from all tokens)
    swin = text if len(text) <= STRUCT_HEAD + STRUCT_TAIL else text[:STRUCT_HEAD] + "\n" + text[-STRUCT_TAIL:]
    _struct(swin, toks_cs, "", strong)
    ncode = len(_CODE_GROUPS & strong)
    if ncode:
        strong.add("#code%d" % min(ncode, 3))  # how many kinds of code markers fired
    strong.add("#len%d" % _bucket(n, _LEN_EDGES))
    lines = last_text.count("\n") + 1
    strong.add("#lines%d" % _bucket(lines, _LINE_EDGES))
    if lines >= 3:
        sp = len(_SPEAKER_LINE.findall(swin, 0, 500))
        if sp >= 2:
            strong.add("#speakers%d" % _bucket(sp, (4, 8)))
        bl = len(_BULLET_LINE.findall(swin, 0, 500))
        if bl >= 2:
            strong.add("#bullets%d" % _bucket(bl, (4, 8)))
    strong.add("#nums%d" % _bucket(sum(map(str.isdigit, toks)), _NUM_EDGES))
    if n:
        if last_text[-40:].rstrip().endswith("?"):
            strong.add("#q")
        sym = sum(map(swin.count, _SYMS))
        strong.add("#sym%d" % _bucket(int(1000 * sym / len(swin)), (5, 15, 30, 60, 100)))
        if n <= 60 and lines == 1:
            first = zone.split(None, 1)
            if first and _WORD_GROUP.get(first[0].strip(",.!?:;")) == "#greet":
                strong.add("#greet_first")
    else:
        strong.add("#notext")

    # ---- conversation shape and context
    roles = [m.get("role") for m in msgs]
    if "system" in roles:
        strong.add("#system")
    if "tool" in roles or any(m.get("tool_calls") for m in msgs):
        strong.add("#tools")
    if roles[-1] == "tool":
        strong.add("#ends_tool")
    elif roles[-1] == "assistant":
        strong.add("#ends_assistant")
    turns = sum(1 for r in roles if r in ("user", "assistant"))
    strong.add("#turns%d" % _bucket(turns, (2, 3, 5)))
    ctx_idx = [i for i in range(len(msgs)) if i != last_user][-CTX_MAX_MSGS:]
    for i in ctx_idx:
        m = msgs[i]
        ctext = _content_text(m.get("content"))
        if not ctext:
            continue
        role = m.get("role")
        ctext = _bound(ctext, CTX_HEAD, CTX_TAIL)
        ccs, ctoks = _tokens(ctext)
        weak.update(ctoks)
        structured = len(ctext) >= 40  # short messages ("Sure, paste it.") carry no structure
        if i > last_user:  # tool output after the last user turn: the material to work on
            if structured:
                _struct(ctext, ccs, "#after", strong)
            _lex(ctoks, ctext.lower(), "#after", strong)
        elif role == "system":
            _lex(ctoks, ctext.lower(), "#sys", strong)
        elif role == "user":
            _lex(ctoks, ctext.lower(), "#prev", strong)
            if structured:
                _struct(ctext, ccs, "#prev", strong)
        elif structured:
            _struct(ctext, ccs, "#asst", strong)
    if n < 120 and turns > 1:
        # short follow-up ("and how do I test that?"): the earlier turns carry the topic
        strong.update(["#fu" + f for f in strong if f.startswith(("#prev#", "#asst#", "#after#"))])
        strong.add("#followup")
    weak.difference_update(strong)
    return strong, weak
