"""compose.yaml against the Compose Specification's JSON schema, and what the schema cannot see:
the Valkey volume and persistence, the demo profile wired to the simulator, every ${VAR} with a
default, and the configs the image serves present and valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from gateway.config import load_config
from tests.procs import ROOT

SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
COMPOSE = ROOT / "compose.yaml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    # its "$schema" names draft 2019-09 with a trailing '#' jsonschema does not recognise
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    bad = compose()
    bad["services"]["gateway"]["ports"] = {"8080": 8080}
    assert list(validator.iter_errors(bad))  # the schema does reject a wrong shape


def test_compose_wires_persistence_and_the_demo_profile() -> None:
    doc = compose()
    services = doc["services"]
    valkey = services["valkey"]
    assert "--appendonly" in valkey["command"] and "valkey-data:/data" in valkey["volumes"]
    assert "valkey-data" in doc["volumes"]
    gateway = services["gateway"]
    assert gateway["environment"]["REDIS_URL"].startswith("redis://valkey:")
    assert gateway["depends_on"]["valkey"]["condition"] == "service_healthy"
    assert "profiles" not in gateway and services["simulator"]["profiles"] == ["demo"]
    demo = services["demo"]
    assert demo["profiles"] == ["demo"] and demo["environment"]["SIMULATOR_HOST"] == "simulator"
    assert demo["environment"]["REDIS_URL"] != gateway["environment"]["REDIS_URL"]
    assert services["simulator"]["command"][-1] == demo["environment"]["SIMULATOR_PORT"]
    # `docker compose up` with nothing set: every variable has a default, so compose never warns
    assert not re.findall(r"\$\{[A-Z0-9_]+\}", COMPOSE.read_text())


def test_the_image_serves_configs_that_load_as_compose_runs_them() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = dict(re.findall(r"^COPY (configs/\S+) (/etc/gateway/\S+)$", dockerfile, re.M))
    assert copied == {"configs/starter.yaml": "/etc/gateway/config.yaml", "configs/demo.yaml": "/etc/gateway/demo.yaml"}
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert all(f"!{src}" in ignore for src in copied)
    env = compose()["services"]["demo"]["environment"]
    demo = load_config(ROOT / "configs" / "demo.yaml", env)
    assert demo.providers["openai"].base_url == "http://simulator:9100/v1"
    gateway = compose()["services"]["gateway"]["environment"]
    only_openai = {k: re.sub(r"\$\{[A-Z0-9_]+:-(.*)\}", r"\1", str(v)) for k, v in gateway.items()}
    only_openai["OPENAI_API_KEY"] = "sk-test"
    assert sorted(load_config(ROOT / "configs" / "starter.yaml", only_openai).providers) == ["openai"]
