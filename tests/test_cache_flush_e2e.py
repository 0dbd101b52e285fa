"""Flushing the response cache end to end: the official `openai` SDK → the gateway (a real
process, `cache.enabled`) → the simulator, whose call counts say whether a request reached a
provider; `gateway cache flush|stats` run as processes against the admin API. On one engine, and
the flush by CLI also on the 3-master cluster (the entries spread over its masters)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterator

import openai
import pytest

from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, start_gateway

OTHER_KEY = "sk-cache-flush-other"
READ_KEY = "sk-cache-flush-reader"
MODEL = "gpt-5.4-mini"


def config(sim_port: int, prefix: str) -> str:
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 1}}
state: {{prefix: {prefix}, timeout_ms: 3000}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  {MODEL}: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: {MODEL}}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
  - {{name: other, sha256: {hashlib.sha256(OTHER_KEY.encode()).hexdigest()}}}
admin_key_sha256: {ADMIN_KEY_SHA}
admin_keys:
  - {{name: viewer, sha256: {hashlib.sha256(READ_KEY.encode()).hexdigest()}, scope: read}}
cache: {{enabled: true, ttl_s: 600}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """One worker: its own cache counters are the replica's, read fresh by the stats."""
    prefix = f"flush{uuid.uuid4().hex[:8]}"
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port, prefix), redis_url) as proc:
        yield proc


@pytest.fixture(scope="module")
def cluster_gateway(sim: Proc, cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    prefix = f"flushc{uuid.uuid4().hex[:8]}"
    with start_gateway(tmp_path_factory.mktemp("gwc"), config(sim.port, prefix), ",".join(cluster.urls)) as proc:
        yield proc


def ask() -> list[dict[str, str]]:
    """A question no other test asks."""
    return [{"role": "user", "content": f"Name a sea, case {uuid.uuid4().hex[:8]}."}]


def result(gw: Proc, messages: list[dict[str, str]], key: str = DEMO_KEY) -> str:
    """What the cache did for this request (`x-gateway-cache`)."""
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, temperature=0,
                                                              max_tokens=40)
    assert raw.parse().choices[0].message.content
    return raw.headers["x-gateway-cache"]


def cached(gw: Proc, messages: list[dict[str, str]], key: str = DEMO_KEY) -> None:
    """Ask until the answer is stored (the store runs after the answer went out): miss, then hit."""
    assert result(gw, messages, key) == "miss"
    assert result(gw, messages, key) == "hit"


def cli(gw: Proc, *argv: str, admin_key: str = ADMIN_KEY) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *argv, "--url", gw.url],
                          env={**os.environ, "GATEWAY_ADMIN_KEY": admin_key}, capture_output=True, text=True,
                          timeout=60)


def cli_json(gw: Proc, *argv: str) -> Any:
    out = cli(gw, *argv, "--json")
    assert out.returncode == 0, (argv, out.stderr)
    return json.loads(out.stdout)


