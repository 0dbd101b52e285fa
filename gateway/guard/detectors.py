"""The detectors: each a name and `find(text) -> spans`, over precompiled regexes.

A regex alone finds too much: any 16 digits look like a card, any `XX00...` like an IBAN. So a
detector also checks each match: the Luhn sum of a card number, the mod-97 remainder of an IBAN,
the ranges of an SSN or an IPv4 octet, a key's mix of letters and digits. Phone numbers are
matched only in the shapes people write them in (`+CC ...`, `(555) 123-4567`, `020 7946 0958`),
never as bare runs of digits, so an order number, a price or a date is not one.

Speed: Python's regex engine is quick only when a pattern starts with a literal (it then skips
ahead like `str.find`). So every secret pattern starts with its literal prefix (`sk-`, `AKIA`,
`eyJ`...) and checks what comes before it with a lookbehind placed after it; e-mail addresses are
found from each `@`; and the number detectors (card, SSN, phone, IPv4, IBAN) share one pass that
finds the runs of digits and separators at least seven long (`numeric_runs`), each detector then
reading only around those runs (an IBAN's account number is one; its country code comes before).
Patterns are ASCII (`re.ASCII`: `\\d` is 0-9) and bounded, and no built-in one matches a NUL
(`joins`), so a request's texts are scanned joined by NULs, one call per pattern for the whole
request (gateway.guard.scanner).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Protocol


@dataclass(frozen=True, slots=True)
class Span:
    """Where one finding is in a text: `text[start:end]`, found by `detector`."""

    start: int
    end: int
    detector: str


class Detector(Protocol):
    """One kind of finding; `name` is its kind in config, metrics, logs and placeholders."""

    name: str

    def find(self, text: str) -> list[Span]:
        """Every finding in `text`, in order."""
        ...


Check = Callable[[str], bool]


class PatternDetector:
    """Findings of one or more patterns (an operator's own, or one per secret shape), each match
    passing `check`."""

    __slots__ = ("name", "patterns", "check", "joins")

    def __init__(self, name: str, patterns: tuple[re.Pattern[str], ...], check: Check | None = None,
                 joins: bool = False) -> None:
        self.name, self.patterns, self.check = name, patterns, check
        self.joins = joins  # no pattern matches a NUL: texts joined by NULs may be scanned as one

    def find(self, text: str) -> list[Span]:
        check, name, out = self.check, self.name, []
        for pattern in self.patterns:
            out += [Span(m.start(), m.end(), name) for m in pattern.finditer(text)
                    if m.end() > m.start() and (check is None or check(m.group()))]
        return out


NUMERIC_RUN = re.compile(r"[+(0-9][0-9 ().+/-]{5,}[0-9]", re.ASCII)
"""A run of digits and the separators numbers are written with, at least seven characters."""


def numeric_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, run) of every NUMERIC_RUN in `text`: one pass the number detectors share."""
    return [(m.start(), m.end(), m.group()) for m in NUMERIC_RUN.finditer(text)]


class NumericDetector:
    """A number written with digits and separators: its pattern is tried only inside the runs
    (`numeric_runs`) at least `min_len` long that hold `needs` at least `count` times (a
    separator it cannot do without) and, with `lead`, whose start it accepts; from `reach`
    characters before each run to `after` characters after it (its lookahead; an IBAN's letters
    on either side of its digits)."""

    __slots__ = ("name", "pattern", "check", "min_len", "needs", "count", "reach", "after", "lead")
    joins = True

    def __init__(self, name: str, pattern: re.Pattern[str], check: Check, min_len: int = 7, needs: str = "",
                 count: int = 1, reach: int = 0, after: int = 2, lead: Callable[[str, int], bool] | None = None
                 ) -> None:
        self.name, self.pattern, self.check, self.min_len = name, pattern, check, min_len
        self.needs, self.count, self.reach, self.after, self.lead = needs, count, reach, after, lead

    def find(self, text: str) -> list[Span]:
        return self.find_in(text, numeric_runs(text))

    def find_in(self, text: str, runs: list[tuple[int, int, str]]) -> list[Span]:
        out: list[Span] = []
        done = 0  # where the last finding ended: a window starts no earlier, so nothing is found twice
        for start, end, run in runs:
            if end - start < self.min_len or (self.needs and run.count(self.needs) < self.count) \
                    or (self.lead is not None and not self.lead(text, start)):
                continue
            for m in self.pattern.finditer(text, max(done, start - self.reach), end + self.after):
                if self.check(m.group()):
                    out.append(Span(m.start(), m.end(), self.name))
                    done = m.end()
        return out


_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_LOCAL = re.compile(r"[A-Za-z0-9._%+-]{1,64}\Z", re.ASCII)
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-]|:[\w~/])",
                     re.ASCII)


class EmailDetector:
    """`local@domain.tld`, found from each `@` (str.find), its parts matched on either side; not
    an SSH remote (`git@github.com:org/repo.git`)."""

    __slots__ = ("name",)
    joins = True

    def __init__(self) -> None:
        self.name = "email"

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        at = text.find("@")
        while at != -1:
            domain = _DOMAIN.match(text, at + 1)
            local = _LOCAL.search(text, max(0, at - 64), at) if domain else None
            if domain and local:
                start = local.start()
                while start < at and text[start] not in _ALNUM:  # a local part starts with a letter or digit
                    start += 1
                if start < at and (start == 0 or text[start - 1] not in _LOCAL_CHARS):
                    out.append(Span(start, domain.end(), self.name))
                    at = text.find("@", domain.end())
                    continue
            at = text.find("@", at + 1)
        return out


