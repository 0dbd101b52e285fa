"""Where the operator commands look for a running gateway (gateway/edge/runfile.py): wherever
`gateway serve` put its data directory by default, including its fallback on a read-only root
filesystem (the Kubernetes pod), and what they say when nothing tells them the config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.edge import runfile
from gateway.edge.supervise import default_data_dir


def _running(data_dir: Path) -> runfile.Running:
    return runfile.Running(pid=os.getpid(), url="http://127.0.0.1:8080", redis_url="redis://127.0.0.1:6379/0",
                           config="/etc/gateway/config.yaml", config_hash="abc", data_dir=str(data_dir))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without .gateway/, and no variable naming a data dir, URL or config."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name in ("GATEWAY_DATA_DIR", "REDIS_URL", "GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    return cwd


@pytest.mark.parametrize("home_writable", [True, False])
def test_commands_find_serve_in_its_default_data_dir(tmp_path: Path, elsewhere: Path, home_writable: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    if home_writable:
        state.mkdir()
    else:  # a read-only root filesystem: the directory cannot be made, serve falls back to $TMPDIR
        state.write_text("not a directory")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    data_dir = default_data_dir(8080)
    assert (str(data_dir).startswith(str(state))) is home_writable
    data_dir.mkdir(parents=True, exist_ok=True)
    runfile.write(data_dir, _running(data_dir))
    found = runfile.find()
    assert found is not None and found.data_dir == str(data_dir)
    assert runfile.target(None, None, None) == ("/etc/gateway/config.yaml", "redis://127.0.0.1:6379/0")


def test_a_state_url_without_a_config_names_what_to_give(elsewhere: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(runfile.NotFound, match="--config or GATEWAY_CONFIG"):
        runfile.target(None, "redis://127.0.0.1:6379/0", None)
    monkeypatch.setenv("GATEWAY_CONFIG", "/etc/gateway/config.yaml")
    assert runfile.target(None, "redis://127.0.0.1:6379/0", None)[0] == "/etc/gateway/config.yaml"
    (elsewhere / "configs").mkdir()
    (elsewhere / "configs" / "demo.yaml").write_text("{}")
    monkeypatch.delenv("GATEWAY_CONFIG")
    assert runfile.target(None, "redis://127.0.0.1:6379/0", None)[0] == "configs/demo.yaml"  # make run's checkout
