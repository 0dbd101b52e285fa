"""Codex CLI end to end: `codex exec` from npm, configured with a custom provider whose
`wire_api = "responses"` points at the gateway, answers a prompt through it; the gateway's log
shows each of its requests with task, model and cost. Installed by the test (tests/npm_tools.py)."""

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
from tests.test_responses_provider_e2e import with_responses_provider

CODEX_VERSION = "0.171.0"


@pytest.fixture(scope="module")
def codex() -> Path:
    return npm_tool("@openai/codex", CODEX_VERSION, "codex")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Proc, Proc]]:
    with sim_and_gateway(tmp_path_factory.mktemp("codex"),
                         lambda port: with_responses_provider(config(port).replace("prefix: prov", "prefix: codex"), port),
                         redis_url) as stack:
        yield stack


def codex_home(tmp: Path, base_url: str, model: str) -> Path:
    """A throwaway HOME whose ~/.codex/config.toml sends everything to the gateway."""
    home = tmp / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(f"""
model = "{model}"
model_provider = "gateway"

[model_providers.gateway]
name = "LLM gateway"
base_url = "{base_url}/v1"
env_key = "GATEWAY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
""")
    return home


@pytest.mark.parametrize("model, provider", [("auto", "openai"), ("claude-opus-4.7", "anthropic"),
                                             ("codex", "openai-resp")])
def test_codex_exec_answers_through_the_gateway(codex: Path, gateway: tuple[Proc, Proc], tmp_path: Path,
                                                model: str, provider: str) -> None:
    gw, _ = gateway
    home = codex_home(tmp_path, gw.url, model)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home / ".codex"),
           "GATEWAY_API_KEY": DEMO_KEY}
    before = len(gw.log_lines())
    done = subprocess.run([str(codex), "exec", "--skip-git-repo-check", "--sandbox", "read-only",
                           "-c", 'approval_policy="never"', "Say hello"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    # the final answer is the simulator's deterministic text: its words and nothing else
    answer = done.stdout.strip().splitlines()[-1]
    words = re.findall(r"[a-z]+", answer.lower())
    assert words and set(words) <= set(WORDS), answer
    requests = [json.loads(line) for line in gw.log_lines()[before:] if '"event":"request"' in line]
    assert requests, gw.log_lines()[before:]
    for line in requests:  # every turn Codex took (a tool call and the answer after it, or just one)
        assert line["status"] == 200 and line["key"] == "demo" and line["stream"] is True
        assert line["api"] == "openai.responses"
        assert line["task"] and line["provider"] == provider and line["model"]
        assert line["cost_usd"] > 0 and line["tokens_in"] > 1000  # Codex's own instructions are long
