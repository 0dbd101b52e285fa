"""docs/configuration.md is generated from the config model and cannot drift: the page is what
`python -m gateway.config.reference` prints, every field the parser accepts is on it (and no
other), and the parser's defaults are the model's defaults the page shows."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from gateway.config import parse_config
from gateway.config.model import (PRIORITIES, TASKS, AdminAuth, Breaker, Budget, Housekeeping, MetricsSettings,
                                  Quirks, ResponseStorage, Server, StateSettings, Timeouts)
from gateway.config.reader import Reader
from gateway.config.reference import NONE, SECTIONS, render
from tests.procs import ROOT

PAGE = ROOT / "docs" / "configuration.md"
ENV = {"SIMULATOR_API_KEY": "k"}
SHA = "0" * 64


def test_checked_in_page_is_what_the_generator_prints() -> None:
    printed = subprocess.run([sys.executable, "-m", "gateway.config.reference"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    assert printed == render()
    assert PAGE.read_text() == printed, "docs/configuration.md is stale: run `make docs`"


def _normalise(path: str, doc: dict[str, Any]) -> str:
    """providers.openai.timeouts -> providers.<name>.timeouts; keys[0] -> keys[] (names may hold dots)."""
    for section in ("providers", "models", "routes", "pools", "guardrails"):
        for name in sorted(doc.get(section) or {}, key=len, reverse=True):
            prefix = f"{section}.{name}"
            if path == prefix or path.startswith(prefix + "."):
                path = f"{section}.<name>" + path[len(prefix):]
                break
    path = re.sub(r"\.tasks\.[a-z_]+", ".tasks.<task>", path)
    path = re.sub(r"\[\d+\]", "[]", path)
    return "top level" if path == "<root>" else path


def full_doc() -> dict[str, Any]:
    """The demo config (routes with tasks and experiments) plus the sections it leaves out."""
    doc = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    doc["admin_keys"] = [{"name": "reader", "sha256": SHA}]
    doc["providers"]["openai"]["quirks"] = {"stream_usage": True}
    doc["providers"]["bedrock"] = {"format": "bedrock", "base_url": "http://127.0.0.1:1",
                                   "api_key_env": "SIMULATOR_API_KEY", "aws_region": "us-east-1"}
    doc["models"]["guarded"] = {"provider": "bedrock", "upstream": "amazon.nova-lite-v1:0", "price": {"input": 1},
                                "bedrock": {"guardrail": {"id": "gr1", "version": 1}}}
    doc["guardrails"] = {"pii": {"detect": ["email"], "custom": {"order_id": "ORD-[0-9]{6}"}, "action": "block",
                                 "output": {"detect": ["secret"], "action": "redact"}}}
    return doc


def test_every_accepted_field_is_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    accepted: dict[str, set[str]] = {}
    original = Reader.known
    doc = full_doc()

    def recording(self: Reader, d: dict[str, Any], path: str, allowed: set[str]) -> None:
        accepted.setdefault(_normalise(path, doc), set()).update(allowed)
        original(self, d, path, allowed)

    monkeypatch.setattr(Reader, "known", recording)
    parse_config(doc, "demo.yaml", ENV)
    documented = {s.path: {f.name for f in s.fields} for s in SECTIONS}
    # the one section whose fields are the priorities rather than checked by `known`
    assert documented.pop("budget.at_limit") == set(PRIORITIES)
    assert documented == accepted
    quality = next(f for s in SECTIONS if s.path == "models.<name>" for f in s.fields if f.name == "quality")
    assert all(task in quality.doc for task in TASKS)


def minimal_doc() -> dict[str, Any]:
    return {"providers": {"p": {"format": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key_env": None}},
            "models": {"m": {"provider": "p", "price": {"input": 1}}},
            "routes": {"auto": {"primary": "m"}},
            "keys": [{"name": "k", "sha256": SHA}]}


def test_parser_defaults_are_the_models_defaults() -> None:
    cfg = parse_config(minimal_doc(), "minimal.yaml", {})
    assert (cfg.server, cfg.state, cfg.breaker, cfg.budget, cfg.housekeeping) == (
        Server(), StateSettings(), Breaker(), Budget(), Housekeeping())
    assert (cfg.admin, cfg.metrics, cfg.responses) == (AdminAuth(), MetricsSettings(), ResponseStorage())
    provider, model, key = cfg.providers["p"], cfg.deployments["m"], cfg.keys[0]
    assert (provider.timeouts, provider.quirks) == (Timeouts(), Quirks())
    page = {(s.path, f.name): f.default for s in SECTIONS for f in s.fields}
    # the defaults the page states outside the dataclasses, against what the parser made
    assert page["providers.<name>", "max_retries"] == provider.max_retries
    assert page["providers.<name>", "max_connections"] == provider.egress.max_connections
    assert page["providers.<name>", "optional"] is False
    assert page["models.<name>", "context_window"] == model.context_window
    assert page["models.<name>", "max_output_tokens"] == model.max_output_tokens
    assert page["models.<name>", "rpm"] == model.rpm == page["models.<name>", "tpm"] == model.tpm
    assert page["models.<name>", "kind"] == model.kind and model.upstream == "m"
    assert page["models.<name>.price", "output"] * 1e6 == model.price.output
    assert model.price.cached_input == model.price.input and model.price.reasoning is None
    assert page["keys[]", "rpm"] == key.rpm and page["keys[]", "daily_budget_usd"] == key.daily_budget_micro
    assert page["keys[]", "priority"] == NONE and key.priority is None
    route = cfg.routes["auto"]
    assert page["routes.<name>", "uncertain_below"] == route.uncertain_below
    assert page["routes.<name>", "priority"] == route.default.priority
    assert page["routes.<name>", "strategy"] == route.default.strategy
    assert page["routes.<name>", "min_quality"] == route.default.min_quality
    assert page["admin_keys[]", "scope"] == "read"
    # units: the model keeps milliseconds and micro-dollars, the page the file's seconds and USD
    assert page["breaker", "window_s"] * 1000 == Breaker().window_ms
    assert page["budget", "daily_usd"] == Budget().daily_micro / 1e6
