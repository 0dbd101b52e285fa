"""The operator dashboard through a running gateway: login, charts drawn from the admin API's
numbers, a breaker forced open shown within one refresh, no request outside the gateway, no
JavaScript errors, escaped names; screenshots at laptop and phone width (copied to docs/img/ when
UPDATE_SCREENSHOTS is set)."""

from __future__ import annotations

import hashlib
import math
import re
import http.client
import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import openai
import pytest
import redis

from tests.procs import ADMIN_KEY, DEMO_KEY, ROOT, Proc, config_yaml, sim_and_gateway, sim_set, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REFRESH_S = 1
EVIL_KEY = "sk-dashboard-evil"
EVIL_NAME = '<img src=x onerror="window.__xss=1">&amp;"team"'

HOUSEKEEPING = """
housekeeping:
  interval_s: 0.2
"""


def fmt_usd(v: float) -> str:
    """The page's one money format (dashboard.js fmtUSD): 2 decimals from $1, 4 significant
    digits below."""
    a, sign = abs(v), "-" if v < 0 else ""
    if a >= 1:
        return f"{sign}${a:,.2f}"
    if a == 0:
        return "$0.00"
    text = f"{a:.{min(10, 3 - math.floor(math.log10(a)))}f}"
    return f"{sign}$1.00" if float(text) >= 1 else f"{sign}${text}"


USD_CASES = [0, 0.0712345, 0.5, 0.000123456, 1, 1.5, 49.999, 1234.5678, 1e-6, 0.99996, -0.25, 50]
LATENCY_CASES = {0.412: "412 µs", 0.001: "1 µs", 1: "1.0 ms", 7.26: "7.3 ms", 250: "250 ms", 12_500: "12.5 s"}
LATENCY_TEXT = re.compile(r"^(\d+ µs|\d+\.\d ms|\d+ ms|\d+\.\d s|–)$")


