"""Claude Code end to end: `claude -p` (installed from npm) → the gateway's Messages API → the
simulator speaking OpenAI, Anthropic or Gemini. The agent's answer comes back, the gateway logs
each request's task, model and cost, and with the simulator told to call the agent's `Read`
tool, the file's content reaches the model (it quotes the tool's result) and the agent prints it.

The package is installed once into ~/.cache/gateway-tests/npm (outside the repository), so reruns
start at once; the tests are skipped, saying why, only when npm or its registry is unreachable.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from gateway.simulator.text import WORDS
from tests.procs import DEMO_KEY, Proc, sim_reset, sim_set, start_gateway
from tests.test_anthropic_e2e import config

NPM_CACHE = Path.home() / ".cache" / "gateway-tests" / "npm"
PACKAGE = "@anthropic-ai/claude-code"
# route alias → (the deployment it serves, the wire format the simulator speaks for it)
ROUTES = {"cc-openai": ("gpt-5.4-mini", "openai"), "cc-anthropic": ("claude-opus-4.7", "anthropic"),
          "cc-gemini": ("gemini-2.5-flash", "gemini")}


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    binary = NPM_CACHE / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install Claude Code")
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run([npm, "install", "--prefix", str(NPM_CACHE), "--no-audit", "--no-fund", PACKAGE],
                                  capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            pytest.skip("npm install of Claude Code took over 10 minutes: the registry is unreachable or slow")
        if done.returncode != 0 or not binary.exists():
            pytest.skip(f"npm could not install {PACKAGE} (registry unreachable?): {done.stderr[-400:]}")
    return binary


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    routes = "".join(f"  {alias}: {{primary: {dep}}}\n" for alias, (dep, _) in ROUTES.items())
    text = config(sim.port).replace("routes:\n", "routes:\n" + routes, 1).replace("prefix: amsg", "prefix: ccode")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def claude(binary: Path, gateway: Proc, route: str, prompt: str, workdir: Path) -> str:
    """`claude -p` with a throwaway HOME, every model pointed at `route`; its printed answer."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "ANTHROPIC_BASE_URL": gateway.url,
           "ANTHROPIC_API_KEY": DEMO_KEY, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "ANTHROPIC_MODEL": route, "ANTHROPIC_SMALL_FAST_MODEL": route, "ANTHROPIC_DEFAULT_HAIKU_MODEL": route,
           "ANTHROPIC_DEFAULT_SONNET_MODEL": route, "ANTHROPIC_DEFAULT_OPUS_MODEL": route}
    done = subprocess.run([str(binary), "-p", prompt], cwd=workdir, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, f"claude exited {done.returncode}: {done.stdout[-800:]} {done.stderr[-800:]}"
    return done.stdout.strip()


def served(gateway: Proc, route: str) -> list[dict]:
    lines = [json.loads(line) for line in gateway.log_lines() if '"event":"request"' in line]
    return [line for line in lines if line.get("api") == "anthropic.messages" and line.get("route") == route]


@pytest.mark.parametrize("route", ["cc-openai", "cc-anthropic"])
def test_claude_says_hello_through_the_gateway(claude_bin: Path, gateway: Proc, sim: Proc, route: str,
                                               tmp_path: Path) -> None:
    sim_reset(sim)
    deployment, _ = ROUTES[route]
    sim_set(sim, deployment, tool_call="none")  # the agent offers its tools; this answer uses none
    answer = claude(claude_bin, gateway, route, "Say hello", tmp_path)
    words = [w.strip(".").lower() for w in answer.split()]
    assert words and all(w in WORDS for w in words), answer  # the simulated model's own words
    logged = served(gateway, route)
    assert logged and all(line["status"] == 200 and line["model"] == deployment for line in logged)
    assert all(line["task"] and line["cost_usd"] > 0 and line["tokens_out"] > 0 for line in logged)


@pytest.mark.parametrize("route", list(ROUTES))
def test_claude_tool_round_trip_reaches_the_model(claude_bin: Path, gateway: Proc, sim: Proc, route: str,
                                                  tmp_path: Path) -> None:
    sim_reset(sim)
    deployment, wire_format = ROUTES[route]
    secret = f"PERIWINKLE-{secrets.token_hex(4)}"
    notes = tmp_path / "notes.txt"
    notes.write_text(f"The secret word is {secret}.\n")
    sim_set(sim, deployment, tool_call="Read", tool_args={"file_path": str(notes)})
    before = len(served(gateway, route))
    answer = claude(claude_bin, gateway, route, "Read notes.txt and tell me the secret word.", tmp_path)
    # the model answers "Tool result: <what Read returned>": the file reached it through the gateway
    assert answer.startswith("Tool result:") and secret in answer, answer
    logged = served(gateway, route)[before:]
    assert len(logged) >= 2 and all(line["provider"] == wire_format for line in logged)
    assert all(line["cost_usd"] > 0 for line in logged)
