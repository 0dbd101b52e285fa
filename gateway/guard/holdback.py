"""One streamed text read by a policy as it arrives, holding back what a finding may still reach.

A finding can straddle frames (`sk-pro` in one, `j-Ab3d...` in the next), so the last `HOLD`
characters not yet sent wait for what follows. Text further back than that has `HOLD`
characters after it in view, and every built-in pattern but a JWT with a header over ~250
characters proves itself (becomes a match) within that many: a finding that starts there has
been seen, and one still growing across the line holds everything from its start. So what goes
out never carries any part of a finding, and a finding is replaced whole. The end of the text
(`final`) sends the rest. The scan is run once `STEP` new characters wait beyond the hold, not
on every frame, so a kilobyte of answer costs a handful of scans; the last `CONTEXT` characters
already sent stay in view, for the patterns' look-behind and an e-mail's local part.
"""

from __future__ import annotations

from gateway.guard.detectors import Span
from gateway.guard.scan import Scan

HOLD = 256     # characters of a stream's text not sent until more has arrived (or it ended)
STEP = 64      # new characters beyond HOLD that make the next scan worth running
CONTEXT = 64   # characters already sent that the next scan still reads (look-behind, e-mail local parts)


class HoldBack:
    """One text of a stream (a choice's content, one tool call's arguments) under one `Scan`
    (shared by the stream's texts, so a value keeps one placeholder number throughout)."""

    __slots__ = ("scan", "sent", "pending")

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.sent = ""      # the last CONTEXT characters that went out, as they came
        self.pending = ""   # what has arrived and not gone out

    def push(self, piece: str, final: bool = False) -> str:
        """The text that may go out now, redacted when the scan writes (`final`: all of it)."""
        pending = self.pending + piece
        if not final and len(pending) < HOLD + STEP:
            self.pending = pending
            return ""
        if not pending:
            return ""
        text = self.sent + pending
        base = len(self.sent)
        cut = len(text) if final else len(text) - HOLD
        spans = [s for s in self.scan.scanner.find(text) if s.end > base]  # not wholly in text sent
        for s in spans:
            if s.start < cut < s.end:
                cut = max(s.start, base)  # a finding across the line: all of it waits
        mine = tuple(Span(max(s.start, base) - base, s.end - base, s.detector) for s in spans if s.end <= cut)
        out = self.scan.apply(text[base:cut], mine) if cut > base else ""
        self.pending = text[cut:]
        self.sent = text[max(0, cut - CONTEXT):cut]
        return out
