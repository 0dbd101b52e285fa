"""`guardrails:` (named policies of detectors and an action, and optionally of answers:
`output`) and where each applies.

A policy applies by the most specific setting: the key's `guardrail`, else the route's (the
route a client's `model` names; `auto` is the default route, or the embedding route on
`/v1/embeddings`), else `default_guardrail`; `none` at a level is no policy, whatever the levels
below it say (gateway/guard/apply.py resolves it per request).
Custom patterns are compiled here, so a bad one stops start-up with its path.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config.reader import Reader
from gateway.guard.detectors import BUILTIN, CUSTOM_NAME, Detector, custom
from gateway.guard.scanner import Scanner
from gateway.guard.policy import ACTIONS, OFF, GuardPolicy

POLICY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_guardrails(r: Reader, doc: Any) -> dict[str, GuardPolicy]:
    doc = r.mapping(doc, "guardrails")
    policies = {}
    for name, pdoc in doc.items():
        path = f"guardrails.{name}"
        if not isinstance(name, str) or not POLICY_NAME.match(name) or name == OFF:
            raise r.fail(path, name, "a policy name is letters, digits, '_', '.' or '-' (and not 'none')")
        pdoc = r.mapping(pdoc, path, required=True)
        r.known(pdoc, path, {"detect", "custom", "action", "output"})
        found = _detectors(r, pdoc, path)
        action = r.string(pdoc, "action", path, "redact", choices=ACTIONS)
        output = _output(r, pdoc.get("output"), f"{path}.output", name, found, action)
        if not found and output is None:
            raise r.fail(f"{path}.detect", None, "a policy needs at least one detector (`detect`, `custom` or "
                         "`output.detect`)")
        policies[name] = GuardPolicy(name, action, Scanner(tuple(found)), output)
    return policies


def _detectors(r: Reader, pdoc: dict[str, Any], path: str) -> list[Detector]:
    """A policy's (or its `output`'s) `detect` and `custom` detectors, built-in ones first."""
    detect = r.strings(pdoc, "detect", path)
    for i, kind in enumerate(detect):
        if kind not in BUILTIN:
            raise r.fail(f"{path}.detect[{i}]", kind, f"unknown detector; expected some of {list(BUILTIN)}")
    found: list[Detector] = [BUILTIN[k] for k in BUILTIN if k in detect]  # BUILTIN's order: which wins an overlap
    cdoc = r.mapping(pdoc.get("custom"), f"{path}.custom")
    for cname, pattern in cdoc.items():
        where = f"{path}.custom.{cname}"
        if not isinstance(cname, str) or not CUSTOM_NAME.match(cname) or cname in BUILTIN:
            raise r.fail(where, cname, "a detector name is lower-case letters, digits and '_' (at most 32), "
                         "not a built-in detector's")
        if not isinstance(pattern, str) or not pattern:
            raise r.fail(where, pattern, "expected a regular expression")
        try:
            found.append(custom(cname, pattern))
        except (re.error, ValueError) as exc:
            raise r.fail(where, pattern, f"not a usable regular expression: {exc}") from None
    return found


def _output(r: Reader, doc: Any, path: str, name: str, prompt: list[Detector], action: str) -> GuardPolicy | None:
    """`output:` (answers): its own `detect`/`custom` (default: the prompt's detectors) and `action`
    (default: the prompt's); absent: answers are not read."""
    if doc is None:
        return None
    doc = r.mapping(doc, path, required=True)
    r.known(doc, path, {"detect", "custom", "action"})
    found = _detectors(r, doc, path) if "detect" in doc or "custom" in doc else prompt
    if not found:
        raise r.fail(f"{path}.detect", None, "an output policy needs at least one detector")
    return GuardPolicy(name, r.string(doc, "action", path, action, choices=ACTIONS),
                       Scanner(tuple(found), remember=False))


def guardrail_name(r: Reader, doc: dict[str, Any], path: str, policies: dict[str, GuardPolicy],
                   field: str = "guardrail") -> str | None:
    """A `guardrail` field: a policy's name, `none`, or absent (None: the next level decides)."""
    if doc.get(field) is None:
        return None
    name = r.string(doc, field, path)
    if name != OFF and name not in policies:
        where = field if path == "<root>" else f"{path}.{field}"
        raise r.fail(where, name, f"unknown policy; defined: {sorted(policies)} (or 'none')")
    return name
