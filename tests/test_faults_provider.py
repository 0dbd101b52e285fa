"""Provider and client faults with real processes: each fault maps to a defined outcome, partial
usage is charged, a client that hangs up mid-stream cancels the upstream call, and SIGTERM lets
in-flight streams finish."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import openai
import pytest
import redis

from gateway.state.engine import free_port
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_reset, sim_set, sim_and_gateway, wait_for

MSGS = [{"role": "user", "content": "tell me a story"}]


def open_stream(gw: Proc, model: str):
    """A raw SSE response (urllib reads it line by line as it arrives)."""
    body = json.dumps({"model": model, "messages": MSGS, "stream": True}).encode()
    req = urllib.request.Request(f"{gw.url}/v1/chat/completions", data=body, method="POST",
                                 headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"})
    return urllib.request.urlopen(req, timeout=20)


def sse_lines(resp) -> Iterator[str]:
    for raw in resp:
        line = raw.decode().rstrip("\r\n")
        if line:
            yield line


def config(sim_port: int, prefix: str) -> str:
    dead = free_port()  # nothing listens there: connection refused
    return f"""
server: {{request_timeout_s: 15, attempt_budget: 2, body_read_timeout_s: 1}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  sim:
    format: openai
    base_url: http://127.0.0.1:{sim_port}/v1
    api_key_env: SIMULATOR_API_KEY
    timeouts: {{connect_s: 2, first_byte_s: 1, idle_s: 1, total_s: 30}}
  dead: {{format: openai, base_url: http://127.0.0.1:{dead}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  main: {{provider: sim, upstream: m-main, price: {{input: 1, output: 2}}}}
  backup: {{provider: sim, upstream: m-backup, price: {{input: 1, output: 2}}}}
  gone: {{provider: dead, upstream: m-gone, price: {{input: 1, output: 2}}}}
routes:
  auto: {{primary: main, fallbacks: [backup]}}
  dead-first: {{primary: gone, fallbacks: [backup]}}
  solo: {{primary: main}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc, str]]:
    prefix = f"pf{time.time_ns()}"
    with sim_and_gateway(tmp_path_factory.mktemp("pf"), lambda port: config(port, prefix), redis_url,
                         workers=2) as (gw, sim):
        yield gw, sim, prefix


@pytest.fixture
def client(env: tuple[Proc, Proc, str]) -> Iterator[openai.OpenAI]:
    gw, sim, _ = env
    sim_reset(sim)
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def ask(client: openai.OpenAI, model: str = "auto", stream: bool = False) -> tuple[str, str]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MSGS, stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content
    return raw.headers["x-gateway-model"], text


def test_connection_refused_fails_over(client: openai.OpenAI) -> None:
    assert ask(client, "dead-first")[0] == "backup"
    assert ask(client, "dead-first", stream=True)[0] == "backup"


@pytest.mark.parametrize("knobs, modes", [
    ({"fail_status": 500}, (False, True)), ({"fail_status": 503}, (False, True)),
    ({"fail_status": 429, "retry_after_s": 0}, (False, True)), ({"rate_limit_rate": 1.0, "retry_after_s": 0}, (False, True)),
    ({"ttft_ms": 3000}, (True,)),      # first-byte timeout (1 s) on a stream
    ({"latency_ms": 3000}, (False,)),  # first-byte timeout on a plain answer
])
def test_retryable_faults_fail_over_before_the_first_byte(client: openai.OpenAI, env, knobs: dict,
                                                          modes: tuple[bool, ...]) -> None:
    sim_set(env[1], "m-main", **knobs)
    for stream in modes:
        assert ask(client, stream=stream)[0] == "backup"


def test_garbage_stream_before_first_chunk_fails_over(client: openai.OpenAI, env) -> None:
    sim_set(env[1], "m-main", garbage_stream=True)
    assert ask(client, stream=True)[0] == "backup"


@pytest.mark.parametrize("knobs, code", [
    ({"stream_cut_after": 3}, "upstream_stream_cut"),      # ends without its final event
    ({"stream_abort_after": 3}, "upstream_stream_error"),  # the connection drops
])
def test_stream_failing_after_bytes_went_out_ends_cleanly_and_charges_what_was_used(
        env, knobs: dict, code: str, redis_url: str) -> None:
    gw, sim, prefix = env
    sim_reset(sim)
    sim_set(sim, "m-main", output_tokens=40, **knobs)
    with open_stream(gw, "solo") as resp:
        assert resp.status == 200
        rid = resp.headers["x-request-id"]
        frames = [line for line in sse_lines(resp) if line.startswith("data: ")]
    assert frames[-1] == "data: [DONE]"
    error = json.loads(frames[-2][6:])["error"]
    assert error["code"] == code and error["type"]
    entry = ledger_entry(redis_url, prefix, rid)
    assert entry["outcome"] == "failure" and 0 < int(entry["out"]) < 40 and int(entry["cost"]) > 0


def ledger_entry(redis_url: str, prefix: str, rid: str) -> dict:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    found: list[dict] = []

    def look() -> bool:
        found[:] = [e for _, e in client.xrange(f"{{{prefix}}}:ledger") if e["req_id"].startswith(rid)]
        return bool(found)

    wait_for(look)
    client.close()
    return found[-1]


def test_client_disconnect_mid_stream_cancels_upstream_and_settles_usage(env, redis_url: str) -> None:
    gw, sim, prefix = env
    sim_reset(sim)
    sim_set(sim, "m-main", output_tokens=600, tokens_per_s=20)  # a 30-second stream
    with open_stream(gw, "solo") as resp:
        rid = resp.headers["x-request-id"]
        lines = sse_lines(resp)
        got = [next(lines) for _ in range(4)]
        assert any(line.startswith("data: {") for line in got)
    # the gateway settles within seconds, long before the 30-second stream would have ended
    started = time.monotonic()
    entry = ledger_entry(redis_url, prefix, rid)
    assert time.monotonic() - started < 15
    assert entry["outcome"] == "neutral" and 0 < int(entry["out"]) < 600


def test_sigterm_lets_an_in_flight_stream_finish(redis_url: str, tmp_path: Path) -> None:
    prefix = f"term{time.time_ns()}"
    with sim_and_gateway(tmp_path, lambda port: config(port, prefix), redis_url) as (gw, sim):
        sim_set(sim, "m-main", output_tokens=60, tokens_per_s=30)  # about two seconds
        with open_stream(gw, "solo") as resp:
            rid = resp.headers["x-request-id"]
            lines = sse_lines(resp)
            next(lines)
            gw.process.send_signal(signal.SIGTERM)
            rest = list(lines)
        assert [line for line in rest if line.startswith("data: ")][-1] == "data: [DONE]"
        assert gw.process.wait(timeout=15) == 0
        entry = ledger_entry(redis_url, prefix, rid)
        assert entry["outcome"] == "success" and int(entry["out"]) == 60
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{gw.url}/healthz", timeout=2)


def test_a_stream_cut_at_the_end_of_the_grace_ends_with_an_error_event_and_done(redis_url: str,
                                                                               tmp_path: Path) -> None:
    """A stream longer than the SIGTERM grace is cut when the grace ends: the client gets an SSE
    error event, `[DONE]` and a complete chunked body (no read error), and it is settled."""
    prefix = f"cut{time.time_ns()}"
    with sim_and_gateway(tmp_path, lambda port: config(port, prefix), redis_url, grace=1) as (gw, sim):
        sim_set(sim, "m-main", output_tokens=600, tokens_per_s=20)  # a 30-second stream
        with open_stream(gw, "solo") as resp:
            rid = resp.headers["x-request-id"]
            lines = sse_lines(resp)
            next(lines)
            gw.process.send_signal(signal.SIGTERM)
            rest = list(lines)  # http.client raises IncompleteRead on a broken chunked body
        data = [line for line in rest if line.startswith("data: ")]
        assert data[-1] == "data: [DONE]"
        assert json.loads(data[-2][6:])["error"]["code"] == "server_shutting_down"
        assert gw.process.wait(timeout=15) == 0
        entry = ledger_entry(redis_url, prefix, rid)
        assert entry["outcome"] == "neutral" and 0 < int(entry["out"]) < 600
        assert not [line for line in gw.log_lines() if line.strip() and not line.startswith(("{", "gateway:"))]


def test_a_body_that_trickles_in_gets_408_not_a_held_connection(env) -> None:
    gw = env[0]
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + DEMO_KEY.encode() + b"\r\nContent-Length: 500\r\n\r\n{\"model\"")
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _length(reply):
            chunk = sock.recv(65536)  # we send nothing more; the gateway answers and may close
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "request_timeout"


def _length(reply: bytes) -> int:
    head = reply.partition(b"\r\n\r\n")[0].decode(errors="replace").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0