def admin(gw: Proc, path: str) -> dict:
    req = urllib.request.Request(f"{gw.url}{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    return json.loads(urllib.request.urlopen(req).read())


def admin_post(gw: Proc, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"{gw.url}{path}", json.dumps(body).encode(), method="POST",
                                 headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def raw_request(gw: Proc, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One request, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def dashboard_config(sim_port: int) -> str:
    # a tiny daily budget with a roomy hard limit: spend runs ahead of the pace allowance at any
    # hour (downgrade moments to mark), and past the budget requests keep going to the cheapest model
    text = config_yaml(sim_port, f"dash-{time.time_ns()}", global_budget_usd=0.00005,
                       breaker="failures: 2\n  window_s: 60\n  cooldown_s: 600\n  max_cooldown_s: 600\n  min_sources: 1\n"
                               "  probe_lease_s: 60")
    text = text.replace("budget:\n  daily_usd: 5e-05\n",
                        "budget:\n  daily_usd: 0.00005\n  hard_limit_usd: 5\n"
                        "  at_limit: {low: cheapest, normal: cheapest}\n")
    assert "hard_limit_usd" in text
    evil_sha = hashlib.sha256(EVIL_KEY.encode()).hexdigest()
    text = text.replace("admin_key_sha256:", f"  - name: {json.dumps(EVIL_NAME)}\n    sha256: {evil_sha}\n"
                                             f"    rpm: 2\nadmin_key_sha256:")
    return text + HOUSEKEEPING


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc, Path]]:
    tmp = tmp_path_factory.mktemp("dashboard")
    with sim_and_gateway(tmp, dashboard_config, redis_url) as (gw, sim):
        yield sim, gw, tmp


def test_dashboard_needs_the_admin_key(stack: tuple[Proc, Proc, Path]) -> None:
    _, gw, _ = stack
    browser = raw_request(gw, "GET", "/dashboard", headers={"accept": "text/html"})
    assert browser.status == 303 and browser.getheader("location") == "/dashboard/login"
    assert raw_request(gw, "GET", "/dashboard").status == 401
    assert raw_request(gw, "GET", "/dashboard", headers={"authorization": "Bearer sk-wrong"}).status == 401
    assert raw_request(gw, "GET", "/dashboard", headers={"authorization": f"Bearer {DEMO_KEY}"}).status == 401
    assert raw_request(gw, "GET", "/admin/deployments").status == 401
    assert raw_request(gw, "GET", "/dashboard/api/budget").status == 401
    assert raw_request(gw, "GET", "/dashboard/api/budget", headers={"cookie": "gw_dashboard=9999999999.00"}).status == 401
    form = {"content-type": "application/x-www-form-urlencoded", "origin": gw.url}  # as the login page posts
    wrong = raw_request(gw, "POST", "/dashboard/login", urllib.parse.urlencode({"admin_key": "sk-wrong"}).encode(), form)
    assert wrong.status == 401 and wrong.getheader("set-cookie") is None
    ok = raw_request(gw, "POST", "/dashboard/login", urllib.parse.urlencode({"admin_key": ADMIN_KEY}).encode(), form)
    assert ok.status == 303 and ok.getheader("location") == "/dashboard"
    cookie = ok.getheader("set-cookie")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Max-Age=43200" in cookie
    value = cookie.split(";")[0]
    page = raw_request(gw, "GET", "/dashboard", headers={"cookie": value})
    assert page.status == 200 and "script-src 'self'" in page.getheader("content-security-policy")
    assert raw_request(gw, "GET", "/dashboard/api/breakers", headers={"cookie": value}).status == 200
    # the session opens /dashboard/* only; every /admin/ path takes the admin key alone (each refusal
    # counts as a failed admin key: three, to stay under admin.failures_per_client with the ones above)
    for path in ("spend/series", "keys", "audit"):
        assert raw_request(gw, "GET", f"/admin/{path}", headers={"cookie": value}).status == 401, path
    for path in ("spend", "spend/series", "spend/summary", "deployments", "refusals", "keys", "teams", "audit"):
        assert raw_request(gw, "GET", f"/admin/{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}).status == 200
    for path in ("spend/series", "spend/summary", "deployments", "refusals", "keys", "teams"):
        assert raw_request(gw, "GET", f"/dashboard/api/{path}", headers={"cookie": value}).status == 200, path
    token = value.split("=", 1)[1]
    forged = f"gw_dashboard={token[:-1]}{'A' if token[-1] != 'A' else 'B'}"  # one character off
    assert raw_request(gw, "GET", "/dashboard/api/breakers", headers={"cookie": forged}).status == 401
    assert admin(gw, "/admin/deployments")["deployments"]  # the admin key opens the new endpoints too


def test_dashboard_renders_the_cluster(stack: tuple[Proc, Proc, Path]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the 'test' extra)")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    sim, gw, tmp = stack
    msgs = [{"role": "user", "content": "Say hello to the dashboard"}]
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        for model in ("auto", "auto", "auto", "gpt-5.4-mini", "deepseek-v4-pro", "auto"):
            client.chat.completions.create(model=model, messages=msgs)
    refused = 0
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=EVIL_KEY, max_retries=0) as client:
        for _ in range(4):  # rpm 2: the last two are refused before any upstream call
            try:
                client.chat.completions.create(model="auto", messages=msgs)
            except openai.RateLimitError:
                refused += 1
    assert refused == 2
    # runtime keys: one used once (its last use shown), one never used
    admin_post(gw, "/admin/teams", {"id": "dash-team"})
    used = admin_post(gw, "/admin/keys", {"name": "dash-used", "team": "dash-team"})
    unused = admin_post(gw, "/admin/keys", {"name": "dash-unused"})
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=used["key"], max_retries=0) as client:
        client.chat.completions.create(model="auto", messages=msgs)
    keys = {k["id"]: k for k in admin(gw, "/admin/keys")["data"]}
    assert keys[used["id"]]["last_used_at"] and keys[unused["id"]]["last_used_at"] is None
    assert admin(gw, "/admin/teams/dash-team")["last_used_at"] == keys[used["id"]]["last_used_at"]
    wait_for(lambda: admin(gw, "/admin/spend?by=key")["total"]["requests"] == 9)
    wait_for(lambda: admin(gw, "/admin/refusals")["today"].get("key_rate_limited") == 2)
    wait_for(lambda: len(admin(gw, "/admin/spend/series")["points"]) >= 1)
    budget = admin(gw, "/admin/budget")
    by_model = admin(gw, "/admin/spend?by=model")
    assert budget["downgrade_events"], "spend past the pace allowance should have downgraded"

    requests: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.goto(f"{gw.url}/dashboard?refresh={REFRESH_S}")
            assert page.url.startswith(f"{gw.url}/dashboard/login")
            page.fill("#admin_key", ADMIN_KEY)
            page.click("#login-submit")
            page.wait_for_url(f"{gw.url}/dashboard")
            page.goto(f"{gw.url}/dashboard?refresh={REFRESH_S}")
            page.wait_for_function("() => window.dashboard && window.dashboard.refreshCount >= 2", timeout=10_000)

            # the charts are drawn, with the admin API's numbers
            canvases = page.locator("canvas")
            assert canvases.count() >= 2
            for i in range(canvases.count()):
                box = canvases.nth(i).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 100
            # one money format, one latency format (µs below 1 ms), from the page's own helpers
            assert page.evaluate("vs => vs.map(v => window.dashboard.fmt.usd(v))", USD_CASES) == \
                [fmt_usd(v) for v in USD_CASES]
            assert page.evaluate("vs => vs.map(v => window.dashboard.fmt.latency(v))", list(LATENCY_CASES)) == \
                list(LATENCY_CASES.values())
            # demo scale: $0.07 spent against a $50 budget is drawn on a scale of its own, the
            # allowance and the hard limit listed above it
            demo = page.evaluate("""() => window.dashboard.spendScaleOf(0.07, [{label: "pace allowance", usd: 27.5},
                {label: "daily budget", usd: 0}, {label: "hard limit", usd: 50}])""")
            assert demo["top"] == pytest.approx(0.07 * 1.15)
            assert demo["off"] == [{"label": "pace allowance", "usd": 27.5}, {"label": "hard limit", "usd": 50}]
            # this stack: spend is past a tiny daily budget; the $5 hard limit is off the scale
            scale = page.evaluate("window.dashboard.spendScale")
            assert scale["top"] < 5 and [o["label"] for o in scale["off"]] == ["hard limit"]
            assert scale["top"] >= max(v for v in page.evaluate("window.dashboard.charts.spend.data[1]") if v)
            assert f"hard limit {fmt_usd(5)}" in page.text_content("#hard-note")
            assert page.evaluate("window.dashboard.charts.spend.scales.y.max") == pytest.approx(scale["top"])
            assert page.text_content("#spent-usd") == fmt_usd(budget["spent_usd"])
            assert page.evaluate("window.dashboard.charts.spend.data[1].at(-1)") == budget["spent_usd"]
            assert page.evaluate("window.dashboard.charts.week.data[1].at(-1)") == pytest.approx(budget["spent_usd"])
            assert page.evaluate("window.dashboard.charts.spend.data[2].at(-1)") > 0  # the pace allowance
            assert page.text_content("#requests-today") == str(by_model["total"]["requests"])
            for row in by_model["rows"]:
                cell = page.locator(f'#by-model tr[data-name="{row["name"]}"] td.today-usd')
                assert cell.text_content() == fmt_usd(row["cost_usd"])
            assert page.locator("#events-table tbody tr").count() == len(budget["downgrade_events"])
            assert page.text_content('#refusals-table tr[data-reason="key_rate_limited"] td:nth-child(2)') == "2"
            assert page.text_content("#ready-badge").startswith("ready")
            assert page.text_content("#cluster-badge") == "1 replica · one config"
            # the runtime keys panel: last use as an age, its exact time as the cell's title
            last = f'#keys-table tr[data-key="{used["id"]}"] td:last-child'
            assert page.text_content(last).endswith(("ago", "now"))
            assert page.get_attribute(last, "title") == keys[used["id"]]["last_used_at"]
            assert page.text_content(f'#keys-table tr[data-key="{unused["id"]}"] td:last-child') == "never"
            assert page.text_content('#teams-table tr[data-team="dash-team"] td:last-child').endswith(("ago", "now"))
            # names from config and requests are shown as text, never parsed as markup
            key_names = page.eval_on_selector_all("#by-key td.name span", "els => els.map(e => e.textContent)")
            assert EVIL_NAME in key_names
            assert page.evaluate("window.__xss") is None and page.locator("#by-key img").count() == 0
            # past the daily budget every request goes to the cheapest model first: make it fail
            victim = "deepseek-v4-pro"
            breaker = f'#deployments-table tr[data-deployment="{victim}"] .state'
            assert page.text_content(breaker) == "closed"

            # a breaker forced open shows as open within one refresh
            sim_set(sim, victim, fail_status=503)
            with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
                for _ in range(6):  # each falls back to gpt-5.4-mini; two failures open the breaker
                    client.chat.completions.create(model="auto", messages=msgs)
                    if admin(gw, "/admin/breakers")["breakers"][victim]["state"] == "open":
                        break
            assert admin(gw, "/admin/breakers")["breakers"][victim]["state"] == "open"
            opened = time.monotonic()
            page.wait_for_function(f"() => document.querySelector('{breaker}').textContent === 'open'",
                                   timeout=(REFRESH_S + 2) * 1000)
            assert time.monotonic() - opened <= REFRESH_S + 2
            page.wait_for_function("() => document.querySelector('#deployments-table tr[data-deployment=\"deepseek-v4-pro\"] "
                                   ".error-rate').textContent !== '–'")
            page.wait_for_timeout(REFRESH_S * 1000 + 300)  # one more refresh: numbers after the failures
            latencies = page.eval_on_selector_all("#deployments-table td.p50, #deployments-table td.p99",
                                                  "els => els.map(e => e.textContent)")
            assert latencies and all(LATENCY_TEXT.match(t) for t in latencies), latencies
            laptop = tmp / "dashboard-laptop.png"
            page.screenshot(path=str(laptop), full_page=True)

            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(REFRESH_S * 1000 + 300)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            for i in range(canvases.count()):
                box = canvases.nth(i).bounding_box()
                assert box and 200 < box["width"] <= 390
            phone = tmp / "dashboard-phone.png"
            page.screenshot(path=str(phone), full_page=True)
            context.close()
        finally:
            browser.close()

    outside = [u for u in requests if not u.startswith(gw.url + "/") and not u.startswith("data:")]
    assert requests and not outside, outside
    assert not problems, problems
    if os.environ.get("UPDATE_SCREENSHOTS"):  # refresh the README's pictures on request only
        docs = ROOT / "docs" / "img"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(laptop, docs / "dashboard-laptop.png")
        shutil.copyfile(phone, docs / "dashboard-phone.png")


