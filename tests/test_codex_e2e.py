"""Codex CLI end to end: `codex exec` from npm, configured with a custom provider whose
`wire_api = "responses"` points at the gateway, answers a prompt through it; the gateway's log
shows each of its requests with task, model and cost. And Codex edits a file: the model's
`apply_patch` custom tool call (through Anthropic, translated, with reasoning on, and through a
Responses-API deployment, as it came) is applied in its working directory, and the next turn,
which carries the call and its output (and, for Claude, its signed thinking in the reasoning
item), goes through. Installed by the test (tests/npm_tools.py)."""

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
from tests.procs import DEMO_KEY, Proc, sim_and_gateway, sim_reset, sim_set
from tests.test_providers_e2e import config
from tests.test_responses_provider_e2e import UPSTREAM, with_responses_provider

CODEX_VERSION = "0.171.0"
# Codex offers `apply_patch` as a custom tool only to models it knows for it: a route of that name
# goes to Anthropic first; the second key may use only the Responses-API deployment (`codex`).
PATCH_MODEL, NATIVE_KEY = "gpt-5.5", "sk-codex-native"
ROUTES = f"""  {PATCH_MODEL}: {{primary: claude-opus-4.7, fallbacks: [codex]}}
keys:
  - {{name: codex-native, sha256: a47bb0f1dde39a9b3ae3288fb2d5cb5f053819695fceafc3331b8ee87c4ac86d,
     allowed_models: [codex]}}
"""
PATCH = "*** Begin Patch\n*** Update File: notes.txt\n@@\n-old line\n+new line\n*** End Patch\n"


@pytest.fixture(scope="module")
def codex() -> Path:
    return npm_tool("@openai/codex", CODEX_VERSION, "codex")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Proc, Proc]]:
    with sim_and_gateway(tmp_path_factory.mktemp("codex"),
                         lambda port: with_responses_provider(config(port).replace("prefix: prov", "prefix: codex"),
                                                              port).replace("keys:\n", ROUTES),
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


@pytest.mark.parametrize("key, provider, upstream", [(DEMO_KEY, "anthropic", "claude-opus-4.7"),
                                                     (NATIVE_KEY, "openai-resp", UPSTREAM)])
def test_codex_applies_the_patch_of_a_custom_tool_call(codex: Path, gateway: tuple[Proc, Proc], tmp_path: Path,
                                                      key: str, provider: str, upstream: str) -> None:
    gw, sim = gateway
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("old line\n")
    home = codex_home(tmp_path, gw.url, PATCH_MODEL)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home / ".codex"), "GATEWAY_API_KEY": key}
    sim_set(sim, upstream, tool_call="apply_patch", tool_args={"input": PATCH})
    before = len(gw.log_lines())
    try:
        # reasoning on (Codex's default effort): Claude's signed thinking goes out in a reasoning
        # item and comes back with the tool turn, which Claude refuses without it
        done = subprocess.run([str(codex), "exec", "--skip-git-repo-check", "--sandbox", "workspace-write",
                               "-c", 'approval_policy="never"', "Change old line to new line in notes.txt"],
                              env=env, cwd=work, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        sim_reset(sim)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "notes.txt").read_text() == "new line\n", done.stderr[-3000:]
    # the turn after the patch carried the custom_tool_call and its output; the model read the output
    assert "Tool result:" in done.stdout.strip().splitlines()[-1], done.stdout[-2000:]
    requests = [json.loads(line) for line in gw.log_lines()[before:] if '"event":"request"' in line]
    assert len(requests) >= 2, requests
    assert all(r["status"] == 200 and r["provider"] == provider and r["api"] == "openai.responses" for r in requests)
