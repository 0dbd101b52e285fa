"""Which hand rules of :mod:`gateway.routing.lexicon` a text sets off: lexicon groups (words and
phrases), structure keywords and needles, speaker / bullet lines. Split out of
:mod:`gateway.routing.features`, which turns these groups into ``#`` features.

Every function here runs a few times per request, so the lookup tables below are derived once
at import from the lexicon and each check is a C-level operation: a set intersection, a
``bytes.translate``, a substring test.
"""

from __future__ import annotations

import re
from typing import Collection

from gateway.routing.lexicon import (
    _GATED, _LEX_GROUP, _LEX_KEYS, _NEGATES, _NOT_DIGIT_BYTES, _NOT_GATE_BYTES, _NOT_SYM_BYTES, _PHRASES,
    _STRUCT_BY_LOWER, _STRUCT_SUBS_INTL, _STRUCT_WORDS, _UNGATED,
)

# Speaker / bullet lines, counted as ``re.findall("^...\\s", text, re.M)`` would: the first line on
# its own, every later one after its "\n" (the regex engine jumps between newlines); \s a lookahead.
# The quantifiers are possessive (``{1,24}+``, ``*+``): giving characters back could never let a
# line match (the next character would be one of the run, not "]", ":" or a bullet), so the matches
# are the same, and a code line that is no speaker line fails at once instead of retrying 24 lengths.
_SPEAKER = r"\[?[\w .()-]{1,24}+\]?:(?=\s)"
_BULLET = r"\s*+(?:[-*•]|\d{1,2}+[.)])(?=\s)"
_SPEAKER_FIRST, _SPEAKER_NEXT = re.compile(_SPEAKER), re.compile("\n" + _SPEAKER)
_BULLET_FIRST, _BULLET_NEXT = re.compile(_BULLET), re.compile("\n" + _BULLET)


def _count_lines(first: re.Pattern, nxt: re.Pattern, text: str) -> int:
    """Lines of ``text`` that ``first`` (the first line) or ``nxt`` (a later one) match."""
    m = first.match(text)
    return len(nxt.findall(text)) if m is None else 1 + len(nxt.findall(text, m.end()))


_INTL_GROUP = {c: name for name, chars in _STRUCT_SUBS_INTL for c in chars}  # one char each
_INTL_CHARS = re.compile("[%s]" % "".join(_INTL_GROUP))

_PHRASE_KEYS = frozenset(_PHRASES)
_STRUCT_KEYS = frozenset(_STRUCT_BY_LOWER)

# "Marks": the bytes that digits, symbol density and gated needles look at. One translate keeps
# them; most prose has few or none, and then the three checks cost nothing.
_MARK_BYTES = (set(range(256)) - set(_NOT_DIGIT_BYTES)) | (set(range(256)) - set(_NOT_SYM_BYTES)) | set(_GATED)
_NOT_MARK_BYTES = bytes(i for i in range(256) if i not in _MARK_BYTES)  # delete: keeps the marks only


def _groups(hits: set[str], zone: str) -> set[str]:
    """Lexicon groups of the lexicon hits among a text's lower-cased tokens (see
    :func:`_lex_groups`); multi-word phrases are looked for in ``zone`` (the text the tokens came
    from, lower-cased here only when a phrase's key word is a token)."""
    if not hits:
        return hits
    groups = set(map(_LEX_GROUP.__getitem__, hits))
    groups.discard("")
    if _PHRASE_KEYS.isdisjoint(hits):  # the common case: no phrase key word among the tokens
        return groups
    zone_low = zone.lower()
    for key in _PHRASE_KEYS.intersection(hits):
        for phrase, name in _PHRASES[key]:
            if name not in groups and phrase in zone_low:
                groups.add(name)
    for neg, target in _NEGATES.items():  # negations come from phrases only
        if neg in groups:
            groups.discard(target)
    return groups


def _lex_groups(toks: Collection[str], zone: str) -> set[str]:
    """Lexicon groups of lower-cased tokens ``toks`` found in ``zone``. One intersection with
    every word the rules react to finds word groups, phrase keys and structure-keyword candidates."""
    return _groups(_LEX_KEYS.intersection(toks), zone)


def _keyword_groups(hits: set[str], runs: str) -> set[str]:
    """Structure groups of the case-sensitive keywords of plain text (``runs``: its word runs,
    case kept, space-separated): a keyword is a token only if its lower-cased form is among the
    lexicon ``hits``, and then exactly when " keyword " occurs in " " + runs + " "."""
    cands = _STRUCT_KEYS.intersection(hits)
    if not cands:
        return set()
    padded = " " + runs + " "
    found: set[str] = set()
    for lc in cands:
        for needle, name in _STRUCT_BY_LOWER[lc]:
            if needle in padded:
                found.add(name)
    return found


def _cs_keyword_groups(cs: Collection[str]) -> set[str]:
    """Structure groups of the case-sensitive tokens ``cs`` (text that is not plain)."""
    return set(map(_STRUCT_WORDS.__getitem__, _STRUCT_WORDS.keys() & cs))


def _struct_groups(text: str, vb: bytes, groups: set[str], marks: bytes | None = None) -> set[str]:
    """Structure groups of ``text`` added to ``groups`` (those of its keywords) and returned;
    ``vb`` is ``_ascii(text)``, ``marks`` its marks (``vb.translate(None, _NOT_MARK_BYTES)``)
    when the caller has them: a needle is scanned only if its gate character is among them."""
    view = text if text.isascii() else vb.decode("ascii")  # str `in` is faster than bytes `in`
    if marks is None:
        marks = vb
    if marks:
        for gate in set(marks.translate(None, _NOT_GATE_BYTES)):
            for needle, name in _GATED[gate]:
                if name not in groups and needle in view:
                    groups.add(name)
    for needle, name in _UNGATED:
        if name not in groups and needle in view:
            groups.add(name)
    if not text.isascii():  # non-ASCII math / currency symbols: one regex pass finds them all
        groups.update(map(_INTL_GROUP.__getitem__, _INTL_CHARS.findall(text)))
    return groups
