"""Capability-aware planning: `models.<name>.supports` read from the config, models lacking what a
request needs skipped (and said so), a 400 when none is left, nothing changed without `supports`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from gateway.config import ALL_CAPABILITIES, CAPABILITIES, ApiKey, ConfigError, parse_config
from gateway.errors import GatewayError
from gateway.routing.plan import Planner, sticky_share
from tests.procs import ROOT
from tests.test_providers_e2e import config as providers_config

DEMO = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text().replace("${SIMULATOR_PORT:-9100}", "9100")
                      .replace("${SIMULATOR_HOST:-127.0.0.1}", "127.0.0.1"))
ENV = {"SIMULATOR_API_KEY": "x"}
KEY = ApiKey(name="k", sha256=b"\0" * 32)
# an end user in the summaries experiment's control arm, so the configured chains are what we see
USER = next(u for u in (f"u{i}" for i in range(100)) if sticky_share("summaries-cheapest", u) >= 0.10)


def config(supports: dict[str, Any]) -> Any:
    """The demo config with each named model's `supports` set (None: the field removed)."""
    doc = copy.deepcopy(DEMO)
    for name, value in supports.items():
        model = doc["models"][name]
        model.pop("supports", None)
        if value is not None:
            model["supports"] = value
    return parse_config(doc, "demo.yaml", ENV)


def names(plan: Any) -> list[str]:
    return [d.name for d in plan.deployments]


def test_the_field_is_read_as_written() -> None:
    cfg = config({"deepseek-v4-pro": ["tools", "vision"], "gpt-5.4-mini": []})
    assert cfg.deployments["deepseek-v4-pro"].supports == {"tools", "vision"}
    assert cfg.deployments["gpt-5.4-mini"].supports == frozenset()  # [] is text only
    assert cfg.deployments["gpt-5.5"].supports == ALL_CAPABILITIES == frozenset(CAPABILITIES)  # absent: all
    assert config({"deepseek-v4-pro": None}).deployments["deepseek-v4-pro"].supports == ALL_CAPABILITIES


@pytest.mark.parametrize("value, where, why", [
    (["vision", "telepathy"], "models.deepseek-v4-pro.supports[1]", "unknown capability"),
    ("vision", "models.deepseek-v4-pro.supports", "expected a list of strings"),
    ([3], "models.deepseek-v4-pro.supports", "expected a list of strings"),
])
def test_bad_values_name_file_path_and_value(value: Any, where: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        config({"deepseek-v4-pro": value})
    message = str(info.value)
    assert message.startswith(f"demo.yaml: {where}: {why}")
    if where.endswith("[1]"):
        assert message.endswith("(got 'telepathy')") and "'web_search'" in message  # the value, and the names


def test_an_embedding_model_takes_no_supports() -> None:
    with pytest.raises(ConfigError) as info:
        config({"text-embedding-3-small": ["vision"]})
    assert "models.text-embedding-3-small.supports: only a chat model takes `supports`" in str(info.value)


def test_no_supports_anywhere_reads_no_needs() -> None:
    planner = Planner(config({"deepseek-v4-pro": None}))
    assert planner.checks_needs is False
    before = planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER)
    after = planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER, needs=frozenset({"vision", "tools"}))
    assert names(after) == names(before) == ["deepseek-v4-pro", "gpt-5.4-mini"]
    assert after.skipped == before.skipped == ()


def test_a_model_lacking_a_need_is_skipped_and_said_so() -> None:
    planner = Planner(config({"deepseek-v4-pro": ["tools"]}))
    assert planner.checks_needs is True
    plan = planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER, needs=frozenset({"vision"}))
    assert names(plan) == ["gpt-5.4-mini"]
    assert ("deepseek-v4-pro", "lacks:vision") in plan.skipped
    assert len(plan.expected_cost_micro) == 1
    # what it has is no reason to skip it, nor is a request needing nothing
    assert names(planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER, needs=frozenset({"tools"}))) \
        == ["deepseek-v4-pro", "gpt-5.4-mini"]
    assert names(planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER)) == ["deepseek-v4-pro", "gpt-5.4-mini"]


