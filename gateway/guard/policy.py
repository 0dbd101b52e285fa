"""A guardrail policy as the config holds it: a name, the detectors it runs, its action, and
(optionally) what it does to answers (`output`: its own detectors and action, so a team can
redact prompts yet block a key in an answer)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.guard.scanner import Scanner

ACTIONS = ("redact", "block", "log")
OFF = "none"  # a key's or route's `guardrail: none`: no policy, whatever the level above says


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """One named policy (`guardrails.<name>`): what it looks for (its scanner's detectors,
    built-in then custom) and what it does on a finding; `output` is the same for answers
    (None: answers are not read)."""

    name: str
    action: str  # redact | block | log
    scanner: Scanner
    output: "GuardPolicy | None" = None

    @property
    def detectors(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.scanner.detectors)
