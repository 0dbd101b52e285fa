"""Gemini CLI end to end: `gemini -p` from npm with `GOOGLE_GEMINI_BASE_URL` pointing at the gateway
(the CLI's own "gateway" sign-in: the key from `GEMINI_API_KEY` as `x-goog-api-key`) answers a
prompt through it; the gateway's log shows each of its requests with task, model and cost.
Installed by the test (tests/npm_tools.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from gateway.simulator.text import WORDS
from tests.npm_tools import npm_tool
from tests.procs import DEMO_KEY, Proc, sim_and_gateway
from tests.test_providers_e2e import config

GEMINI_CLI_VERSION = "0.61.0"
# The CLI's own `-m auto` is its router, which names Google's newest models (in 0.61.0 a classifier
# call to gemini-3.5-flash-lite, then e.g. gemini-3.8-flash): give `-m` a gateway route or model.


def cli_config(port: int) -> str:
    return config(port).replace("prefix: prov", "prefix: gcli")


@pytest.fixture(scope="module")
def gemini_cli() -> Path:
    return npm_tool("@google/gemini-cli", GEMINI_CLI_VERSION, "gemini")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Proc, Proc]]:
    with sim_and_gateway(tmp_path_factory.mktemp("gemini-cli"), cli_config, redis_url) as stack:
        yield stack


@pytest.mark.parametrize("model, provider", [("gemini-2.5-flash", "gemini"), ("claude-opus-4.7", "anthropic"),
                                             ("claude-first", "anthropic")])
def test_gemini_cli_answers_through_the_gateway(gemini_cli: Path, gateway: tuple[Proc, Proc], tmp_path: Path,
                                                model: str, provider: str) -> None:
    gw, _ = gateway
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},  # this CLI's "gateway" type is not selectable yet
        "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GOOGLE_GEMINI_BASE_URL": gw.url,
           "GEMINI_API_KEY": DEMO_KEY, "NO_BROWSER": "true", "CI": "true"}
    before = len(gw.log_lines())
    done = subprocess.run([str(gemini_cli), "--skip-trust", "-m", model, "-p", "Say hello"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    # the final answer is the simulator's deterministic text: its words and nothing else
    answer = done.stdout.strip().splitlines()[-1]
    words = re.findall(r"[a-z]+", answer.lower())
    assert words and set(words) <= set(WORDS), answer
    requests = [json.loads(line) for line in gw.log_lines()[before:] if '"event":"request"' in line]
    assert requests, gw.log_lines()[before:]
    for line in requests:  # every call the CLI made, with the model it was given
        assert line["status"] == 200 and line["key"] == "demo" and line["model_asked"] == model
        assert line["api"] == "gemini.generate_content" and line["task"] and line["cost_usd"] > 0
        assert line["provider"] == provider
