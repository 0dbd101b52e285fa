"""Pools: parsing, expansion into a chain, weighted rendezvous order per conversation, the
`cheapest` tie-break, keys naming a pool, and the offline replay through the planner."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import yaml

from gateway.config import ApiKey, ConfigError, parse_config
from gateway.offline.strategies import simulate
from gateway.offline.trace import TraceRequest
from gateway.routing.affinity import conversation_start, rendezvous, subject_key
from gateway.routing.plan import Planner, sticky_share
from tests.procs import ROOT

KEY = ApiKey(name="k", sha256=b"\0" * 32)
ENV = {"SIM_KEY": "x"}


def config_doc(pools: Any = None, routes: Any = None, **extra: Any) -> dict[str, Any]:
    doc = {
        "providers": {"east": {"format": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key_env": "SIM_KEY"},
                      "west": {"format": "azure", "base_url": "http://127.0.0.1:1", "api_key_env": "SIM_KEY",
                               "api_version": "2024-10-21"}},
        "models": {
            "gpt-east": {"provider": "east", "upstream": "gpt-5.4", "price": {"input": 2.5, "output": 15},
                         "quality": {"simple_chat": 0.98}},
            "gpt-west": {"provider": "west", "upstream": "gpt-5.4", "price": {"input": 2.5, "output": 15},
                         "quality": {"simple_chat": 0.98}},
            "gpt-south": {"provider": "east", "upstream": "gpt-5.4-s", "price": {"input": 2.5, "output": 15},
                          "quality": {"simple_chat": 0.98}},
            "mini": {"provider": "east", "price": {"input": 0.4, "output": 1.6}, "quality": {"simple_chat": 0.9}},
            "embed": {"provider": "east", "kind": "embedding", "price": {"input": 0.02}},
        },
        "pools": {"gpt": {"members": ["gpt-east", "gpt-west"]}} if pools is None else pools,
        "routes": routes or {"auto": {"primary": "gpt", "fallbacks": ["mini"]}},
        **extra,
    }
    return doc


def load(doc: dict[str, Any], env: dict[str, str] | None = None):
    return parse_config(doc, "test.yaml", ENV if env is None else env)


def first_choices(planner: Planner, model: str, n: int, conversation: str = "") -> Counter[str]:
    return Counter(planner.plan(model, KEY, 400, None, "simple_chat", 0.9, f"user-{i}",
                                conversation=conversation).deployments[0].name for i in range(n))


@pytest.mark.parametrize("pools, routes, why", [
    ({"gpt": {"members": ["gpt-east", "nope"]}}, None, "pools.gpt.members[1]: unknown model"),
    ({"gpt": {"members": ["gpt-east", "gpt-east"]}}, None, "named twice"),
    ({"gpt": {"members": ["gpt-east", "embed"]}}, None, "a pool's members are chat models"),
    ({"gpt": {"members": ["gpt-east"]}, "two": {"members": ["gpt"]}}, None, "a model, not another pool"),
    ({"gpt": {"members": []}}, None, "at least one model"),
    ({"gpt": {"members": ["gpt-east"], "weights": {"gpt-west": 2}}}, None, "is not a member of the pool"),
    ({"gpt": {"members": ["gpt-east"], "weights": {"gpt-east": -1}}}, None, "must be >= 0"),
    ({"gpt": {"members": ["gpt-east", "gpt-west"], "weights": {"gpt-east": 0, "gpt-west": 0}}}, None,
     "at least one member needs a weight above 0"),
    ({"gpt": {"members": ["gpt-east"], "strategy": "x"}}, None, "pools.gpt.strategy: unknown field"),
    ({"mini": {"members": ["gpt-east"]}}, None, "a pool may not share its name with a model"),
    (None, {"gpt": {"primary": "mini"}}, "a route may not share its name with a pool"),
    (None, {"auto": {"primary": "gtp"}}, "routes.auto.primary: unknown model or pool"),
])
def test_bad_pools_are_config_errors(pools: Any, routes: Any, why: str) -> None:
    with pytest.raises(ConfigError, match=why.replace("[", r"\[").replace("]", r"\]")):
        load(config_doc(pools, routes))


def test_a_pool_stands_where_a_model_does() -> None:
    cfg = load(config_doc(routes={
        "auto": {"primary": "gpt", "fallbacks": ["mini"],
                 "experiments": [{"name": "e", "weight": 0.5, "primary": "mini", "fallbacks": ["gpt"]}]},
        "dup": {"primary": "gpt-west", "fallbacks": ["gpt", "mini"]}},
        keys=[{"name": "pooled", "sha256": "0" * 64, "allowed_models": ["gpt"]}]))
    assert cfg.pools["gpt"].members == ("gpt-east", "gpt-west") and cfg.pools["gpt"].weights == (1.0, 1.0)
    assert cfg.routes["auto"].default.models == ("gpt-east", "gpt-west", "mini")
    assert cfg.routes["auto"].experiments[0].chain.models == ("mini", "gpt-east", "gpt-west")
    assert "gpt" in cfg.model_names()
    planner = Planner(cfg)
    control = next(u for u in (f"u{i}" for i in range(100)) if sticky_share("e", u) >= 0.5)
    plan = planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, control)
    names = [d.name for d in plan.deployments]
    # every member (the rest stay as fallbacks, for admit to spill over), then the chain's fallback
    assert sorted(names[:2]) == ["gpt-east", "gpt-west"] and names[2:] == ["mini"]
    assert dict(plan.pools) == {"gpt-east": "gpt", "gpt-west": "gpt"}
    # a member also named before the pool keeps its first place and is not tried twice
    dup = planner.plan("dup", KEY, 400, None, "simple_chat", 0.9, "u")
    assert [d.name for d in dup.deployments] == ["gpt-west", "gpt-east", "mini"]
    assert dict(dup.pools) == {"gpt-east": "gpt"}
    # asked for directly, like a route alias: the pool is the route
    direct = planner.plan("gpt", KEY, 400, None, "simple_chat", 0.9, "u")
    assert direct.route == "gpt" and {d.name for d in direct.deployments} == {"gpt-east", "gpt-west"}
    # a key allowed the pool may use its members, through the pool, a route or by name
    pooled = cfg.keys[0]
    assert {d.name for d in planner.plan("gpt-east", pooled, 400, None, "", 0.9).deployments} == {"gpt-east"}
    assert [d.name for d in planner.plan("dup", pooled, 400, None, "", 0.9, "u").deployments] == \
        ["gpt-west", "gpt-east"]


def test_weights_spread_first_choices_in_proportion() -> None:
    cfg = load(config_doc({"gpt": {"members": ["gpt-east", "gpt-west", "gpt-south"],
                                   "weights": {"gpt-west": 2}}}))
    n = 10_000
    got = first_choices(Planner(cfg), "gpt", n)
    for name, share in (("gpt-east", 0.25), ("gpt-west", 0.5), ("gpt-south", 0.25)):
        sd = math.sqrt(n * share * (1 - share))  # binomial: a deterministic count within 5 sd
        assert abs(got[name] - n * share) < 5 * sd, (name, got)


def test_zero_weight_member_is_spillover_only() -> None:
    cfg = load(config_doc({"gpt": {"members": ["gpt-east", "gpt-west"], "weights": {"gpt-west": 0}}}))
    planner = Planner(cfg)
    plans = [planner.plan("gpt", KEY, 400, None, "", 0.9, f"u{i}") for i in range(200)]
    assert all([d.name for d in p.deployments] == ["gpt-east", "gpt-west"] for p in plans)


def test_one_conversation_stays_put_and_conversations_spread() -> None:
    cfg = load(config_doc())
    first_turn = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Plan a trip"}]
    later_turn = first_turn + [{"role": "assistant", "content": "Where to?"}, {"role": "user", "content": "Rome"}]
    assert conversation_start(first_turn) == conversation_start(later_turn)
    one = Planner(cfg).plan("gpt", KEY, 400, None, "", 0.9, "alice", conversation=conversation_start(first_turn))
    for planner in (Planner(cfg), Planner(load(config_doc()))):  # another worker, another replica
        for _ in range(5):
            again = planner.plan("gpt", KEY, 800, None, "", 0.9, "alice", conversation=conversation_start(later_turn))
            assert [d.name for d in again.deployments] == [d.name for d in one.deployments]
    # alice's other conversations spread over the pool
    starts = Counter(Planner(cfg).plan("gpt", KEY, 400, None, "", 0.9, "alice",
                                       conversation=conversation_start([{"role": "user", "content": f"topic {i}"}])
                                       ).deployments[0].name for i in range(200))
    assert set(starts) == {"gpt-east", "gpt-west"}


def test_conversation_start_is_the_clipped_system_prompt_and_first_user_message() -> None:
    long = "x" * 10_000
    parts = [{"role": "developer", "content": [{"type": "text", "text": long}]},
             {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}},
                                          {"type": "text", "text": "describe"}]}]
    start = conversation_start(parts)
    assert start.endswith("\x00describe") and len(start) < 300
    assert conversation_start([{"role": "user", "content": "a"}]) != \
        conversation_start([{"role": "user", "content": "b"}])


def test_removing_a_member_moves_only_its_own_subjects() -> None:
    names = ["east", "west", "south", "north"]
    weights = [1.0, 2.0, 1.0, 1.0]
    moved = stayed = 0
    for i in range(2_000):
        key = subject_key(f"user-{i}", "")
        before = rendezvous(names, names, weights, key)
        after = rendezvous(names[:3], names[:3], weights[:3], key)
        if before[0] == "north":
            moved += 1
            assert after[0] == before[1]  # its next choice, not a reshuffle
        else:
            stayed += 1
            assert after[0] == before[0]
    assert moved and stayed


def test_cheapest_splits_equal_cost_deployments_and_keeps_cost_order() -> None:
    cfg = load(config_doc(routes={"auto": {"strategy": "cheapest", "min_quality": 0.5}}))
    planner = Planner(cfg)
    got = first_choices(planner, "auto", 2_000)
    assert got["mini"] == 2_000  # the cheaper model stays first whatever the user
    seconds = Counter(planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, f"user-{i}").deployments[1].name
                      for i in range(3_000))
    assert set(seconds) == {"gpt-east", "gpt-west", "gpt-south"}  # no longer always the first name
    for name in seconds:
        assert abs(seconds[name] - 1_000) < 5 * math.sqrt(3_000 * (1 / 3) * (2 / 3)), seconds
    plan = planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, "u")
    assert plan.expected_cost_micro == tuple(sorted(plan.expected_cost_micro))
    assert plan.deployments == planner.plan("auto", KEY, 400, None, "simple_chat", 0.9, "u").deployments


def test_a_pool_left_out_with_its_providers_prunes_the_routes() -> None:
    doc = config_doc(routes={"auto": {"primary": "gpt", "fallbacks": ["mini"]}})
    doc["providers"]["west"]["optional"] = True
    doc["providers"]["west"]["api_key_env"] = "WEST_KEY"
    cfg = load(doc)
    assert cfg.pools["gpt"].members == ("gpt-east",)
    doc = config_doc({"gpt": {"members": ["gpt-west"]}}, {"auto": {"primary": "gpt", "fallbacks": ["mini"]}})
    doc["providers"]["west"].update(optional=True, api_key_env="WEST_KEY")
    cfg = load(doc)
    assert "gpt" not in cfg.pools and cfg.routes["auto"].default.models == ("mini",)


def test_whatif_replays_a_route_through_a_pool() -> None:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text().replace("${SIMULATOR_PORT:-9100}", "9100"))
    demo["pools"] = {"gpt-5.4-any": {"members": ["gpt-5.4", "azure-gpt-5.4"]}}
    demo["routes"]["pooled"] = {"primary": "gpt-5.4-any", "fallbacks": ["gpt-5.5"]}
    cfg = parse_config(demo, "demo.yaml", {"SIMULATOR_API_KEY": "x"})
    reqs = [TraceRequest(ts=float(i), task="simple_chat", confidence=0.9, prompt_tokens=500, completion_tokens=200,
                         prompt_chars=2000, user=f"user-{i % 40}") for i in range(400)]
    report = simulate(cfg, reqs, route="pooled")
    routing = next(s for s in report["strategies"] if s["name"] == "routing")
    assert routing["served"] == 400
    assert set(routing["model_requests"]) == {"gpt-5.4", "azure-gpt-5.4"}
    outage = next(s for s in report["strategies"] if s["name"] == "outage")
    assert outage["served"] == 400 and outage["rerouted"] > 0


def test_a_key_allowed_a_pool_is_listed_what_it_may_ask_for() -> None:
    from gateway.inbound.models import names

    cfg = load(config_doc(routes={"auto": {"primary": "gpt", "fallbacks": ["mini"]}, "small": {"primary": "mini"}},
                          keys=[{"name": "pooled", "sha256": "0" * 64, "allowed_models": ["gpt"]}]))
    assert names(cfg, cfg.keys[0]) == ["auto", "gpt", "gpt-east", "gpt-west"]
    assert names(cfg)[:3] == ["auto", "small", "gpt"]