def luhn(digits: str) -> bool:
    """The Luhn checksum every payment card number passes (one random number in ten does)."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: str) -> bool:
    digits = "".join(c for c in match if c.isdigit())
    return 13 <= len(digits) <= 19 and luhn(digits)


def iban_ok(match: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, letters as 10..35, mod 97 is 1."""
    text = match.replace(" ", "")
    if not 15 <= len(text) <= 34:
        return False
    moved = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _phone(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    return 8 <= digits <= 15 if match.startswith("+") else 9 <= digits <= 12


def _after_capital(text: str, start: int) -> bool:
    """An IBAN's run of digits follows a capital letter (`DE89...`, `...WEST 1234`), maybe a space."""
    before = text[start - 2:start] if start >= 2 else text[:start]
    return before[-1:].isupper() or (before[-1:] == " " and before[:1].isupper())


def _ssn(match: str) -> bool:
    """The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000."""
    area, group, serial = match.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ipv4(match: str) -> bool:
    return all(int(o) <= 255 and (o == "0" or o[0] != "0") for o in match.split("."))


def _secret(match: str) -> bool:
    """An `sk-` key is random: letters and digits both (a hyphenated slug starting `sk-` is not)."""
    if not match.startswith("sk-"):
        return True
    body = match[3:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


_A = re.ASCII
_KEY_END = r"(?![A-Za-z0-9_-])"
EMAIL = EmailDetector()

PHONE = NumericDetector("phone", re.compile(
    r"(?<![\w+./:-])(?:"
    r"\+[1-9][0-9]{0,2}+(?:[ .-]?+\(?[0-9]{1,4}+\)?){2,6}+"          # +44 20 7946 0958, +1 (555) 123-4567
    r"|\([2-9][0-9]{2}\) ?[0-9]{3}[-. ][0-9]{4}"                     # (555) 123-4567
    r"|[2-9][0-9]{2}([-. ])[0-9]{3}\1[0-9]{4}"                       # 555-123-4567, 555.123.4567
    r"|0[1-9][0-9]{0,3}([ /-])[0-9]{2,8}(?:\2[0-9]{2,8}){0,3}"       # 020 7946 0958, 06 12 34 56 78
    r")(?![\w/-]|[.,:][0-9])", _A), _phone, 9)

CARD = NumericDetector("card", re.compile(
    r"(?<![\w.,+-])[2-6][0-9](?:[ -]?[0-9]){11,17}(?![\w-]|[.,][0-9])", _A), _card, 13)

SSN = NumericDetector("ssn", re.compile(r"(?<![\w-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![\w-])", _A), _ssn, 11, "-", 2)

IPV4 = NumericDetector("ipv4", re.compile(
    r"(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?!\w|\.[0-9])", _A), _ipv4, 7, ".", 3)

IBAN = NumericDetector("iban", re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])", _A),
    iban_ok, reach=24, after=40, lead=_after_capital)  # the account number is a run; letters around it

SECRET = PatternDetector("secret", tuple(re.compile(p, _A) for p in (
    r"sk-(?<![A-Za-z0-9_-]sk-)[A-Za-z0-9_-]{20,400}" + _KEY_END,             # OpenAI, Anthropic (sk-ant-...)
    r"A(?<![A-Za-z0-9_-]A)(?:(?:KIA|SIA)[0-9A-Z]{16}|Iza[0-9A-Za-z_-]{35})" + _KEY_END,  # AWS key ids, Google
    r"gh(?<![A-Za-z0-9_-]gh)[pousr]_[A-Za-z0-9]{36,255}" + _KEY_END,          # GitHub tokens
    r"github_pat_(?<![A-Za-z0-9_-]github_pat_)[A-Za-z0-9_]{22,255}" + _KEY_END,  # GitHub fine-grained tokens
    r"xox(?<![A-Za-z0-9_-]xox)[abeoprs]-[A-Za-z0-9-]{10,255}" + _KEY_END,   # Slack
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{5,8192}\.[A-Za-z0-9_-]{8,1024}"  # JWTs
    + _KEY_END,
    r"-----BEGIN[A-Z0-9 ]{0,32} PRIVATE KEY-----(?:[^\x00]{1,16384}?-----END[A-Z0-9 ]{0,32} PRIVATE KEY-----"
    r"|[A-Za-z0-9+/=\s]{0,16384})",                                          # PEM private keys (a cut one: to its end)
)), _secret, joins=True)

BUILTIN: dict[str, Detector] = {d.name: d for d in (SECRET, CARD, IBAN, SSN, EMAIL, PHONE, IPV4)}
"""The built-in detectors by name, in the order their findings win a tie (see scanner.Scanner)."""

CUSTOM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def custom(name: str, pattern: str) -> PatternDetector:
    """An operator's detector (`guardrails.<policy>.custom.<name>`); re.error for a bad pattern,
    ValueError for one that matches the empty string (it would find nothing worth a placeholder)."""
    compiled = re.compile(pattern)
    if compiled.fullmatch(""):
        raise ValueError("the pattern matches the empty string")
    return PatternDetector(name, (compiled,))