def test_the_skip_names_every_capability_missing() -> None:
    planner = Planner(config({"deepseek-v4-pro": ["tools"], "gpt-5.4-mini": ["vision"]}))
    plan = planner.plan("auto", KEY, 400, None, "", 0.9, USER, needs=frozenset({"web_search", "vision", "audio"}))
    assert names(plan) == ["gpt-5.4"]
    assert ("deepseek-v4-pro", "lacks:vision,audio,web_search") in plan.skipped  # in CAPABILITIES order
    assert ("gpt-5.4-mini", "lacks:audio,web_search") in plan.skipped


def test_cheapest_pool_is_filtered_too() -> None:
    planner = Planner(config({"deepseek-v4-pro": ["tools"]}))
    plain = planner.plan("cheap", KEY, 4000, None, "simple_chat", 0.9)
    assert names(plain)[0] == "deepseek-v4-pro"
    plan = planner.plan("cheap", KEY, 4000, None, "simple_chat", 0.9, needs=frozenset({"json_schema"}))
    assert "deepseek-v4-pro" not in names(plan) and names(plan) == names(plain)[1:]
    assert plan.expected_cost_micro == tuple(sorted(plan.expected_cost_micro))


def test_no_capable_model_left_is_a_400_naming_route_and_capability() -> None:
    planner = Planner(config({"deepseek-v4-pro": ["tools"], "gpt-5.4-mini": ["tools", "json_schema"]}))
    with pytest.raises(GatewayError) as info:
        planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER, needs=frozenset({"vision"}))
    err = info.value
    assert (err.status, err.type, err.code, err.param) == (400, "invalid_request_error", "unsupported_capability",
                                                           "messages")
    assert err.message.startswith("No model of route 'auto' accepts images (models.<name>.supports): ")
    assert "deepseek-v4-pro lacks vision" in err.message and "gpt-5.4-mini lacks vision" in err.message
    with pytest.raises(GatewayError) as info:
        planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, USER, needs=frozenset({"json_schema", "web_search"}))
    assert info.value.param == "response_format"
    assert "accepts response_format json_schema and server-side web search" in info.value.message


def test_a_named_model_lacking_a_need_is_the_same_400() -> None:
    planner = Planner(config({"deepseek-v4-pro": ["tools"]}))
    with pytest.raises(GatewayError) as info:
        planner.plan("deepseek-v4-pro", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"vision", "tools"}))
    assert (info.value.status, info.value.code, info.value.param) == (400, "unsupported_capability", "messages")
    assert info.value.message == ("The model 'deepseek-v4-pro' does not accept images "
                                  "(models.deepseek-v4-pro.supports: [tools]).")
    plan = planner.plan("deepseek-v4-pro", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"tools"}))
    assert names(plan) == ["deepseek-v4-pro"]


def test_the_demo_config_has_a_text_only_model_behind_a_capable_one() -> None:
    """configs/demo.yaml makes the feature visible: DeepSeek takes no images, and its chains go on to one that does."""
    planner = Planner(parse_config(copy.deepcopy(DEMO), "demo.yaml", ENV))
    assert planner.checks_needs
    for task in ("simple_chat", "summarization", ""):
        plan = planner.plan("auto", KEY, 400, None, task, 0.9, USER, needs=frozenset({"vision"}))
        assert "deepseek-v4-pro" not in names(plan) and names(plan)
        assert ("deepseek-v4-pro", "lacks:vision") in plan.skipped


