"""Providers left out: an `optional: true` provider whose API key variable is unset is dropped
with its models, so one config (configs/starter.yaml) serves whichever keys an operator has.

Routes lose the models left out before they are validated: a chain keeps its remaining models in
order (the first fallback left becomes the primary), a task chain left empty falls back to the
route's default chain, an experiment left empty is dropped. A route with no model left is an
error naming it, unless the route is itself `optional: true` (then it is dropped too).
"""

from __future__ import annotations

from typing import Any

from gateway.config.model import ConfigError

CHAIN_KEYS = ("primary", "fallbacks")


def _prune_chain(doc: dict[str, Any], gone: dict[str, str]) -> dict[str, Any] | None:
    """The chain without the models left out; None when it named models and none is left."""
    named = ([doc["primary"]] if isinstance(doc.get("primary"), str) else []) + list(doc.get("fallbacks") or [])
    if not named or not any(m in gone for m in named):
        return doc
    kept = [m for m in named if m not in gone]
    if not kept:
        return None
    out = {k: v for k, v in doc.items() if k not in CHAIN_KEYS}
    out["primary"], out["fallbacks"] = kept[0], kept[1:]
    return out


def _models(doc: dict[str, Any]) -> list[str]:
    chains = [doc, *(doc.get("tasks") or {}).values(), *(doc.get("experiments") or [])]
    return [m for c in chains if isinstance(c, dict)
            for m in ([c.get("primary")] + list(c.get("fallbacks") or [])) if isinstance(m, str)]


def prune_route(source: str, name: str, doc: Any, gone: dict[str, str]) -> dict[str, Any] | None:
    """The route's document without the models left out (`gone`: model -> its provider's key
    variable) and without `optional`; None when an optional route is left with no model.
    Anything malformed is returned as it is, for the validator to name."""
    if not isinstance(doc, dict):
        return doc
    optional = doc.get("optional") is True
    doc = {k: v for k, v in doc.items() if k != "optional"}
    if not gone:
        return doc
    out = dict(doc)
    tasks = doc.get("tasks")
    if isinstance(tasks, dict):
        out["tasks"] = {t: c for t, c in ((t, _prune_chain(c, gone) if isinstance(c, dict) else c)
                                          for t, c in tasks.items()) if c is not None}
    experiments = doc.get("experiments")
    if isinstance(experiments, list):
        out["experiments"] = [e for e in (_prune_chain(e, gone) if isinstance(e, dict) else e
                                          for e in experiments) if e is not None]
    default = _prune_chain({k: doc[k] for k in CHAIN_KEYS if k in doc}, gone)
    for k in CHAIN_KEYS:
        out.pop(k, None)
    if default:
        out.update(default)
    if default is None and not out.get("tasks") and out.get("strategy") != "cheapest":
        if optional:
            return None
        named = sorted({m for m in _models(doc) if m in gone})
        why = ", ".join(f"{m} ({gone[m]} is not set)" for m in named)
        raise ConfigError(f"{source}: routes.{name}: every model of this route is left out: {why}; set one of "
                          "those keys, or remove the route (or mark it optional: true)")
    return out
