"""Runtime keys and teams over real HTTP: three gateway processes with two workers each on one
engine. A key made on one replica works on another at the next request; a revoke on a third,
under load, stops every request that starts after the revoke answered; three keys of one team
hammered across the replicas settle within the team's budget with no reservation left; a
rotation's old key works for its grace, then only the new one. Secrets never appear in an
answer after creation, nor in a log; a read-scoped admin key cannot write. The rotation, every
`gateway keys|teams|audit-log` command and the team budget also run against a fleet whose state
is the 3-master cluster."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from datetime import datetime
from collections import Counter
from pathlib import Path
from typing import Iterator

import json
import urllib.error
import urllib.request

import aiohttp
import pytest
import redis

from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, Proc, start_gateway, start_simulator, wait_for

READ_KEY = "sk-admin-read-only"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
READER = {"authorization": f"Bearer {READ_KEY}"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 100}


def config(sim_port: int, prefix: str) -> str:
    read_sha = hashlib.sha256(READ_KEY.encode()).hexdigest()
    return f"""
server: {{request_timeout_s: 30, attempt_budget: 1}}
state: {{prefix: {prefix}, timeout_ms: 3000, fold_interval_ms: 0}}
housekeeping: {{interval_s: 3600}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: gpt-5.4-mini}}
keys:
  - {{name: demo, sha256: {hashlib.sha256(b"sk-file-key").hexdigest()}}}
admin_key_sha256: {ADMIN_KEY_SHA}
admin_keys:
  - {{name: viewer, sha256: {read_sha}, scope: read}}
"""


def start_fleet(url: str, tmp: Path) -> tuple[Proc, list[Proc], str]:
    sim = start_simulator(tmp)
    prefix = f"k{time.time_ns()}"
    return sim, [start_gateway(tmp, config(sim.port, prefix), url, workers=2) for _ in range(3)], prefix


def _running_fleet(url: str, tmp: Path) -> Iterator[tuple[list[Proc], str]]:
    sim, gws, prefix = start_fleet(url, tmp)
    try:
        yield gws, prefix
    finally:
        for gw in gws:
            gw.stop()
        sim.stop()


@pytest.fixture(scope="module")
def fleet(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Proc], str]]:
    yield from _running_fleet(redis_url, tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def cluster_fleet(cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Proc], str]]:
    """The same fleet with its state on the session's 3-master cluster (tests/conftest.py)."""
    yield from _running_fleet(",".join(cluster.urls), tmp_path_factory.mktemp("keys-cluster"))


@pytest.fixture(params=["single", "cluster"])
def any_fleet(request: pytest.FixtureRequest) -> tuple[list[Proc], str]:
    """Each fleet in turn: state on one engine, then on the 3-master cluster."""
    return request.getfixturevalue("fleet" if request.param == "single" else "cluster_fleet")


class Answer:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text

    def json(self) -> dict:
        return json.loads(self.text)


