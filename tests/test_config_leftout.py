"""Optional providers left out for want of a key (configs/starter.yaml), and a config hash that
counts the file as written, not where the shell says a provider listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main as cli_main
from gateway.config import ConfigError, load_config, parse_config
from tests.procs import ROOT

STARTER = ROOT / "configs" / "starter.yaml"

DOC = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:${A_PORT:-1}/v1", api_key_env: A_KEY, optional: true}
  b: {format: anthropic, base_url: "http://127.0.0.1:2", api_key_env: B_KEY, optional: true}
models:
  a-big: {provider: a, price: {input: 5, output: 30}, quality: {code_generation: 0.96}}
  a-small: {provider: a, price: {input: 0.4, output: 1.6}}
  b-big: {provider: b, price: {input: 15, output: 75}, quality: {code_generation: 0.98}}
routes:
  auto:
    primary: a-small
    fallbacks: [b-big]
    tasks:
      code_generation: {primary: b-big, fallbacks: [a-big], min_quality: 0.95}
    experiments:
      - {name: e, weight: 0.1, primary: b-big}
  claude: {primary: b-big}
keys:
  - {name: k, sha256: "%s", allowed_models: [b-big, auto]}
""" % ("ab" * 32)


def write(tmp_path: Path, text: str = DOC) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_a_missing_key_leaves_the_provider_out_with_one_warning(tmp_path: Path) -> None:
    path = write(tmp_path, DOC.replace("  claude: {primary: b-big}\n", ""))
    cfg = load_config(path, {"A_KEY": "x"})
    assert sorted(cfg.providers) == ["a"] and sorted(cfg.deployments) == ["a-big", "a-small"]
    assert cfg.warnings == (f"{path}: provider b left out (B_KEY is not set) with its models b-big",)
    auto = cfg.routes["auto"]
    assert auto.default.models == ("a-small",)
    assert auto.tasks["code_generation"].models == ("a-big",)  # the fallback became the primary
    assert auto.experiments == ()
    assert cfg.keys[0].allowed_models == frozenset({"b-big", "auto"})  # refused as unknown, not a start-up error


def test_a_route_with_every_model_left_out_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes\.claude: every model of this route is left out: "
                                          r"b-big \(B_KEY is not set\)"):
        load_config(write(tmp_path), {"A_KEY": "x"})
    cfg = load_config(write(tmp_path, DOC.replace("{primary: b-big}", "{primary: b-big, optional: true}")),
                      {"A_KEY": "x"})
    assert "claude" not in cfg.routes and any("route claude left out" in w for w in cfg.warnings)
    with pytest.raises(ConfigError, match="every provider is left out: set at least one of A_KEY, B_KEY"):
        load_config(write(tmp_path), {})


def test_operator_commands_need_no_provider_key(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path), {}, need_keys=False)
    assert sorted(cfg.deployments) == ["a-big", "a-small", "b-big"] and cfg.warnings == ()
    doc = {"providers": {"p": {"format": "openai", "base_url": "http://h/v1", "api_key_env": "NOPE"}},
           "models": {"m": {"provider": "p", "price": {"input": 1}}}, "routes": {"auto": {"primary": "m"}}}
    assert parse_config(doc, "x.yaml", {}, need_keys=False).providers["p"].api_key is None
    with pytest.raises(ConfigError, match="providers.p.api_key_env: environment variable is not set"):
        parse_config(doc, "x.yaml", {})  # not optional: serve still refuses


def test_the_hash_ignores_where_the_shell_says_a_provider_listens(tmp_path: Path) -> None:
    path = write(tmp_path)
    env = {"A_KEY": "x", "B_KEY": "y"}
    one = load_config(path, env)
    assert load_config(path, {**env, "A_PORT": "9200"}).hash == one.hash
    assert load_config(path, {**env, "A_KEY": "other"}).hash == one.hash
    assert load_config(path, {}, need_keys=False).hash == one.hash
    assert load_config(write(tmp_path, DOC.replace("price: {input: 5,", "price: {input: 6,")), env).hash != one.hash
    budget = DOC + "budget: {daily_usd: ${BUDGET:-50}}\n"
    assert load_config(write(tmp_path, budget), {**env, "BUDGET": "60"}).hash != \
        load_config(write(tmp_path, budget), env).hash  # a value that changes decisions counts expanded


@pytest.mark.parametrize("keys, providers", [
    ({"OPENAI_API_KEY": "x"}, ["openai"]),
    ({"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"}, ["anthropic", "openai"]),
    ({"ANTHROPIC_API_KEY": "y"}, ["anthropic"]),
    ({"GEMINI_API_KEY": "z"}, ["gemini"]),
    ({"LOCAL_API_KEY": "none"}, ["local"]),
])
def test_starter_works_with_whichever_keys_are_set(keys: dict, providers: list[str]) -> None:
    cfg = load_config(STARTER, keys)
    assert sorted(cfg.providers) == providers
    assert cfg.routes["auto"].default.models and cfg.default_route == "auto"
    left_out = [w for w in cfg.warnings if " provider " in w]
    assert len(left_out) == 4 - len(providers)  # one line per provider left out


def test_check_config_warns_about_unset_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "LOCAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    assert cli_main(["check-config", str(STARTER)]) == 0
    out = capsys.readouterr()
    assert "OK (config hash" in out.out
    assert "provider anthropic left out (ANTHROPIC_API_KEY is not set)" in out.err
    monkeypatch.delenv("OPENAI_API_KEY")
    assert cli_main(["check-config", str(STARTER)]) == 0
    assert "`gateway serve` would stop: " in capsys.readouterr().err


def test_an_optional_vertex_provider_without_sign_in_is_left_out(tmp_path: Path) -> None:
    doc = DOC.replace("  claude: {primary: b-big}\n", "").replace(
        "models:\n", "  g: {format: vertex_gemini, project: p, location: us-central1, optional: true}\nmodels:\n"
        "  g-flash: {provider: g, upstream: gemini-2.5-flash, price: {input: 0.3, output: 2.5}}\n", 1)
    path = write(tmp_path, doc)
    cfg = load_config(path, {"A_KEY": "x", "B_KEY": "y"})
    assert sorted(cfg.providers) == ["a", "b"] and "g-flash" not in cfg.deployments
    assert any("provider g left out (GOOGLE_APPLICATION_CREDENTIALS is not set)" in w for w in cfg.warnings)
    with pytest.raises(ConfigError, match="providers.g.api_key_env: .*Vertex needs api_key_env"):
        load_config(write(tmp_path, doc.replace(", optional: true}", "}")), {"A_KEY": "x", "B_KEY": "y"})
