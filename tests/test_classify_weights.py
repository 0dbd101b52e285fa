"""Versioned classifier weights: the file's content hash is checked at load, and every replica
reports its version and hash (`/readyz`, `/admin/cluster`, `gateway status`), so replicas that
classify with different weights are flagged like a config mismatch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from gateway.routing import classify as C
from tests.procs import ROOT, config_yaml, start_gateway, start_simulator, wait_for
from tests.test_housekeeping_e2e import HOUSEKEEPING, admin


def shipped() -> dict:
    return orjson.loads(C.WEIGHTS_PATH.read_bytes())


def test_shipped_file_carries_version_and_its_content_hash() -> None:
    data = shipped()
    assert data["version"] and data["hash"] == C.weights_hash(data)
    assert C.weights_info() == {"version": str(data["version"]), "hash": data["hash"]}


def test_hash_covers_every_field_but_itself() -> None:
    data = shipped()
    changed = {**data, "bias": [b + 0.001 for b in data["bias"]]}
    assert C.weights_hash(changed) != C.weights_hash(data)
    assert C.weights_hash({**data, "hash": "anything"}) == C.weights_hash(data)


def test_edited_file_is_refused_and_env_var_selects_the_file(tmp_path: Path, monkeypatch) -> None:
    data = shipped()
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(orjson.dumps({**data, "alpha": 0.5}))  # stored hash no longer matches
    with pytest.raises(ValueError, match="does not match"):
        C.load_model(tampered)
    other = {**data, "version": "test-2"}
    other["hash"] = C.weights_hash(other)
    path = tmp_path / "other.json"
    path.write_bytes(orjson.dumps(other))
    monkeypatch.setenv(C.WEIGHTS_ENV, str(path))
    model = C.load_model()
    assert model is not None and (model.version, model.hash) == ("test-2", other["hash"])


def test_replicas_with_different_weights_are_flagged(redis_url: str, tmp_path: Path) -> None:
    other = {**shipped(), "version": "canary"}
    other["hash"] = C.weights_hash(other)
    weights = tmp_path / "canary.json"
    weights.write_bytes(orjson.dumps(other))
    sim = start_simulator(tmp_path)
    text = config_yaml(sim.port, f"cw-{time.time_ns()}") + HOUSEKEEPING
    a = start_gateway(tmp_path, text, redis_url)
    try:
        ready = json.loads(urllib.request.urlopen(f"{a.url}/readyz").read())
        assert ready["classifier"] == C.weights_info()
        wait_for(lambda: len(admin(a, "/admin/cluster")["replicas"]) == 1)
        view = admin(a, "/admin/cluster")
        assert view["classifier_mismatch"] is False and view["classifier_hashes"] == [C.weights_info()["hash"]]
        b = start_gateway(tmp_path, text, redis_url, env={C.WEIGHTS_ENV: str(weights)})
        try:
            ready = json.loads(urllib.request.urlopen(f"{b.url}/readyz").read())
            assert ready["classifier"] == {"version": "canary", "hash": other["hash"]}
            wait_for(lambda: admin(a, "/admin/cluster")["classifier_mismatch"])
            view = admin(a, "/admin/cluster")
            assert view["mismatch"] is False  # same config: only the weights differ
            assert sorted(view["classifier_hashes"]) == sorted([C.weights_info()["hash"], other["hash"]])
            cfg = tmp_path / "same.yaml"
            cfg.write_text(text)
            env = {"REDIS_URL": redis_url, "SIMULATOR_API_KEY": "x", "PATH": ""}
            out = subprocess.run([sys.executable, "-m", "gateway.cli", "status", "--config", str(cfg)], env=env,
                                 capture_output=True, text=True, cwd=ROOT)
            assert out.returncode == 1 and "CLASSIFIER MISMATCH" in out.stdout and "canary/" in out.stdout
        finally:
            b.stop()
    finally:
        a.stop()
        sim.stop()
