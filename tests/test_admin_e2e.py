"""The admin API and the dashboard's JSON through a running gateway: breakers while they count
failures, and days at the ends of the calendar (issue 17, item 6)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import urllib.error
import urllib.request
from typing import Iterator

import openai
import pytest

from tests.procs import ADMIN_KEY, DEMO_KEY, Proc, config_yaml, sim_and_gateway, sim_reset, sim_set, start_gateway

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    prefix = f"adm-{time.time_ns()}"
    with sim_and_gateway(tmp_path_factory.mktemp("admin"), lambda port: config_yaml(port, prefix),
                         redis_url) as (gw, sim):
        yield sim, gw


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


# ------------------------------------------------------------------- dashboard sessions (item 7)

FORM = {"content-type": "application/x-www-form-urlencoded"}


def post(gw: Proc, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def login(gw: Proc, key: str = ADMIN_KEY, **headers: str) -> http.client.HTTPResponse:
    hdrs = {**FORM, "origin": gw.url, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return post(gw, "/dashboard/login", urllib.parse.urlencode({"admin_key": key}).encode(), hdrs)


def status_with(gw: Proc, cookie: str, path: str = "/dashboard/api/breakers") -> int:
    return get(gw, path, {"cookie": cookie})[0]


def test_logout_ends_the_session_everywhere(stack: tuple[Proc, Proc]) -> None:
    _, gw = stack
    ok = login(gw)
    assert ok.status == 303
    cookie = ok.getheader("set-cookie").split(";")[0]
    assert status_with(gw, cookie) == 200
    out = post(gw, "/dashboard/logout", headers={"cookie": cookie, "origin": gw.url})
    assert out.status == 303 and 'gw_dashboard=""' in out.getheader("set-cookie")
    assert status_with(gw, cookie) == 401  # the captured cookie no longer opens anything
    assert status_with(gw, cookie, "/dashboard/api/spend/series") == 401


def test_cross_site_login_and_logout_are_refused(stack: tuple[Proc, Proc]) -> None:
    _, gw = stack
    for headers in ({"origin": "https://evil.example"}, {"origin": "null"}, {"origin": ""},
                    {"referer": "https://evil.example/page"}, {"sec_fetch_site": "cross-site"}):
        resp = login(gw, **headers) if "origin" in headers else login(gw, origin="", **headers)
        assert resp.status == 403 and resp.getheader("set-cookie") is None, headers
    assert login(gw, origin="", referer=f"{gw.url}/dashboard/login").status == 303  # Referer alone is enough
    cookie = login(gw).getheader("set-cookie").split(";")[0]
    assert post(gw, "/dashboard/logout", headers={"cookie": cookie, "origin": "https://evil.example"}).status == 403
    assert status_with(gw, cookie) == 200  # a cross-site logout did nothing


LIMITS = "\nadmin:\n  failures_per_client: 3\n  failures_total: 7\n  window_s: 600\n  client_ip_header: x-client-ip\n"


@pytest.fixture(scope="module")
def two_replicas(stack: tuple[Proc, Proc], redis_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    sim, _ = stack
    tmp = tmp_path_factory.mktemp("replicas")
    text = config_yaml(sim.port, f"authlim-{time.time_ns()}") + LIMITS
    first = start_gateway(tmp, text, redis_url)
    try:
        second = start_gateway(tmp, text, redis_url)
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def test_failed_admin_keys_are_limited_per_client_and_in_all_across_replicas(
        two_replicas: tuple[Proc, Proc]) -> None:
    a, b = two_replicas
    # one client: three wrong keys at one replica's login...
    for _ in range(3):
        assert login(a, "sk-guess", x_client_ip="198.51.100.1").status == 401
    # ...and the right key is refused at the other replica, at login and as a Bearer header
    refused = login(b, x_client_ip="198.51.100.1")
    assert refused.status == 429 and 590 <= int(refused.getheader("retry-after")) <= 600
    assert refused.getheader("set-cookie") is None
    status, body = get(b, "/admin/budget", {**ADMIN, "x-client-ip": "198.51.100.1"})
    assert status == 429 and body["error"]["code"] == "admin_auth_limited"
    # another client is still served
    assert get(b, "/admin/budget", {**ADMIN, "x-client-ip": "198.51.100.2"})[0] == 200
    # wrong Bearer keys of four more clients, on both replicas, reach the global limit of 7...
    for i in range(4):
        gw = (a, b)[i % 2]
        assert get(gw, "/admin/spend", {"authorization": "Bearer sk-guess", "x-client-ip": f"203.0.113.{i}"})[0] == 401
    # ...and now nobody gets in, anywhere, until the window ends
    for gw in (a, b):
        status, body = get(gw, "/admin/budget", {**ADMIN, "x-client-ip": "192.0.2.77"})
        assert status == 429, body
        assert login(gw, x_client_ip="192.0.2.78").status == 429
    # the API keys' own paths are not affected
    with openai.OpenAI(base_url=f"{a.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        assert client.models.list().data
    assert any('"admin_auth_limited"' in line for line in a.log_lines() + b.log_lines())