def test_deployment_latency_keeps_microseconds(stack: tuple[Proc, Proc, Path], redis_url: str) -> None:
    """The latency columns come from the ledger's latency_us: p50/p99 in ms with microsecond
    resolution (an answer under 1 ms is not 0), the percentile of what settle recorded."""
    _, gw, _ = stack
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "Hi"}])
    state = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ledgers = list(state.scan_iter(match="{dash-*}:ledger"))
        assert len(ledgers) == 1, ledgers

        def agrees() -> bool:
            entries = [f for _, f in state.xrange(ledgers[0])]
            ok = sorted(int(f["latency_us"]) for f in entries
                        if f.get("deployment") == "gpt-5.4-mini" and f.get("outcome") == "success")
            assert ok and all(int(f["latency_ms"]) == int(f["latency_us"]) // 1000 for f in entries if "latency_us" in f)
            p50 = ok[max(0, math.ceil(0.5 * len(ok)) - 1)] / 1000
            p99 = ok[max(0, math.ceil(0.99 * len(ok)) - 1)] / 1000
            dep = admin(gw, "/admin/deployments?n=2000")["deployments"]["gpt-5.4-mini"]
            return (dep["p50_ms"], dep["p99_ms"]) == (p50, p99)

        wait_for(agrees)
    finally:
        state.close()
