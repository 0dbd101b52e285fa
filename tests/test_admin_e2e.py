"""The admin API and the dashboard's JSON through a running gateway: breakers while they count
failures, and days at the ends of the calendar (issue 17, item 6)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import openai
import pytest

from tests.procs import ADMIN_KEY, DEMO_KEY, Proc, config_yaml, start_gateway, start_simulator
from tests.test_gateway_e2e import sim_reset, sim_set

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    tmp: Path = tmp_path_factory.mktemp("admin")
    sim = start_simulator(tmp)
    try:
        gw = start_gateway(tmp, config_yaml(sim.port, f"adm-{time.time_ns()}"), redis_url)
    except Exception:
        sim.stop()
        raise
    yield sim, gw
    gw.stop()
    sim.stop()


def get(gw: Proc, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"{gw.url}{path}", headers=headers or ADMIN)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_breakers_answer_while_a_breaker_counts_failures(stack: tuple[Proc, Proc]) -> None:
    sim, gw = stack
    sim_reset(sim)
    sim_set(sim, "gpt-5.4-mini", fail_status=503)  # the primary fails; the fallback answers
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            for _ in range(2):  # two failures: below the three that open it, so it is counting
                reply = client.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": "hi"}])
                assert reply.headers["x-gateway-model"] == "deepseek-v4-pro"
    finally:
        sim_reset(sim)
    status, body = get(gw, "/admin/breakers")
    assert status == 200, body
    assert body["breakers"]["gpt-5.4-mini"] == {"state": "closed", "gen": 0, "failures": 2, "cooldown_ms": 0}
    # the dashboard's deployments table shows the same count, not 0
    status, deps = get(gw, "/admin/deployments")
    assert status == 200 and deps["deployments"]["gpt-5.4-mini"]["breaker_failures"] == 2
    status, body = get(gw, "/dashboard/api/breakers")
    assert status == 200 and body["breakers"]["gpt-5.4-mini"]["failures"] == 2


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-02-30", "2026-1-01", "１２３４-01-01"])
@pytest.mark.parametrize("path", ["/admin/spend", "/admin/budget", "/admin/experiments",
                                  "/admin/spend/series", "/admin/spend/summary", "/admin/refusals",
                                  "/dashboard/api/budget", "/dashboard/api/spend"])
def test_days_out_of_range_are_a_400(stack: tuple[Proc, Proc], path: str, day: str) -> None:
    _, gw = stack
    status, body = get(gw, f"{path}?day={urllib.request.quote(day)}")
    assert status == 400, body
    assert body["error"]["param"] == "day" and body["error"]["type"] == "invalid_request_error"


def test_a_recent_day_still_answers(stack: tuple[Proc, Proc]) -> None:
    _, gw = stack
    for path in ("/admin/spend", "/admin/budget", "/admin/spend/summary", "/admin/refusals"):
        status, body = get(gw, f"{path}?day=2020-01-01")
        assert status == 200, (path, body)
