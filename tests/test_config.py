"""Config validation: every bad value names the file, the path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.cli import main as cli_main
from gateway.config import ConfigError, load_config, parse_config
from tests.procs import ROOT, config_yaml

ENV = {"SIMULATOR_API_KEY": "k"}


def base_doc() -> dict:
    return yaml.safe_load(config_yaml(9100, "t"))


def test_demo_config_is_valid() -> None:
    cfg = load_config(ROOT / "configs" / "demo.yaml", env={"SIMULATOR_API_KEY": "x"})
    assert cfg.default_route == "auto"
    assert cfg.deployments["gpt-5.5"].price.output == 30_000_000
    assert cfg.keys[0].daily_budget_micro == 10_000_000
    assert len(cfg.hash) == 16


@pytest.mark.parametrize("mutate, path, value", [
    (lambda d: d["routes"]["auto"]["fallbacks"].append("gpt-6"), "routes.auto.fallbacks[1]", "gpt-6"),
    (lambda d: d["models"]["gpt-5.5"]["price"].update(input=-1), "models.gpt-5.5.price.input", "-1"),
    (lambda d: d["models"]["gpt-5.5"].update(provider="nope"), "models.gpt-5.5.provider", "nope"),
    (lambda d: d["providers"]["sim"].update(format="soap"), "providers.sim.format", "soap"),
    (lambda d: d["providers"]["sim"].update(base_url="ftp://x"), "providers.sim.base_url", "ftp://x"),
    (lambda d: d["budget"].update(timezone="Mars/Olympus"), "budget.timezone", "Mars/Olympus"),
    (lambda d: d["server"].update(attempt_budget=0), "server.attempt_budget", "0"),
    (lambda d: d["keys"][0].update(sha256="abc"), "keys[0].sha256", "<hidden>"),
    (lambda d: d["keys"][0].update(rpm="many"), "keys[0].rpm", "many"),
    (lambda d: d.update(surprise=1), "<root>.surprise", "surprise"),
    (lambda d: d.update(default_route="nowhere"), "default_route", "nowhere"),
    (lambda d: d["models"]["gpt-5.5"].update(quality={"poetry": 0.5}), "models.gpt-5.5.quality.poetry", "poetry"),
    (lambda d: d.update(admin={"failures_per_client": 0}), "admin.failures_per_client", "0"),
    (lambda d: d.update(admin={"lockout": 1}), "admin.lockout", "lockout"),
    (lambda d: d.update(metrics={"per_key": "yes"}), "metrics.per_key", "yes"),
    (lambda d: d.update(metrics={"token_sha256": "abc"}), "metrics.token_sha256", "<hidden>"),
])
def test_bad_values_name_path_and_value(mutate, path: str, value: str) -> None:
    doc = base_doc()
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "cfg.yaml", ENV)
    message = str(info.value)
    assert message.startswith(f"cfg.yaml: {path}:")
    assert value in message


def test_missing_provider_key_env_is_an_error() -> None:
    with pytest.raises(ConfigError, match="providers.sim.api_key_env: environment variable is not set"):
        parse_config(base_doc(), "cfg.yaml", {})


def test_env_expansion_and_missing_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_yaml(9100, "t").replace("http://127.0.0.1:9100/v1", "${SIM_URL:-http://h:1/v1}"))
    assert load_config(path, ENV).providers["sim"].base_url == "http://h:1/v1"
    assert load_config(path, {**ENV, "SIM_URL": "http://o:2/v1"}).providers["sim"].base_url == "http://o:2/v1"
    path.write_text(config_yaml(9100, "t").replace("http://127.0.0.1:9100/v1", "${SIM_URL}"))
    with pytest.raises(ConfigError, match=r"\$\{SIM_URL\} is used"):
        load_config(path, ENV)


def test_provider_key_never_in_repr() -> None:
    cfg = parse_config(base_doc(), "cfg.yaml", {"SIMULATOR_API_KEY": "sk-secret-provider-key"})
    assert "sk-secret-provider-key" not in repr(cfg)
    assert cfg.providers["sim"].api_key == "sk-secret-provider-key"


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("SIMULATOR_API_KEY", "k")
    good = tmp_path / "good.yaml"
    good.write_text(config_yaml(9100, "t"))
    assert cli_main(["check-config", str(good)]) == 0
    assert "OK (config hash" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_yaml(9100, "t").replace("attempt_budget: 4", "attempt_budget: -2"))
    assert cli_main(["check-config", str(bad)]) == 2
    assert "server.attempt_budget: must be >= 1" in capsys.readouterr().err
    assert cli_main(["check-config", str(tmp_path / "missing.yaml")]) == 2


def test_admin_and_metrics_sections() -> None:
    doc = base_doc()
    doc["admin"] = {"failures_per_client": 3, "failures_total": 9, "window_s": 60, "client_ip_header": "X-Real-IP"}
    doc["metrics"] = {"token_sha256": "ab" * 32, "per_key": True}
    cfg = parse_config(doc, "cfg.yaml", ENV)
    assert (cfg.admin.failures_per_client, cfg.admin.failures_total, cfg.admin.window_s) == (3, 9, 60.0)
    assert cfg.admin.client_ip_header == "x-real-ip"
    assert cfg.metrics.token_sha256 == bytes.fromhex("ab" * 32) and cfg.metrics.per_key
    assert "ab" * 32 not in repr(cfg.metrics)
    defaults = parse_config(base_doc(), "cfg.yaml", ENV)
    assert defaults.admin.client_ip_header is None and defaults.metrics.token_sha256 is None
    assert not defaults.metrics.per_key


@pytest.mark.parametrize("fmt, extra", [
    ("anthropic", {}),
    ("vertex_anthropic", {"project": "p", "location": "us-east5"}),
    ("bedrock_anthropic", {"aws_region": "us-east-1"}),
])
def test_an_embedding_model_on_a_format_without_embeddings_is_refused(fmt: str, extra: dict) -> None:
    doc = base_doc()
    doc["providers"]["chatonly"] = {"format": fmt, "base_url": "https://example.test", "api_key_env": "SIMULATOR_API_KEY",
                                    **extra}
    doc["models"]["emb"] = {"provider": "chatonly", "upstream": "e", "kind": "embedding",
                            "price": {"input": 0.1, "output": 0}}
    with pytest.raises(ConfigError, match="models.emb.kind: .*embedding") as info:
        parse_config(doc, "cfg.yaml", ENV)
    assert "no embeddings" in str(info.value)
