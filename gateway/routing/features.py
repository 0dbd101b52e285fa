"""Feature extraction for the task classifier: text access, tokenisation and the hand-rule /
shape features (see the feature list in :mod:`gateway.routing.classify`, which re-exports
:func:`extract_features`; the lexicons live in :mod:`gateway.routing.lexicon`, the matchers that
find their groups in a text in :mod:`gateway.routing.rules`).

This runs on every request, so the text is walked as few times as possible, always in C:

* tokens of ASCII text (and of text whose only non-ASCII characters are typographic spaces and
  punctuation) come from one ``bytes.translate`` (non-word bytes become spaces), one ``lower()``
  and ``split()``: the word regex's tokens, several times faster; both zones of a long turn in
  one pass; their word bigrams from two ``map`` calls. Other scripts use the regex;
* one intersection with every word the hand rules react to finds the lexicon groups, the phrase
  keys and the structure-keyword candidates; a case-sensitive keyword ("SELECT") of plain text
  is then looked for as " SELECT " in the case-kept word runs;
* structure needles (code fences, ``=>``, ``diff --git`` ...) are searched in an ASCII view of
  the window, and only the needles whose rarest punctuation character occurs in the window
  (one translate finds those) are scanned;
* speaker / bullet lines are found by a regex that starts with a literal newline (the regex
  engine then skips from newline to newline) instead of a ``^`` tried at every position;
* one translate keeps a window's "marks" (digits, symbol-density characters, needle gates):
  prose without any skips the number, symbol and needle passes;
* a request of one user text message skips the message walk (its shape is known);
* the work is bounded whatever the prompt length (ZONE, CJK_ZONE, LINES_SPAN, CTX_*).

The features are identical to a plain implementation (tests/test_classify_features.py checks
them against a slow reference), so changing how they are computed needs no retraining;
changing the windows does.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import chain, pairwise
from operator import add, methodcaller
from typing import Any, Collection, Iterable

# the bucket tables are used here and by the tests, which read them from this module
from gateway.routing.harness import HARNESS_HEADS, HARNESS_TAILS, user_view
from gateway.routing.lexicon import (
    _BULLET_FEATS, _CODE_FEATS, _CODE_GROUPS, _COUNT_EDGES, _EMPTY_TURN, _LEN_EDGES, _LEN_FEATS,
    _LEX_KEYS, _LINES_FEATS, _LINE_EDGES, _NEGATES, _NOT_DIGIT_BYTES, _NOT_SYM_BYTES,
    _NUM_EDGES, _NUM_FEATS, _SPEAKER_FEATS, _SYM_EDGES, _SYM_FEATS, _TURN_EDGES, _TURN_FEATS, _WORD_BYTES, _WORD_GROUP,
)
from gateway.routing.rules import (
    _BULLET_FIRST, _BULLET_NEXT, _NOT_MARK_BYTES, _SPEAKER_FIRST, _SPEAKER_NEXT, _count_lines, _cs_keyword_groups,
    _groups, _keyword_groups, _lex_groups, _struct_groups,
)

# --------------------------------------------------------------------------- text access

ZONE = 200  # a long last user turn is read here: this many chars at its start and at its end
PAIR_TOKENS = 8  # word bigrams come from this many tokens at each end of the (zoned) turn
_JOIN = " ".join
CTX_HEAD = 300  # per context message
CTX_TAIL = 150
CTX_MAX_MSGS = 6  # most recent context messages considered
LINES_SPAN = 4096  # lines are counted in this many chars at the start of the last user turn


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
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") in ("image_url", "image", "input_image") for p in content)


def _bound(text: str, head: int, tail: int) -> str:
    return text if len(text) <= head + tail else text[:head] + "\n" + text[-tail:]


# --------------------------------------------------------------------------- tokenisation
# Tokens are raw lower-cased word runs (Indic combining marks kept inside words); every
# hand-rule / shape feature starts with "#", so the two can never collide.

_CJK_CLS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
# non-ASCII text: CJK runs are split from Latin/other letters ("gitで" -> "git", "で"), Indic words kept whole
_TOK_INTL = re.compile(r"[%s]+|[\u0900-\u0dff]+|[^\W%s]+" % (_CJK_CLS, _CJK_CLS))
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
CJK_ZONE = 24  # CJK character bigrams come from this many chars at each end of the turn (instructions are short)
# Non-ASCII characters that are not word characters and not in any lexicon: text whose only
# non-ASCII characters are these tokenises like ASCII text.
_NOT_PLAIN = re.compile(r"[^\x00-\x7f\u00a0\u2000-\u206f]")


def _ascii(text: str) -> bytes:
    """``text`` as bytes with every non-ASCII character replaced by ``?``: same length and
    positions, so ASCII needles and symbol counts give the same answer on it, and bytes.translate
    (a plain table lookup) works on it."""
    return text.encode("ascii", "replace")


def _pairs(head: list[str], tail: list[str]) -> Iterable[str]:
    """Word bigrams ("a b") of the first PAIR_TOKENS tokens of ``head`` and the last of ``tail``
    (the same list for a short turn): instructions sit there; each bigram costs a string."""
    if head is tail and len(head) <= 2 * PAIR_TOKENS:
        return map(_JOIN, pairwise(head))
    return chain(map(_JOIN, pairwise(head[:PAIR_TOKENS])), map(_JOIN, pairwise(tail[-PAIR_TOKENS:])))


def _tokens(text: str, bigrams: int = 3) -> tuple[Collection[str], set[str]]:
    """(case-sensitive tokens, lower-cased tokens + CJK bigrams). ``bigrams`` says where
    CJK bigrams are taken: 0 nowhere, 1 the first CJK_ZONE chars, 2 the last, 3 both ends.
    Plain text's case-sensitive tokens are the list ``split()`` gives (they are only intersected
    with the structure keywords) and its lower-cased ones come from one ``lower()``."""
    if text.isascii() or _NOT_PLAIN.search(text) is None:  # plain: word runs by translate
        w = _ascii(text).translate(_WORD_BYTES).decode()
        return w.split(), set(w.lower().split())
    runs = _TOK_INTL.findall(text)
    cs = set(runs)
    low = set(map(str.lower, cs))
    if bigrams and _CJK.search(text) is not None:
        n = len(text)
        if n <= 2 * CJK_ZONE:
            zruns: Iterable[str] = cs  # the zone is the whole text: its runs are already found
        elif bigrams == 1:
            zruns = _TOK_INTL.findall(text, 0, CJK_ZONE)  # same runs as findall(text[:CJK_ZONE])
        elif bigrams == 2:
            zruns = _TOK_INTL.findall(text, n - CJK_ZONE)
        else:  # both ends: the "\n" the reference puts between them ends any run anyway
            zruns = _TOK_INTL.findall(text, 0, CJK_ZONE) + _TOK_INTL.findall(text, n - CJK_ZONE)
        for run in zruns:
            if len(run) > 1 and not run.isascii():
                ch = list(run)  # one str per character, made once (slicing run[1:] would make them again)
                low.update(map(add, ch, ch[1:]))  # character bigrams
    return cs, low


# --------------------------------------------------------------------------- the last user turn

# Bucket features of values that need no bisect: the common one-line prompt's
_SYM_NONE, _NUM_NONE = _SYM_FEATS[bisect_right(_SYM_EDGES, 0)], _NUM_FEATS[bisect_right(_NUM_EDGES, 0)]
_LINES_ONE = _LINES_FEATS[bisect_right(_LINE_EDGES, 1)]
_GREETINGS = ("#greet", "#thanks")
# "#greet_first" needs its first word to be a greeting, and then (the words being whole tokens,
# checked here) the turn's lexicon groups hold "#greet" or "#thanks": most turns skip the check.
_GREET_GATED = {*_NEGATES, *_NEGATES.values()}.isdisjoint(_GREETINGS) and all(
    _tokens(w, 0)[1] == {w} for w, g in _WORD_GROUP.items() if g in _GREETINGS)


def _turn_tokens(last_text: str, strong: set[str]) -> tuple[set[str], str, bytes, list[str] | None]:
    """Tokens and lexicon groups of the last user turn into ``strong``. Returns the structure
    groups of its keywords, the window the structure markers are searched in, that window as
    ``_ascii`` bytes (made once, shared by tokens, needles and symbols) and, when it is plain text
    (tokenised by translate; its digits are then ASCII digits), its tokens as a list, else None."""
    if len(last_text) <= 2 * ZONE:
        win = last_text
        vb = win.encode("ascii", "replace")  # _ascii, inlined
        plain = win.isascii() or _NOT_PLAIN.search(win) is None
        if plain:
            w = vb.translate(_WORD_BYTES).decode()
            toks = w.lower().split()
            strong.update(toks)
            if len(toks) > 1:
                strong.update(_pairs(toks, toks))
            hits = _LEX_KEYS.intersection(toks)
            if not hits:  # no word the hand rules react to: no groups, no keywords
                return set(), win, vb, toks
            strong.update(_groups(hits, win))
            return _keyword_groups(hits, w), win, vb, toks
        cs, ltoks = _tokens(win)
        strong.update(_lex_groups(ltoks, win), ltoks)
        return _cs_keyword_groups(cs), win, vb, None
    # a long turn is read at both ends only: instructions sit before or after a pasted document.
    # The lexicon also says where: "#h..." at the start, "#t..." at the end
    head, tail = last_text[:ZONE], last_text[-ZONE:]
    win = head + "\n" + tail
    vb = win.encode("ascii", "replace")
    plain = win.isascii() or _NOT_PLAIN.search(win) is None
    if plain:
        # plain text: both zones in one translate; positions are kept, and the "\n" between
        # them becomes a space, so the zones are w[:ZONE] and w[ZONE + 1:]
        w = vb.translate(_WORD_BYTES).decode()
        wl = w.lower()
        hl, tl = wl[:ZONE].split(), wl[ZONE + 1 :].split()
        strong.update(_pairs(hl, tl))
        htoks: Collection[str] = hl
        ttoks: Collection[str] = tl
        hh, th = _LEX_KEYS.intersection(htoks), _LEX_KEYS.intersection(ttoks)
        hg, tg = _groups(hh, head), _groups(th, tail)
        kw = _keyword_groups(hh | th, w)
        plain_toks: list[str] | None = hl + tl
    else:
        hcs, htoks = _tokens(head, 1)
        tcs, ttoks = _tokens(tail, 2)
        hg, tg = _lex_groups(htoks, head), _lex_groups(ttoks, tail)
        kw = _cs_keyword_groups([*hcs, *tcs])
        plain_toks = None
    strong.update(htoks, ttoks)
    if hg or tg:
        strong.update(hg, tg, map("#h".__add__, hg), map("#t".__add__, tg))
    return kw, win, vb, plain_toks


def _last_turn(last_text: str, strong: set[str]) -> None:
    """Token, lexicon, structure and shape features of the last user turn."""
    n = len(last_text)
    if not n:
        strong.update(_EMPTY_TURN)
        return
    kw, win, vb, toks = _turn_tokens(last_text, strong)
    marks = vb.translate(None, _NOT_MARK_BYTES)  # digits, symbols, needle gates: often none at all
    if toks is None:  # strong now holds the tokens and "#" features only: its digit-only members are the numbers
        nums = sum(map(str.isdigit, strong))
    elif marks and marks.translate(None, _NOT_DIGIT_BYTES):
        nums = len(set(filter(str.isdigit, toks)))  # the same, from plain text's tokens (fewer than strong)
    else:
        nums = 0  # plain text without an ASCII digit has no number token
    strong.update(_struct_groups(win, vb, kw, marks))
    ncode = len(_CODE_GROUPS & strong)
    if ncode:
        strong.add(_CODE_FEATS[min(ncode, 3)])  # how many kinds of code markers fired
    if last_text.find("\n", 0, LINES_SPAN) < 0:  # lines in the first LINES_SPAN chars; find is memchr
        lines, lines_feat = 1, _LINES_ONE
    else:
        lines = last_text.count("\n", 0, LINES_SPAN) + 1
        lines_feat = _LINES_FEATS[bisect_right(_LINE_EDGES, lines)]
        if lines >= 3:
            sp = _count_lines(_SPEAKER_FIRST, _SPEAKER_NEXT, win)
            if sp >= 2:
                strong.add(_SPEAKER_FEATS[bisect_right(_COUNT_EDGES, sp)])
            bl = _count_lines(_BULLET_FIRST, _BULLET_NEXT, win)
            if bl >= 2:
                strong.add(_BULLET_FEATS[bisect_right(_COUNT_EDGES, bl)])
    sym = len(marks.translate(None, _NOT_SYM_BYTES)) if marks else 0
    strong.update((
        _LEN_FEATS[bisect_right(_LEN_EDGES, n)], lines_feat,
        _NUM_FEATS[bisect_right(_NUM_EDGES, nums)] if nums else _NUM_NONE,
        _SYM_FEATS[bisect_right(_SYM_EDGES, 1000 * sym // len(win))] if sym else _SYM_NONE,
    ))
    if last_text[-40:].rstrip().endswith("?"):
        strong.add("#q")
    if n <= 60 and lines == 1 and ("#greet" in strong or "#thanks" in strong or not _GREET_GATED):
        first = last_text.lower().split(None, 1)
        if first and _WORD_GROUP.get(first[0].strip(",.!?:;")) in _GREETINGS:
            strong.add("#greet_first")


# --------------------------------------------------------------------------- the conversation


def _context(msgs: list[dict], roles: list[Any], last_user: int, strong: set[str], weak: set[str]) -> None:
    """Tokens (weak) and lexicon / structure (strong, prefixed) of the other messages. What is
    read depends on the role, so a message is tokenised once and only its role's features are
    computed (an assistant turn has no lexicon features).

    System prompts are not read (only their presence is a feature, ``#system``): they describe the
    application, not the request, and an agent's long prompt of tool descriptions outweighed the
    person's short request (docs/classifier.md, Agent traffic)."""
    ctx_idx = [i for i, r in enumerate(roles) if r != "system" and i != last_user]
    for i in ctx_idx[-CTX_MAX_MSGS:]:
        m = msgs[i]
        ctext = m.get("content")
        if type(ctext) is not str:
            ctext = _content_text(ctext)
        if not ctext:
            continue
        if i > last_user:  # tool output after the last user turn: the material to work on
            lex, struct = "#after", "#after"
        elif roles[i] == "user":
            lex, struct = "#prev", "#prev"
        else:
            lex, struct = "", "#asst"
        if len(ctext) > CTX_HEAD + CTX_TAIL:
            ctext = ctext[:CTX_HEAD] + "\n" + ctext[-CTX_TAIL:]  # _bound, inlined
        elif len(ctext) < 40:  # short messages ("Sure, paste it.") carry no structure
            struct = ""
        if ctext.isascii():  # _tokens, inlined: lower-cased tokens, keywords from the runs
            vb = ctext.encode()
            w = vb.translate(_WORD_BYTES).decode()
            ctoks: Collection[str] = w.lower().split()
            weak.update(ctoks)
            if not (lex or struct):
                continue
            hits = _LEX_KEYS.intersection(ctoks)
            if struct:
                strong.update(map(struct.__add__, _struct_groups(ctext, vb, _keyword_groups(hits, w))))
        else:
            ccs, ctoks = _tokens(ctext)
            weak.update(ctoks)
            hits = _LEX_KEYS.intersection(ctoks)
            if struct:
                strong.update(map(struct.__add__, _struct_groups(ctext, _ascii(ctext), _cs_keyword_groups(ccs))))
        if lex and hits:
            groups = _groups(hits, ctext)
            if groups:
                strong.update(map(lex.__add__, groups))


_GET_ROLE = methodcaller("get", "role")
_TURNS_ONE = _TURN_FEATS[bisect_right(_TURN_EDGES, 1)]
_GET_TOOL_CALLS = methodcaller("get", "tool_calls")


def extract_features(messages: list[dict]) -> tuple[set[str], set[str]]:
    """Return (strong, weak) feature sets. ``strong`` = tokens of the last user turn plus
    rule / shape features (value 1); ``weak`` = tokens of the rest of the conversation
    (value ``alpha``; not repeated when already strong)."""
    strong: set[str] = set()
    weak: set[str] = set()
    if type(messages) is list and len(messages) == 1:
        # the commonest request, one user message of text without harness text (user_view's own
        # test): its shape is known, so only its text is read (what the general walk below gives)
        m = messages[0]
        if type(m) is dict and m.get("role") == "user":
            c = m.get("content")
            if type(c) is str and c[:1] not in HARNESS_HEADS and c[-1:] not in HARNESS_TAILS:
                _last_turn(c, strong)
                if m.get("tool_calls"):
                    strong.add("#tools")
                strong.add(_TURNS_ONE)
                return strong, weak
    msgs = [m for m in messages if isinstance(m, dict)] if messages else []
    if not msgs:
        strong.add("#empty")
        return strong, weak
    msgs = user_view(msgs)  # an agent client's own text is context, not the request
    roles = list(map(_GET_ROLE, msgs))
    last_user = len(roles) - 1 - roles[::-1].index("user") if "user" in roles else -1
    content = msgs[last_user].get("content") if last_user >= 0 else None
    last_text = _content_text(content)
    if isinstance(content, list):
        strong.add("#parts")
        if _has_image(content):
            strong.add("#image")
    _last_turn(last_text, strong)

    # ---- conversation shape and context
    if "system" in roles:
        strong.add("#system")
    # the conversation's shape up to the person's last turn: an agent's own steps after it (tool
    # calls and results) do not make the request a follow-up; they are read as its material (#after)
    upto = last_user + 1 if last_user >= 0 else len(roles)
    before = roles[:upto] if upto < len(roles) else roles
    if "tool" in before or any(map(_GET_TOOL_CALLS, msgs[:upto])):
        strong.add("#tools")
    if roles[-1] == "tool":
        strong.add("#ends_tool")
    elif roles[-1] == "assistant":
        strong.add("#ends_assistant")
    turns = before.count("user") + before.count("assistant")
    strong.add(_TURN_FEATS[bisect_right(_TURN_EDGES, turns)])
    if len(msgs) > 1:
        _context(msgs, roles, last_user, strong, weak)
    if len(last_text) < 120 and turns > 1:
        # short follow-up ("and how do I test that?"): the earlier turns carry the topic
        strong.update(["#fu" + f for f in strong if f.startswith(("#prev#", "#asst#", "#after#"))])
        strong.add("#followup")
        if len(last_text) <= 60 and "#q" not in strong and ("#thanks" in strong or "#greet" in strong):
            strong.add("#ack")  # "thanks, that works now!": closes the topic of the earlier turns
    return strong, (weak - strong) if weak else weak  # `-` walks the smaller weak set