def http(gw: Proc, method: str, path: str, key: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(gw.url + path, data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("where", ["single", "cluster"])
def test_after_a_flush_by_the_cli_the_next_call_is_a_miss(where: str, request: pytest.FixtureRequest,
                                                          sim: Proc) -> None:
    gw: Proc = request.getfixturevalue("gateway" if where == "single" else "cluster_gateway")
    questions = [ask() for _ in range(4)]
    for messages in questions:
        cached(gw, messages)
    out = cli(gw, "cache", "flush", "--all")
    assert out.returncode == 0, out.stderr
    dropped = int(out.stdout.split()[0])
    assert dropped >= len(questions) and "entries dropped (every entry)" in out.stdout
    calls = sum(sim_calls(sim).values())
    assert result(gw, questions[0]) == "miss"
    assert sum(sim_calls(sim).values()) == calls + 1  # asked upstream again
    assert result(gw, questions[0]) == "hit"  # and stored again


def test_a_flush_by_key_keeps_another_keys_entries_and_is_audited(gateway: Proc) -> None:
    messages = ask()
    cached(gateway, messages)
    cached(gateway, messages, OTHER_KEY)
    flushed = cli_json(gateway, "cache", "flush", "--key", "demo")
    assert flushed == {"object": "cache.flush", "scope": "key", "id": "demo", "dropped": flushed["dropped"]}
    assert flushed["dropped"] >= 1
    assert result(gateway, messages, OTHER_KEY) == "hit"
    assert result(gateway, messages) == "miss"
    entry = next(e for e in cli_json(gateway, "audit-log", "--limit", "5")["data"] if e["op"] == "cache.flush")
    assert entry["target"] == "key:demo" and entry["actor"] == "admin" and entry["before"] is None
    assert entry["after"] == {"scope": "key", "id": "demo", "dropped": flushed["dropped"]}
    text = cli(gateway, "audit-log", "--limit", "5").stdout
    assert f"dropped: - -> {flushed['dropped']}" in text


def test_a_flush_by_team_drops_its_keys_entries_only(gateway: Proc) -> None:
    """A runtime key in a team: `--team` drops its entries; a key of another team keeps its own."""
    team = f"t{uuid.uuid4().hex[:6]}"
    assert http(gateway, "POST", "/admin/teams", ADMIN_KEY, {"id": team})[0] == 201
    status, member = http(gateway, "POST", "/admin/keys", ADMIN_KEY, {"name": f"m{team}", "team": team})
    assert status == 201
    status, outsider = http(gateway, "POST", "/admin/keys", ADMIN_KEY, {"name": f"o{team}"})
    assert status == 201
    messages = ask()
    for key in (member["key"], outsider["key"], DEMO_KEY):
        cached(gateway, messages, key)
    assert cli_json(gateway, "cache", "flush", "--team", team)["dropped"] == 1
    assert result(gateway, messages, member["key"]) == "miss"
    assert result(gateway, messages, outsider["key"]) == "hit" and result(gateway, messages) == "hit"
    by_id = cli_json(gateway, "cache", "flush", "--key", outsider["id"])  # a runtime key by its id
    assert by_id["dropped"] == 1 and result(gateway, messages, outsider["key"]) == "miss"


def test_stats_count_entries_per_scope_and_this_replicas_hits(gateway: Proc) -> None:
    cli_json(gateway, "cache", "flush", "--all")
    before = cli_json(gateway, "cache", "stats")
    assert before["total"] == 0 and before["entries"] == {"key": 0, "team": 0, "global": 0}
    first, second = ask(), ask()
    cached(gateway, first)
    cached(gateway, second)
    cached(gateway, first, OTHER_KEY)
    stats = cli_json(gateway, "cache", "stats")
    assert stats["enabled"] is True and stats["scope"] == "key"
    assert stats["total"] == 3 and stats["entries"] == {"key": 3, "team": 0, "global": 0}
    assert stats["top_scopes"] == [{"scope": "cfg:demo", "entries": 2}, {"scope": "cfg:other", "entries": 1}]
    hits = {r: stats["requests_this_replica"][r] - before["requests_this_replica"][r] for r in ("hit", "miss")}
    assert hits == {"hit": 3, "miss": 3}
    text = cli(gateway, "cache", "stats").stdout
    assert "3 entries (key 3, team 0, global 0)" in text and "cfg:demo" in text


def test_only_a_write_admin_key_may_flush(gateway: Proc) -> None:
    """Errors in the OpenAI shape: a client key or none is a 401, a read-scoped admin key may
    read the stats but not flush (403), a bad scope is a 400 naming its parameter."""
    messages = ask()
    cached(gateway, messages)
    for key in (DEMO_KEY, None):
        status, body = http(gateway, "DELETE", "/admin/cache?scope=all", key)
        assert status == 401 and body["error"]["type"] == "authentication_error", body
    status, body = http(gateway, "DELETE", "/admin/cache?scope=all", READ_KEY)
    assert status == 403 and body["error"]["code"] == "insufficient_scope", body
    assert http(gateway, "GET", "/admin/cache", READ_KEY)[0] == 200
    assert http(gateway, "GET", "/admin/cache", DEMO_KEY)[0] == 401
    assert result(gateway, messages) == "hit"  # nothing was dropped
    refused = cli(gateway, "cache", "flush", "--all", admin_key=READ_KEY)
    assert refused.returncode == 1 and "403" in refused.stderr
    for query, param in (("scope=some", "scope"), ("scope=all&id=x", "id"), ("scope=key", "id"),
                         ("scope=team&id=a%20b", "id")):
        status, body = http(gateway, "DELETE", f"/admin/cache?{query}", ADMIN_KEY)
        assert status == 400 and body["error"]["param"] == param, (query, body)
    status, body = http(gateway, "DELETE", "/admin/cache?scope=key&id=nobody", ADMIN_KEY)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert result(gateway, messages) == "hit"
