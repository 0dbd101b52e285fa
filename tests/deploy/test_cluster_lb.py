"""`make cluster` installs nothing: without nginx, `scripts/cluster.py up` prints the install command
and exits 1 before it starts a single process (no engine, no simulator, no replica, no apt-get)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_script", ROOT / "scripts" / "cluster.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_nginx_stops_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cluster = load_cluster()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no nginx on PATH...
    monkeypatch.setattr(cluster, "NGINX_PATHS", ())           # ...nor in sbin

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "run", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    state_dir = tmp_path / "state"
    assert cluster.main(["--state-dir", str(state_dir), "up", "--lb", "nginx"]) == 1
    out = capsys.readouterr().out
    assert "sudo apt-get install -y nginx" in out and "make cluster LB=none" in out
    assert not (state_dir / "state.json").exists()


def test_makefile_passes_the_load_balancer_choice() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "LB ?= nginx" in makefile and "--lb $(LB)" in makefile
    assert "apt-get" not in (ROOT / "scripts" / "cluster.py").read_text().replace(
        "sudo apt-get install -y nginx", "")
