"""The route's uncertainty policy (`on_uncertain`): which chain an unsure classification takes,
the config checks, and the decision headers and log field over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest
import yaml

from gateway.routing.classify import classify
from gateway.config import ApiKey, ConfigError, parse_config
from gateway.routing.plan import Planner
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, quality_models, sim_and_gateway, wait_for

KEY = ApiKey(name="k", sha256=b"\0" * 32)


def config_text(sim_port: int, prefix: str, policy: str = "quality_first", below: float = 1.0) -> str:
    # below 1.0: every classified request counts as uncertain, so the policy is seen for sure
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 3}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
{quality_models(sim_port)}
routes:
  auto:
    primary: gpt-5.4-mini
    on_uncertain: {policy}
    uncertain_below: {below}
    tasks:
      code_generation: {{primary: claude-opus-4.7, fallbacks: [gpt-5.5], min_quality: 0.95}}
      simple_chat: {{primary: deepseek-v4-pro, min_quality: 0.5}}
      summarization: {{primary: gpt-5.5, fallbacks: [deepseek-v4-pro], min_quality: 0.6}}
      complex_reasoning: {{primary: gpt-5.5, min_quality: 0.8}}
  plain:
    primary: gpt-5.4-mini
    tasks:
      simple_chat: {{primary: deepseek-v4-pro}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


def parsed(policy: str = "quality_first", below: float = 0.5):
    return parse_config(yaml.safe_load(config_text(9, "p", policy, below)), "t.yaml", {"SIMULATOR_API_KEY": "x"})


def first(plan) -> str:
    return plan.deployments[0].name


@pytest.mark.parametrize("policy, model", [
    ("quality_first", "claude-opus-4.7"),  # the most demanding chain (min_quality 0.95)
    ("cheapest", "deepseek-v4-pro"),  # the least demanding chain (min_quality 0.5)
    ("default_route", "gpt-5.4-mini"),  # the route's own chain, whatever the task
])
def test_uncertain_request_takes_the_policys_chain(policy: str, model: str) -> None:
    planner = Planner(parsed(policy, 0.5))
    unsure = planner.plan("auto", KEY, 400, None, "summarization", 0.42)
    assert first(unsure) == model and unsure.task_policy == policy
    assert unsure.task == "summarization"  # the classified task is still what is reported
    sure = planner.plan("auto", KEY, 400, None, "summarization", 0.5)  # at the threshold: not uncertain
    assert first(sure) == "gpt-5.5" and sure.task_policy == ""


def test_no_policy_no_task_or_forced_task_keep_the_chain() -> None:
    planner = Planner(parsed())
    assert planner.plan("plain", KEY, 400, None, "simple_chat", 0.1).task_policy == ""  # route has no policy
    assert planner.plan("auto", KEY, 400, None, "", 0.0).task_policy == ""  # no classifier ran
    forced = planner.plan("auto", KEY, 400, None, "simple_chat", 1.0)  # x-gateway-task: confidence 1
    assert forced.task_policy == "" and first(forced) == "deepseek-v4-pro"


def test_quality_first_breaks_ties_towards_the_more_demanding_task() -> None:
    text = config_text(9, "p").replace("min_quality: 0.95", "min_quality: 0.8")  # code ties with reasoning
    planner = Planner(parse_config(yaml.safe_load(text), "t.yaml", {"SIMULATOR_API_KEY": "x"}))
    assert first(planner.plan("auto", KEY, 400, None, "simple_chat", 0.2)) == "gpt-5.5"  # complex_reasoning's


@pytest.mark.parametrize("field, value, message", [
    ("on_uncertain", "bravest", "expected one of"),
    ("uncertain_below", 1.5, "between 0 and 1"),
    ("uncertain_below", -0.1, "must be >= 0"),
])
def test_bad_policy_config_is_rejected(field: str, value: object, message: str) -> None:
    doc = yaml.safe_load(config_text(9, "p"))
    doc["routes"]["auto"][field] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(doc, "t.yaml", {"SIMULATOR_API_KEY": "x"})


def test_policy_is_visible_in_headers_and_log(redis_url: str, tmp_path: Path) -> None:
    prefix = f"pol-{time.time_ns()}"
    with sim_and_gateway(tmp_path, lambda port: config_text(port, prefix), redis_url) as (gw, _):
        hello = [{"role": "user", "content": "Which one would you pick?"}]
        assert classify(hello).task == "simple_chat" and classify(hello).confidence < 1.0  # so it is "uncertain"
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=hello)
            assert raw.headers["x-gateway-task"] == "simple_chat"
            assert raw.headers["x-gateway-task-policy"] == "quality_first"
            assert raw.headers["x-gateway-model"] == "claude-opus-4.7"  # the code chain, not chat's deepseek
            forced = client.chat.completions.with_raw_response.create(
                model="auto", messages=hello, extra_headers={"x-gateway-task": "simple_chat"})
            assert "x-gateway-task-policy" not in forced.headers
            assert forced.headers["x-gateway-model"] == "deepseek-v4-pro"
            plain = client.chat.completions.with_raw_response.create(model="plain", messages=hello)
            assert "x-gateway-task-policy" not in plain.headers
        wait_for(lambda: sum('"request"' in line for line in gw.log_lines()) >= 3)
        logged = [json.loads(x) for x in gw.log_lines() if x.startswith("{") and '"request"' in x]
        assert [r.get("task_policy") for r in logged] == ["quality_first", None, None]
        assert logged[0]["task_confidence"] < 1.0 and logged[1]["task_confidence"] == 1.0