def test_a_pool_keeps_only_its_capable_members_and_names_itself_when_none_is() -> None:
    """The capability filter runs on a pool's expanded members, in their affinity order."""
    cfg = config({"gpt-5.4": ["tools"], "azure-gpt-5.4": None})
    planner = Planner(cfg)
    for user in ("u1", "u2", "u3", "u4"):
        plan = planner.plan("gpt-5.4-any", KEY, 100, None, "simple_chat", 1.0, user, needs=frozenset({"vision"}))
        assert names(plan) == ["azure-gpt-5.4"] and ("gpt-5.4", "lacks:vision") in plan.skipped
        assert plan.route == "gpt-5.4-any"
    none = Planner(config({"gpt-5.4": ["tools"], "azure-gpt-5.4": ["tools"]}))
    with pytest.raises(GatewayError) as info:
        none.plan("gpt-5.4-any", KEY, 100, None, "simple_chat", 1.0, "u1", needs=frozenset({"vision"}))
    assert info.value.status == 400 and info.value.code == "unsupported_capability"
    assert "'gpt-5.4-any'" in info.value.message and "azure-gpt-5.4 lacks vision" in info.value.message


def _with_bedrock(**models: Any) -> Any:
    """The end-to-end providers' config (Bedrock Converse among them), its models' fields changed,
    and a route from Bedrock to Claude."""
    doc = yaml.safe_load(providers_config(9100))
    doc["providers"]["claude-bedrock"] = {**doc["providers"]["bedrock-key"], "format": "bedrock_anthropic"}
    for name, fields in models.items():
        doc["models"][name].update(fields)
    doc["routes"]["search"] = {"primary": "bedrock-haiku", "fallbacks": ["claude-opus-4.7"]}
    return parse_config(doc, "providers.yaml", {**ENV, "NO_SUCH_SESSION_TOKEN": ""})


def test_a_format_without_web_search_lacks_it_by_default() -> None:
    cfg = _with_bedrock()
    assert cfg.deployments["bedrock-haiku"].supports == ALL_CAPABILITIES - {"web_search"}
    assert cfg.deployments["claude-opus-4.7"].supports == ALL_CAPABILITIES
    planner = Planner(cfg)
    assert planner.checks_needs  # a Bedrock model is enough to read every request's needs
    plan = planner.plan("search", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"web_search"}))
    assert names(plan) == ["claude-opus-4.7"] and ("bedrock-haiku", "lacks:web_search") in plan.skipped
    assert names(planner.plan("search", KEY, 400, None, "simple_chat", 0.9,
                              needs=frozenset({"vision", "tools"}))) == ["bedrock-haiku", "claude-opus-4.7"]
    with pytest.raises(GatewayError) as info:
        planner.plan("bedrock-nova", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"web_search"}))
    assert info.value.code == "unsupported_capability"
    assert info.value.message == ("The model 'bedrock-nova' does not accept server-side web search "
                                  "(models.bedrock-nova.supports: [vision, audio, files, tools, json_schema]; "
                                  "Bedrock Converse has no server-side web search tool).")


def test_claude_on_bedrock_searches_only_when_the_operator_says_so() -> None:
    cfg = _with_bedrock(**{"claude-opus-4.7": {"provider": "claude-bedrock"}})
    assert cfg.deployments["claude-opus-4.7"].supports == ALL_CAPABILITIES - {"web_search"}
    with pytest.raises(GatewayError) as info:
        Planner(cfg).plan("claude-opus-4.7", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"web_search"}))
    assert "Claude on Bedrock is not documented to run Anthropic's web search tool; list `web_search` in " \
        "`supports` if yours does" in info.value.message
    listed = _with_bedrock(**{"claude-opus-4.7": {"provider": "claude-bedrock", "supports": ["web_search"]}})
    plan = Planner(listed).plan("claude-opus-4.7", KEY, 400, None, "simple_chat", 0.9, needs=frozenset({"web_search"}))
    assert names(plan) == ["claude-opus-4.7"]


def test_listing_web_search_on_such_a_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        _with_bedrock(**{"bedrock-haiku": {"supports": ["tools", "web_search"]}})
    assert str(info.value).startswith("providers.yaml: models.bedrock-haiku.supports[1]: Bedrock Converse has no "
                                      "server-side web search tool")
    assert _with_bedrock(**{"bedrock-haiku": {"supports": ["tools"]}}).deployments["bedrock-haiku"].supports \
        == {"tools"}
