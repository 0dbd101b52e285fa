"""The README, followed literally: `make run` as a real process, then every block marked
`<!-- doctest -->` run in order against it (shell blocks with bash, Python blocks with this
interpreter), so the quick start cannot rot. The only changes: the ports (a free one instead of
8080 and 9100, as the machine may be running other gateways) and the data directory (a temporary
one instead of ./.gateway/demo, found through GATEWAY_DATA_DIR as a user's shell would find
./.gateway). Stopping is Ctrl-C's SIGINT to the process group: no `fold_failed` warning."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from gateway.state.engine import free_port
from tests.procs import ROOT, wait_http

BLOCK = re.compile(r"<!-- doctest -->\n```(sh|python)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_the_readme_marks_the_quick_start_blocks() -> None:
    text = (ROOT / "README.md").read_text()
    assert "```sh\nmake run    #" in text  # what this test starts
    kinds = [k for k, _ in blocks()]
    assert kinds.count("sh") >= 3 and kinds.count("python") >= 1


def test_the_readme_runs_against_make_run(tmp_path: Path) -> None:
    port, sim_port, data = free_port(), free_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GATEWAY_CONFIG", "MAKEFLAGS", "MAKELEVEL")}
    env.update(PORT=str(port), SIMULATOR_PORT=str(sim_port), DATA_DIR=str(data))
    log = tmp_path / "make-run.log"
    subprocess.run(["make", "install"], cwd=ROOT, env=env, check=True, capture_output=True)  # before the clock
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, 60)
        user_env = {**{k: v for k, v in env.items() if k not in ("PORT", "SIMULATOR_PORT", "DATA_DIR")},
                    "GATEWAY_DATA_DIR": str(data)}
        outputs = []
        for kind, code in blocks():
            code = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            cmd = ["bash", "-eo", "pipefail", "-c", code] if kind == "sh" else [sys.executable, "-c", code]
            out = subprocess.run(cmd, cwd=ROOT, env=user_env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, f"{kind} block failed:\n{code}\n{out.stdout}\n{out.stderr}"
            outputs.append(out.stdout + out.stderr)
        text = "\n".join(outputs)
        assert "HTTP/1.1 200" in text and "x-gateway-model:" in text      # the curl
        assert re.search(r"\n\d+ tokens\n", text) and "None" not in text  # the stream, with its usage
        assert "1 live replica(s), 1 worker(s), 1 config hash(es)" in text  # gateway status, found alone
        assert "saves 6" in text                                           # gateway whatif
        assert "provider anthropic left out (ANTHROPIC_API_KEY is not set)" in text  # check-config
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    lines = log.read_text()
    assert "fold_failed" not in lines and "housekeeping_failed" not in lines, lines[-3000:]
    assert not (data / "gateway.json").exists()