def request(method: str, url: str, body: dict | None, headers: dict) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, {**headers, "content-type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Answer(resp.status, resp.read().decode())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.read().decode())


def admin(gw: Proc, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> Answer:
    return request(method, f"{gw.url}{path}", body, headers or ADMIN)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def chat(gw: Proc, key: str) -> int:
    return request("POST", f"{gw.url}/v1/chat/completions", BODY, {"authorization": f"Bearer {key}"}).status_code


def test_create_on_one_replica_use_on_another_and_scopes(fleet) -> None:
    (a, b, c), _ = fleet
    r = admin(a, "POST", "/admin/keys", {"name": "svc"}, READER)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert admin(a, "GET", "/admin/keys", headers=READER).status_code == 200
    r = admin(a, "POST", "/admin/keys", {"name": "demo"})  # the config file's name: the file wins
    assert r.status_code == 400 and r.json()["error"]["param"] == "name"
    r = admin(a, "POST", "/admin/keys", {"name": "svc", "rpm": 1000, "metadata": {"owner": "search"}})
    assert r.status_code == 201, r.text
    made = r.json()
    secret, key_id = made["key"], made["id"]
    assert secret.startswith("sk-gw-") and made["metadata"] == {"owner": "search"}
    assert chat(b, secret) == 200          # the very next request, on another replica
    assert chat(c, secret + "x") == 401
    assert request("POST", f"{c.url}/v1/chat/completions", BODY, {"x-api-key": secret}).status_code == 200
    answers = [admin(g, "GET", f"/admin/keys/{key_id}").text for g in (a, b, c)]
    answers += [admin(a, "GET", "/admin/keys").text, admin(a, "GET", "/admin/audit").text]
    assert all(secret not in t and hashlib.sha256(secret.encode()).hexdigest() not in t for t in answers)
    assert admin(c, "GET", f"/admin/keys/{key_id}").json()["spend_today_usd"] > 0
    audit = admin(b, "GET", "/admin/audit").json()["data"]
    assert audit[0]["op"] == "key.create" and audit[0]["actor"] == "admin" and audit[0]["target"] == key_id
    listed = admin(b, "GET", "/dashboard/api/keys", headers=READER).json()["data"]  # the dashboard's panel
    assert key_id in [k["id"] for k in listed] and secret not in str(listed)
    r = admin(a, "PATCH", f"/admin/keys/{key_id}", {"models": ["nope"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "models"


async def _hammer(gws: list[Proc], keys: list[str], n: int, conc: int) -> list[tuple[float, float, int]]:
    """n requests, `conc` at a time, round-robin over replicas and keys: (start, end, status)."""
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> tuple[float, float, int]:
            async with sem:
                start = time.monotonic()
                async with session.post(f"{gws[i % len(gws)].url}/v1/chat/completions", json=BODY,
                                        headers={"authorization": f"Bearer {keys[i % len(keys)]}"}) as resp:
                    await resp.read()
                    return start, time.monotonic(), resp.status
        return await asyncio.gather(*(one(i) for i in range(n)))


async def _load_until(gws: list[Proc], key: str, conc: int, stop: asyncio.Event) -> list[tuple[float, int]]:
    """`conc` clients each sending one request after another, round-robin over the replicas,
    until `stop` is set: (start, status) of every request."""
    out: list[tuple[float, int]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def client(c: int) -> None:
            i = c
            while not stop.is_set():
                start = time.monotonic()
                async with session.post(f"{gws[i % len(gws)].url}/v1/chat/completions", json=BODY,
                                        headers={"authorization": f"Bearer {key}"}) as resp:
                    await resp.read()
                    out.append((start, resp.status))
                i += 1
        await asyncio.gather(*(client(c) for c in range(conc)))
    return out


def test_revoke_under_load_stops_every_later_request(any_fleet) -> None:
    gws, _ = any_fleet
    made = admin(gws[0], "POST", "/admin/keys", {"name": "doomed"}).json()

    async def scenario() -> tuple[float, list[tuple[float, int]]]:
        stop = asyncio.Event()
        load = asyncio.ensure_future(_load_until(gws, made["key"], 12, stop))
        await asyncio.sleep(1.0)
        r = await asyncio.to_thread(admin, gws[2], "DELETE", f"/admin/keys/{made['id']}")
        answered = time.monotonic()
        assert r.status_code == 200 and r.json()["revoked"] is True
        await asyncio.sleep(1.0)  # the load goes on after the revoke answered
        stop.set()
        return answered, await load

    answered, results = asyncio.run(scenario())
    after = Counter(status for start, status in results if start > answered)
    before = Counter(status for start, status in results if start <= answered)
    assert before[200] > 0 and sum(after.values()) > 0, (before, after)
    assert after[200] == 0 and set(after) == {401}, after


def test_team_budget_holds_across_replicas(fleet, redis_url: str) -> None:
    gws, prefix = fleet
    assert admin(gws[0], "POST", "/admin/teams", {"id": "search", "daily_budget_usd": 0.002}).status_code == 201
    keys = [admin(gws[i], "POST", "/admin/keys", {"name": f"t{i}", "team": "search"}).json() for i in range(3)]
    results = asyncio.run(_hammer(gws, [k["key"] for k in keys], 300, 64))
    statuses = Counter(s for _, _, s in results)
    assert statuses[200] > 0 and statuses[429] > 0 and set(statuses) <= {200, 429}, statuses
    team_settles_within_budget(gws, prefix, redis.Redis.from_url(redis_url), "search", keys, 2000)


def team_settles_within_budget(gws: list[Proc], prefix: str, r, team: str, keys: list[dict], budget: int) -> None:
    """The team's spend is at most its budget, the sum of its keys' spend, with nothing reserved."""
    spend_key = f"{{{prefix}}}:spend:{admin(gws[0], 'GET', '/admin/budget').json()['day']}"
    wait_for(lambda: int(r.hget(spend_key, f"reserved:team:{team}") or 0) == 0, timeout=20)
    assert 0 < int(r.hget(spend_key, f"cost:team:{team}")) <= budget
    assert sum(int(r.hget(spend_key, f"cost:key:{k['id']}") or 0) for k in keys) == \
        int(r.hget(spend_key, f"cost:team:{team}"))
    view = admin(gws[1], "GET", f"/admin/teams/{team}").json()
    assert view["remaining_today_usd"] is not None and view["keys"] == len(keys)
    assert admin(gws[2], "DELETE", f"/admin/teams/{team}").status_code == 409  # it still has keys


def test_rotate_with_grace(any_fleet) -> None:
    """Old and new secret both work on every replica during the grace, then only the new one
    (each replica's workers had the old secret cached: admit refuses it on the engine's clock)."""
    gws, _ = any_fleet
    made = admin(gws[0], "POST", "/admin/keys", {"name": "rotating"}).json()
    assert made["last_used_at"] is None
    assert {chat(g, made["key"]) for g in gws for _ in range(2)} == {200}  # cached on the workers
    used = admin(gws[1], "GET", f"/admin/keys/{made['id']}").json()["last_used_at"]
    assert used is not None
    rotated = admin(gws[2], "POST", f"/admin/keys/{made['id']}/rotate", {"grace_s": 3}).json()
    new = rotated["key"]
    assert new != made["key"] and rotated["previous_key_valid_until"]
    until = rotated["previous_key_valid_until"]
    assert {chat(g, made["key"]) for g in gws} == {200}
    assert {chat(g, new) for g in gws} == {200}
    time.sleep(3.2)
    assert {chat(g, made["key"]) for g in gws for _ in range(2)} == {401}
    assert {chat(g, new) for g in gws} == {200}
    after = admin(gws[0], "GET", f"/admin/keys/{made['id']}").json()
    assert after["previous_key_valid_until"] == until and when(after["last_used_at"]) > when(used)
    audit = [e for e in admin(gws[0], "GET", "/admin/audit").json()["data"] if e["target"] == made["id"]]
    assert [e["op"] for e in audit] == ["key.rotate", "key.create"]


def test_no_secret_in_any_log(fleet) -> None:
    gws, _ = fleet
    made = admin(gws[0], "POST", "/admin/keys", {"name": "logged?"}).json()
    chat(gws[1], made["key"])
    chat(gws[1], made["key"] + "wrong")
    for g in gws:
        text = "\n".join(g.log_lines())
        assert "sk-gw-" not in text


def test_cli_talks_to_the_admin_api(any_fleet) -> None:
    """Every `gateway keys|teams|audit-log` command, as a process, against replica A; the keys it
    makes are used on B and C."""
    gws, _ = any_fleet
    env = {**os.environ, "GATEWAY_ADMIN_KEY": ADMIN_KEY}

    def cli(*argv: str, key_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway.cli", *argv, "--url", gws[0].url], env=key_env or env,
                              capture_output=True, text=True, timeout=60)

    def ok(*argv: str) -> str:
        out = cli(*argv)
        assert out.returncode == 0, (argv, out.stderr)
        return out.stdout

    def rows(table: str) -> dict[str, dict[str, str]]:
        """`keys|teams list`'s table by id (columns are whitespace-separated, values have no spaces)."""
        head, *lines = table.splitlines()
        cols = head.split()
        return {r[0]: dict(zip(cols, r)) for r in (line.split() for line in lines)}

    assert json.loads(ok("teams", "create", "cli-team", "--daily-budget-usd", "1"))["daily_budget_usd"] == 1
    assert json.loads(ok("teams", "update", "cli-team", "--rpm", "100"))["rpm"] == 100
    assert json.loads(ok("teams", "show", "cli-team"))["rpm"] == 100
    made = cli("keys", "create", "--name", "from-cli", "--team", "cli-team", "--rpm", "5")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["team"] == "cli-team" and key["rpm"] == 5 and "shown once" in made.stderr
    listed = rows(ok("keys", "list", "--team", "cli-team"))
    assert listed[key["id"]]["last_used_at"] == "-" and key["key"] not in str(listed)
    assert chat(gws[1], key["key"]) == 200
    listed = rows(ok("keys", "list", "--team", "cli-team"))
    assert listed[key["id"]]["last_used_at"] != "-" and float(listed[key["id"]]["spend_today_usd"]) > 0
    assert rows(ok("teams", "list"))["cli-team"]["last_used_at"] == listed[key["id"]]["last_used_at"]
    shown = json.loads(ok("keys", "show", key["id"]))
    assert shown["last_used_at"] == listed[key["id"]]["last_used_at"] and "key" not in shown
    assert json.loads(ok("keys", "update", key["id"], "--rpm", "7", "--name", "renamed"))["rpm"] == 7
    rotated = json.loads(ok("keys", "rotate", key["id"]))  # no grace: the old secret stops at once
    assert rotated["key"] != key["key"] and rotated["name"] == "renamed"
    assert chat(gws[2], key["key"]) == 401 and chat(gws[2], rotated["key"]) == 200
    busy = cli("teams", "delete", "cli-team")
    assert busy.returncode == 1 and "409" in busy.stderr
    assert json.loads(ok("keys", "revoke", key["id"]))["revoked"] is True
    assert chat(gws[2], rotated["key"]) == 401 and chat(gws[1], rotated["key"]) == 401
    assert key["id"] not in rows(ok("keys", "list")) and key["id"] in rows(ok("keys", "list", "--revoked"))
    assert json.loads(ok("teams", "delete", "cli-team"))["deleted"] is True
    log = json.loads(ok("audit-log", "--limit", "9", "--json"))["data"]
    ops = [(e["op"], e["target"]) for e in log if e["target"] in (key["id"], "cli-team")]
    assert ops == [("team.delete", "cli-team"), ("key.revoke", key["id"]), ("key.rotate", key["id"]),
                   ("key.update", key["id"]), ("key.create", key["id"]), ("team.update", "cli-team"),
                   ("team.create", "cli-team")]
    text = ok("audit-log", "--limit", "3")
    assert "team.delete" in text and "key.revoke" in text and "sk-gw-" not in text
    revoke_line = next(line for line in text.splitlines() if "key.revoke" in line)
    assert "revoked: 0 -> 1" in revoke_line and log[1]["id"] in revoke_line  # what changed, when (its id)
    read_only = cli("keys", "create", "--name", "x", key_env={**os.environ, "GATEWAY_ADMIN_KEY": READ_KEY})
    assert read_only.returncode == 1 and "403" in read_only.stderr


def test_on_the_three_master_cluster(cluster_fleet, cluster) -> None:
    """The same on a 3-master cluster: create on A, use on B; a team budget across replicas;
    a revoke on C refuses the next request everywhere (and under load: the test above)."""
    from redis.cluster import RedisCluster

    gws, prefix = cluster_fleet
    assert admin(gws[0], "POST", "/admin/teams", {"id": "c", "daily_budget_usd": 0.001}).status_code == 201
    keys = [admin(gws[i], "POST", "/admin/keys", {"name": f"c{i}", "team": "c"}).json() for i in range(3)]
    assert chat(gws[1], keys[0]["key"]) == 200
    statuses = Counter(s for _, _, s in asyncio.run(_hammer(gws, [k["key"] for k in keys], 150, 64)))
    assert statuses[200] > 0 and statuses[429] > 0 and set(statuses) <= {200, 429}, statuses
    team_settles_within_budget(gws, prefix, RedisCluster.from_url(cluster.urls[0]), "c", keys, 1000)
    assert admin(gws[2], "DELETE", f"/admin/keys/{keys[0]['id']}").status_code == 200
    assert {chat(g, keys[0]["key"]) for g in gws} == {401}
