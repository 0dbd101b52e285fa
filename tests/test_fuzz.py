"""Hostile and random input against the running gateway: every answer is a 4xx in the OpenAI
format or a valid completion; never a 500, never a hang, never a leaked reservation."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.procs import DEMO_KEY, Proc, config_yaml, sim_and_gateway, wait_for

HEADERS = {"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"}
SETTINGS = dict(deadline=None, max_examples=120, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    def text(sim_port: int) -> str:
        return config_yaml(sim_port, "fuzz", server="request_timeout_s: 20\n  max_body_bytes: 2000000")

    with sim_and_gateway(tmp_path_factory.mktemp("fuzz"), text, redis_url) as (gw, sim):
        gw.sim = sim  # type: ignore[attr-defined]
        yield gw


def post(gw: Proc, body: bytes, path: str = "/v1/chat/completions") -> tuple[int, bytes, str]:
    req = urllib.request.Request(f"{gw.url}{path}", data=body, headers=HEADERS, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("content-type", "")


def check(status: int, data: bytes, ctype: str) -> None:
    assert status != 500 and status < 502, (status, data[:300])
    if status >= 400:
        error = json.loads(data)["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    elif ctype.startswith("text/event-stream"):
        assert data.rstrip().endswith(b"data: [DONE]")
    else:
        body = json.loads(data)
        assert body.get("object") in ("chat.completion", "list") and (body.get("choices") or body.get("data"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30)
contents = st.one_of(st.text(max_size=200), st.none(), st.integers(), json_values,
                     st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "x", ""]),
                                                     "text": st.text(max_size=50)}), max_size=3))
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "wizard", "", "USER"]), "content": contents},
    optional={"tool_calls": json_values, "name": json_values}), max_size=6)
bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "frontier", "gpt-5.4-mini", "nope", "", 7, None]), "messages": messages},
    optional={"stream": st.sampled_from([True, False, "yes", 1, None]),
              "max_tokens": st.one_of(st.integers(-5, 2**64), st.floats(allow_nan=False), st.text(max_size=3)),
              "n": st.integers(-1, 200), "temperature": st.one_of(st.floats(-10, 10), st.text(max_size=2)),
              "top_p": st.floats(allow_nan=False), "stream_options": json_values, "tools": json_values,
              "user": json_values, "extra_field": json_values})


@settings(**SETTINGS)
@given(body=bodies)
def test_structured_random_bodies(gateway: Proc, body: dict) -> None:
    check(*post(gateway, json.dumps(body).encode()))


@settings(**SETTINGS)
@given(value=json_values)
def test_any_json_value(gateway: Proc, value: object) -> None:
    check(*post(gateway, json.dumps(value).encode()))
    check(*post(gateway, json.dumps(value).encode(), "/v1/embeddings"))


@settings(**SETTINGS)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_and_invalid_utf8(gateway: Proc, raw: bytes) -> None:
    check(*post(gateway, raw))


@pytest.mark.parametrize("raw", [
    b"[" * 10_000 + b"]" * 10_000,                                        # deep nesting
    b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',  # invalid UTF-8
    json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}] * 10_000}).encode(),
    json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**30}).encode(),
    json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x" * 1_500_000}]}).encode(),
    b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "n": 1e400}',
    b'{"model": "auto", "messages": [{"role": ["user"], "content": "hi"}]}',  # unhashable role (schemathesis)
    b"",
])
def test_edge_cases(gateway: Proc, raw: bytes) -> None:
    check(*post(gateway, raw))


def test_no_reservation_is_left_behind(gateway: Proc, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)

    def reserved() -> int:
        return sum(int(client.hget(k, "reserved:total") or 0) for k in client.keys("{fuzz}:spend:*"))

    post(gateway, json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}).encode())
    wait_for(lambda: reserved() == 0 and client.hlen("{fuzz}:res") == 0)
    client.close()
