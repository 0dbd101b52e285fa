"""The two most-used open-source peers, installed outside the project's dependencies.

- LiteLLM proxy `litellm[proxy]==1.108.7` in its own virtual environment,
  `.bench-venvs/litellm` (needs LITELLM_MASTER_KEY and LITELLM_LOCAL_MODEL_COST_MAP=True).
  Also run a second time with Redis (`litellm-redis`: router state in the same engine as ours).
- Portkey gateway `@portkey-ai/gateway@1.15.2` with npm in `.bench-venvs/portkey`, with an npm
  override pinning `@hono/node-server` to 1.13.8 (its streaming works only with that one).

Each is pointed at the same simulator as an OpenAI-compatible upstream and pinned to the same
core as our gateway. An install that fails is reported (`Peer.unavailable`), never fatal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import GATEWAY_SYSTEM_CPU, ROOT, SIM_KEY, Proc, free_port, launch, pin

VENVS = ROOT / ".bench-venvs"
LITELLM_SPEC = "litellm[proxy]==1.108.7"
LITELLM_VERSION = "1.108.7"
PORTKEY_VERSION = "1.15.2"
HONO_NODE_SERVER = "1.13.8"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"
UPSTREAM_MODEL = "deepseek-v4-pro"  # what our gateway picks for the benchmark's prompt


@dataclass
class PeerInstall:
    name: str
    ok: bool
    message: str
    paths: dict[str, str] = field(default_factory=dict)


def _run(cmd: list[str], log: Path, cwd: Path | None = None, timeout: float = 1500) -> bool:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, timeout=timeout).returncode == 0
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.write(f"failed: {exc}\n".encode())
            return False


def _tail(log: Path, n: int = 6) -> str:
    if not log.exists():
        return ""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip() and "is ignored" not in ln]
    return " | ".join(lines[-n:])


def install_litellm() -> PeerInstall:
    venv = VENVS / "litellm"
    marker = venv / f".installed-{LITELLM_VERSION}"
    binary = venv / "bin" / "litellm"
    if marker.exists() and binary.exists():
        return PeerInstall("litellm", True, f"LiteLLM {LITELLM_VERSION} (already in {venv})", {"bin": str(binary)})
    VENVS.mkdir(exist_ok=True)
    log = VENVS / "litellm-install.log"
    print(f"bench: installing {LITELLM_SPEC} into {venv} (log: {log}) ...", flush=True)
    python = shutil.which("python3.11") or sys.executable
    ok = (venv / "bin" / "python").exists() or _run([python, "-m", "venv", str(venv)], log)
    ok = ok and _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      LITELLM_SPEC], log)
    if not ok or not binary.exists():
        return PeerInstall("litellm", False, f"could not install {LITELLM_SPEC}: {_tail(log)} (log: {log})")
    marker.touch()
    return PeerInstall("litellm", True, f"LiteLLM {LITELLM_VERSION} installed in {venv}", {"bin": str(binary)})


def install_portkey() -> PeerInstall:
    folder = VENVS / "portkey"
    marker = folder / f".installed-{PORTKEY_VERSION}"
    script = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return PeerInstall("portkey", False, "node and npm are needed for the Portkey gateway "
                                             "(apt-get install nodejs npm)")
    if marker.exists() and script.exists():
        return PeerInstall("portkey", True, f"Portkey gateway {PORTKEY_VERSION} (already in {folder})",
                           {"node": node, "script": str(script)})
    folder.mkdir(parents=True, exist_ok=True)
    log = VENVS / "portkey-install.log"
    print(f"bench: installing @portkey-ai/gateway@{PORTKEY_VERSION} with npm into {folder} (log: {log}) ...",
          flush=True)
    (folder / "package.json").write_text(json.dumps({
        "name": "bench-portkey", "private": True, "version": "0.0.0",
        "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
        "overrides": {"@hono/node-server": HONO_NODE_SERVER},
    }, indent=2) + "\n")
    ok = _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], log, cwd=folder)
    hono = folder / "node_modules" / "@hono" / "node-server" / "package.json"
    if not ok or not script.exists():
        return PeerInstall("portkey", False, f"could not install @portkey-ai/gateway@{PORTKEY_VERSION}: "
                                             f"{_tail(log)} (log: {log})")
    hono_version = json.loads(hono.read_text()).get("version") if hono.exists() else "?"
    if hono_version != HONO_NODE_SERVER:
        return PeerInstall("portkey", False, f"@hono/node-server is {hono_version}, not {HONO_NODE_SERVER}: "
                                             "the npm override did not apply")
    marker.touch()
    return PeerInstall("portkey", True, f"Portkey gateway {PORTKEY_VERSION} installed in {folder} "
                                        f"(@hono/node-server {hono_version})", {"node": node, "script": str(script)})


def litellm_config(workdir: Path, sim_port: int, redis_port: int | None) -> Path:
    lines = [
        "model_list:",
        "  - model_name: auto",
        "    litellm_params:",
        f"      model: openai/{UPSTREAM_MODEL}",
        f"      api_base: http://127.0.0.1:{sim_port}/v1",
        f"      api_key: {SIM_KEY}",
        "      rpm: 6000000",
        "litellm_settings:",
        "  drop_params: true",
        "  telemetry: false",
        "general_settings:",
        f"  master_key: {LITELLM_MASTER_KEY}",
    ]
    if redis_port:
        # Shared router state (usage-based routing and rpm tracking) in the same engine as ours.
        lines += ["router_settings:", "  routing_strategy: usage-based-routing-v2",
                  "  redis_host: 127.0.0.1", f"  redis_port: {redis_port}"]
    path = workdir / f"litellm{'-redis' if redis_port else ''}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_litellm(install: PeerInstall, workdir: Path, sim_port: int, redis_port: int | None = None) -> Proc:
    name = "litellm-redis" if redis_port else "litellm"
    port = free_port()
    log = workdir / f"{name}-{port}.log"
    config = litellm_config(workdir, sim_port, redis_port)
    env = {**os.environ, "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "True"}
    env.pop("REDIS_URL", None)
    cmd = pin(GATEWAY_SYSTEM_CPU) + [install.paths["bin"], "--config", str(config), "--host", "127.0.0.1",
                                     "--port", str(port), "--num_workers", "1"]
    peer = launch(name, cmd, port, log, "/health/liveliness", 180, cwd=workdir, env=env)
    peer.extra.update(url=f"{peer.url}/v1/chat/completions", model="auto",
                      headers={"authorization": f"Bearer {LITELLM_MASTER_KEY}"})
    return peer


def start_portkey(install: PeerInstall, workdir: Path, sim_port: int) -> Proc:
    port = free_port()
    log = workdir / f"portkey-{port}.log"
    env = {**os.environ, "NODE_ENV": "production"}
    cmd = pin(GATEWAY_SYSTEM_CPU) + [install.paths["node"], install.paths["script"], f"--port={port}", "--headless"]
    peer = launch("portkey", cmd, port, log, "/", 60, cwd=workdir, env=env)
    peer.extra.update(url=f"{peer.url}/v1/chat/completions", model=UPSTREAM_MODEL,
                      headers={"authorization": f"Bearer {SIM_KEY}", "x-portkey-provider": "openai",
                               "x-portkey-custom-host": f"http://127.0.0.1:{sim_port}/v1"})
    return peer
