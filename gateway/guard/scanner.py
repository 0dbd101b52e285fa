"""Several detectors as one, over all of a request's texts at once, with a memo of long texts.

A request holds hundreds of short texts (an agent's tool calls and results), and a regex call
costs far more to start than to run over a short text. So the texts are scanned joined by NULs,
one call per pattern for the whole request, by every detector that `joins` (no built-in pattern
matches a NUL, so no finding crosses from one text into the next); an operator's pattern may, so
it reads each text on its own.

An agent resends its whole conversation every turn (Claude Code: ~50 kB, the same system prompt
and earlier turns), so almost every long text was scanned the turn before: the memo hashes the
text once, far cheaper than the scan. Keyed by the text itself, so a hit is exact; bounded by the
characters it keeps alive (as gateway.pipeline.tokens.BoundMemo), in the worker's memory only.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

from gateway.guard.detectors import Detector, NumericDetector, Span, numeric_runs

MEMO_MIN = 32           # a text at least this long is remembered
MEMO_CHARS = 2_000_000  # characters one scanner's memo keeps alive, oldest out first
ENTRY_CHARS = 64        # what an entry's key and slot cost, counted as characters
SEPARATOR = "\x00"
NONE: tuple[Span, ...] = ()


class Scanner:
    """Every detector's findings, in text order; where two overlap, the longer wins (on a tie,
    the detector listed first)."""

    __slots__ = ("detectors", "rank", "joined", "alone", "numeric", "memo", "chars", "memo_min")

    def __init__(self, detectors: tuple[Detector, ...], remember: bool = True) -> None:
        self.detectors = detectors
        self.rank = {d.name: i for i, d in enumerate(detectors)}
        self.joined = tuple(d for d in detectors if getattr(d, "joins", False))
        self.alone = tuple(d for d in detectors if not getattr(d, "joins", False))
        self.numeric = any(isinstance(d, NumericDetector) for d in detectors)
        self.memo: dict[str, tuple[Span, ...]] = {}
        self.chars = 0
        # answers are never sent twice (a stream's windows least of all): their scanner remembers nothing
        self.memo_min = MEMO_MIN if remember else 1 << 62

    def find(self, text: str) -> tuple[Span, ...]:
        """The findings in one text."""
        return self.find_all([text])[0]

    def find_all(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """The findings in each text, as offsets into that text."""
        out: list[tuple[Span, ...]] = [NONE] * len(texts)
        todo: dict[str, list[int]] = {}  # each text to scan once (a client's own copy repeats the canonical one)
        for i, text in enumerate(texts):
            if len(text) >= self.memo_min and (hit := self.memo.get(text)) is not None:
                out[i] = hit
            elif text:
                todo.setdefault(text, []).append(i)
        if not todo:
            return out
        unique = list(todo)
        found: list[list[Span]] = [[] for _ in unique]
        if self.joined:
            self._joined(unique, found)
        for text, spans in zip(unique, found):
            for detector in self.alone:
                spans += detector.find(text)
            resolved = _resolve(spans, self.rank)
            for i in todo[text]:
                out[i] = resolved
            if len(text) >= self.memo_min:
                self._remember(text, resolved)
        return out

    def _joined(self, texts: list[str], found: list[list[Span]]) -> None:
        """The joining detectors' findings in `texts`, scanned as one NUL-joined string, sorted
        back into `found` (per text, offsets into it)."""
        whole = texts[0] if len(texts) == 1 else SEPARATOR.join(texts)
        starts, at = [], 0
        for text in texts:
            starts.append(at)
            at += len(text) + 1
        runs = numeric_runs(whole) if self.numeric else []
        for detector in self.joined:
            if isinstance(detector, NumericDetector):
                spans = detector.find_in(whole, runs) if runs else []
            else:
                spans = detector.find(whole)
            for s in spans:
                j = bisect_right(starts, s.start) - 1
                base = starts[j]
                found[j].append(Span(s.start - base, s.end - base, s.detector))

    def clear(self) -> None:
        self.memo.clear()
        self.chars = 0

    def _remember(self, text: str, found: tuple[Span, ...]) -> None:
        if len(text) > MEMO_CHARS // 4:
            return  # one huge document would push out a whole conversation
        self.memo[text] = found
        self.chars += len(text) + ENTRY_CHARS
        while self.chars > MEMO_CHARS and self.memo:  # dicts keep insertion order: the oldest go first
            oldest = next(iter(self.memo))
            del self.memo[oldest]
            self.chars -= len(oldest) + ENTRY_CHARS


def _resolve(found: list[Span], rank: dict[str, int]) -> tuple[Span, ...]:
    """Non-overlapping findings in text order: of two that overlap, the longer (then the
    detector ranked first) stays."""
    if len(found) < 2:
        return tuple(found)
    found.sort(key=lambda s: (s.start, s.start - s.end, rank[s.detector]))
    kept = [found[0]]
    for span in found[1:]:
        last = kept[-1]
        if span.start < last.end:
            if span.end - span.start > last.end - last.start:
                kept[-1] = span  # starts after the one before `last` ended, so overlaps none kept
            continue
        kept.append(span)
    return tuple(kept)
