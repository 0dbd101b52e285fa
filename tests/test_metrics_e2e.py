"""/metrics shows the whole replica in every scrape, behind an optional token (issue 17, item 8):
with two workers each scrape used to show one worker's series only, so sums and rates were wrong."""

from __future__ import annotations

import hashlib
import re
import time
import urllib.error
import urllib.request
from typing import Iterator

import openai
import pytest

from gateway.observe.metrics import Metrics
from tests.procs import DEMO_KEY, Proc, config_yaml, sim_and_gateway, wait_for

TOKEN = "metrics-scrape-token"
REQUESTS = re.compile(r'^gateway_requests_total\{route="auto",model="gpt-5.4-mini",provider="sim",status="200",'
                      r'worker="(\d+)"\} (\d+)$', re.M)


@pytest.fixture(scope="module")
def gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    def text(sim_port: int) -> str:
        return config_yaml(sim_port, f"met-{time.time_ns()}") + (
            f"\nmetrics:\n  token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}\n  per_key: true\n")

    with sim_and_gateway(tmp_path_factory.mktemp("metrics"), text, redis_url, workers=2) as (gw, _):
        yield gw


def scrape(gw: Proc, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{gw.url}/metrics", headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_token_is_required(gateway: Proc) -> None:
    assert scrape(gateway, None)[0] == 401
    status, body = scrape(gateway, "wrong")
    assert status == 401 and '"authentication_error"' in body
    assert scrape(gateway)[0] == 200


def test_every_scrape_shows_every_worker_and_the_sums_are_right(gateway: Proc) -> None:
    n = 40
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        for _ in range(n):  # each on a new connection: the kernel spreads them over both workers
            client.with_options(max_retries=0).chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "hi"}], extra_headers={"connection": "close"})

    def counts() -> dict[str, int]:
        return {w: int(v) for w, v in REQUESTS.findall(scrape(gateway)[1])}

    wait_for(lambda: sum(counts().values()) == n, timeout=15)
    time.sleep(1.5)  # every worker's snapshot has been rewritten since its last request (each 0.5 s)
    seen = []
    for _ in range(8):  # whichever worker answers, it shows both
        text = scrape(gateway)[1]
        by_worker = {w: int(v) for w, v in REQUESTS.findall(text)}
        assert sum(by_worker.values()) == n, (by_worker, [l for l in text.splitlines() if "requests_total" in l])
        seen.append(by_worker)
    assert all(len(s) == 2 for s in seen), seen  # both workers served some of the 40
    status, text = scrape(gateway)
    assert text.count("# TYPE gateway_requests_total counter") == 1  # one family, every worker's samples
    assert re.search(r'gateway_cost_usd_total\{model="gpt-5.4-mini",provider="sim",task="[a-z_]+",key="demo",'
                     r'worker="\d+"\}', text)


def test_key_labels_are_off_by_default() -> None:
    m = Metrics()
    m.cost.inc(("m", "p", "t"), 0.5)
    text = m.render()
    assert 'gateway_cost_usd_total{model="m",provider="p",task="t",worker=' in text and "key=" not in text
    other = Metrics()
    other.worker = "1"
    other.cost.inc(("m", "p", "t"), 0.25)
    merged = m.render([other.dump()])
    assert merged.count("# TYPE gateway_cost_usd_total counter") == 1
    assert 'task="t",worker="1"} 0.25' in merged and f'task="t",worker="{m.worker}"}} 0.5' in merged
