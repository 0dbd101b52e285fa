"""Control API, YAML config, CLI entry point and the pure text generator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import httpx2 as httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway.simulator import ModelKnobs, SimSettings, create_app
from gateway.simulator.knobs import KnobError
from gateway.simulator.text import Ask, generate, value_for_schema, rng_for

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hello there"}]}
AUTH = {"authorization": "Bearer k"}


def test_put_get_delete_and_wildcard(sim: SimServer) -> None:
    knobs = sim.knobs("m1", output_tokens=5, outages=[[1, 2]])
    assert knobs["output_tokens"] == 5 and knobs["outages"] == [[1.0, 2.0]]
    assert sim.knobs("m1", latency_ms=0)["output_tokens"] == 5  # merged, not replaced
    reply = sim.http.post("/v1/chat/completions", json=CHAT, headers=AUTH).json()
    assert reply["usage"]["completion_tokens"] == 5
    assert sim.http.get("/_sim/models/m1").json()["knobs"]["output_tokens"] == 5
    assert sim.http.delete("/_sim/models/m1").json()["knobs"]["output_tokens"] == 16
    sim.knobs("*", output_tokens=3)
    assert sim.http.post("/v1/chat/completions", json=CHAT, headers=AUTH).json()["usage"]["completion_tokens"] == 3
    bad = sim.http.put("/_sim/models/m1", json={"nope": 1})
    assert bad.status_code == 400 and "unknown knob" in bad.json()["error"]
    assert sim.http.put("/_sim/models/m1", json={"error_rate": 2}).status_code == 400
    assert sim.stats()["calls"] == {"m1": 2}
    sim.reset()
    assert sim.stats()["calls"] == {} and sim.http.get("/_sim/models/m1").json()["knobs"]["output_tokens"] == 16


def test_requests_lists_the_bodies_the_providers_received(sim: SimServer) -> None:
    sim.reset()
    assert sim.http.get("/_sim/requests").json() == {"requests": []}
    sim.http.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    second = {**CHAT, "messages": [{"role": "user", "content": "second"}]}
    sim.http.post("/v1/chat/completions?x=1", json=second, headers=AUTH)
    sim.http.post("/v1/chat/completions", content=b"not json", headers=AUTH)
    kept = sim.http.get("/_sim/requests").json()["requests"]
    assert [r["body"] for r in kept] == [CHAT, second, "not json"]  # oldest first, as they arrived
    assert kept[1]["path"] == "/v1/chat/completions" and kept[1]["query"] == "x=1"
    assert sim.http.get("/_sim/requests?last=1").json()["requests"] == kept[-1:]
    assert sim.http.get("/_sim/requests?last=x").status_code == 400
    sim.reset()  # forgets them, and the control call itself was never kept
    assert sim.http.get("/_sim/requests").json() == {"requests": []}


def test_control_api_refuses_non_loopback() -> None:
    app = create_app(SimSettings())
    client = TestClient(app, client=("10.1.2.3", 5555))
    assert client.get("/_sim/stats").status_code == 403
    assert client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200


def test_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("seed: 3\ndefaults: {output_tokens: 4}\nmodels:\n  slow: {latency_ms: 5, output_tokens: 2}\n")
    settings = SimSettings.from_yaml(path)
    assert settings.seed == 3 and SimSettings.from_yaml(path, seed=9).seed == 9
    client = TestClient(create_app(settings))
    assert client.post("/v1/chat/completions", json=CHAT, headers=AUTH).json()["usage"]["completion_tokens"] == 4
    slow = {**CHAT, "model": "slow"}
    assert client.post("/v1/chat/completions", json=slow, headers=AUTH).json()["usage"]["completion_tokens"] == 2
    path.write_text("models:\n  x: {error_rate: lots}\n")
    with pytest.raises(KnobError, match=r"sim.yaml: models.x: error_rate"):
        SimSettings.from_yaml(path)


def test_seed_changes_text_but_not_shape() -> None:
    a = TestClient(create_app(SimSettings(seed=1))).post("/v1/chat/completions", json=CHAT, headers=AUTH).json()
    b = TestClient(create_app(SimSettings(seed=2))).post("/v1/chat/completions", json=CHAT, headers=AUTH).json()
    assert a["choices"][0]["message"]["content"] != b["choices"][0]["message"]["content"]
    assert a["usage"] == b["usage"]


def test_bad_json_is_a_provider_shaped_400() -> None:
    client = TestClient(create_app())
    resp = client.post("/v1/chat/completions", content=b"{nope", headers={**AUTH, "content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    resp = client.post("/v1/messages", content=b"[", headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert resp.status_code == 400 and resp.json()["type"] == "error"
    resp = client.post("/v1beta/models/g:generateContent", content=b"[", headers={"x-goog-api-key": "k"})
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_cli_serves_with_config(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("models:\n  tiny: {output_tokens: 2}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.simulator", "--port", str(port), "--seed", "5", "--config", str(cfg)],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/_sim/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "simulator CLI did not start"
                time.sleep(0.05)
        body = {**CHAT, "model": "tiny"}
        assert httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH).json()["usage"]["completion_tokens"] == 2
        assert httpx.get(url + "/_sim/stats").json()["seed"] == 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_rejects_bad_config(tmp_path: Path) -> None:
    from gateway.simulator.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("models:\n  x: {warp: 9}\n")
    assert main(["--config", str(cfg)]) == 2


def test_knob_defaults() -> None:
    knobs = ModelKnobs()
    assert knobs.output_tokens == 16 and knobs.fail_status is None and knobs.outages == ()


SCHEMAS = st.recursive(
    st.sampled_from(
        [{"type": "string"}, {"type": "integer", "minimum": 2, "maximum": 9}, {"type": "number"}, {"type": "boolean"}, {"type": "string", "enum": ["a", "b"]}]
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"type": "array", "items": items}, inner),
        st.dictionaries(st.text("abcdef", min_size=1, max_size=4), inner, max_size=4).map(
            lambda props: {"type": "object", "properties": props, "required": list(props)}
        ),
    ),
    max_leaves=8,
)


def _conforms(value: object, schema: dict) -> bool:
    kind = schema["type"]
    if "enum" in schema:
        return value in schema["enum"]
    if kind == "object":
        return isinstance(value, dict) and set(value) == set(schema["properties"]) and all(
            _conforms(value[k], s) for k, s in schema["properties"].items()
        )
    if kind == "array":
        return isinstance(value, list) and all(_conforms(v, schema["items"]) for v in value)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 9
    return isinstance(value, {"string": str, "number": float, "boolean": bool}[kind])


@settings(max_examples=60, deadline=None)
@given(SCHEMAS, st.integers(0, 1000))
def test_values_conform_to_schema(schema: dict, seed: int) -> None:
    value = value_for_schema(schema, rng_for(seed))
    assert _conforms(value, schema)
    json.dumps(value)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.integers(1, 40), st.integers(1, 40), st.integers(0, 5))
def test_generate_respects_limits_and_stops(prompt: str, target: int, limit: int, stop_at: int) -> None:
    full = generate(Ask(model="m", prompt=prompt), 0, 0, target, "call_")
    assert full.output_tokens == target == len(full.text.split())
    capped = generate(Ask(model="m", prompt=prompt, max_tokens=limit), 0, 0, target, "call_")
    assert capped.output_tokens == min(target, limit)
    assert capped.finish == ("length" if limit < target else "stop")
    words = full.text.split()
    stop = words[min(stop_at, len(words) - 1)]
    cut = generate(Ask(model="m", prompt=prompt, stop=(stop,)), 0, 0, target, "call_")
    assert cut.finish == "stop_sequence" and stop not in cut.text
    assert full.text.startswith(cut.text) and cut.output_tokens <= target


def test_paced_stream_matches_fast_stream(sim: SimServer) -> None:
    """The paced path (ttft + tokens_per_s) sends event by event; content must not change."""
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    fast = sim.http.post("/v1/chat/completions", json=body, headers=AUTH).text
    sim.knobs("m1", ttft_ms=5, tokens_per_s=4000, latency_ms=5)
    paced_chunks: list[bytes] = []
    with sim.http.stream("POST", "/v1/chat/completions", json=body, headers=AUTH) as resp:
        paced_chunks.extend(resp.iter_raw())
    paced = b"".join(paced_chunks).decode()

    def contents(raw: str) -> list[object]:
        rows = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
        return [(r["choices"], r.get("usage")) for r in rows]

    assert contents(paced) == contents(fast) and paced.endswith("data: [DONE]\n\n")
    assert sim.http.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200


def test_error_rate_uses_each_providers_statuses() -> None:
    client = TestClient(create_app(SimSettings(seed=11)))
    client.put("/_sim/models/*", json={"error_rate": 1.0})
    anth = {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    head = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    seen = {client.post("/v1/messages", json=anth, headers=head).status_code for _ in range(30)}
    assert seen == {500, 529}
    seen = {client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code for _ in range(30)}
    assert seen == {500, 503}
    gem = client.post("/v1beta/models/g:generateContent?key=k", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert gem.json()["error"]["status"] in ("INTERNAL", "UNAVAILABLE")


def test_gemini_stream_without_sse_is_a_json_array() -> None:
    client = TestClient(create_app())
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    arr = client.post("/v1beta/models/g:streamGenerateContent?key=k", json=body).json()
    full = client.post("/v1beta/models/g:generateContent?key=k", json=body).json()
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in arr)
    assert text == full["candidates"][0]["content"]["parts"][0]["text"]
    assert arr[-1]["usageMetadata"] == full["usageMetadata"]


def test_simulator_imports_nothing_from_the_gateway() -> None:
    """It is the independent second implementation: no gateway translator may leak in. The one
    exception is the HTTP server protocol (gateway/edge/coalescing.py: how bytes reach the socket, no
    wire format), so the bench's upstream does not spend half its CPU on split writes."""
    import ast

    root = Path(__file__).resolve().parents[2] / "gateway" / "simulator"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module == "gateway.edge.coalescing":
                    continue
                assert node.level <= 1, f"{path.name} imports from outside the simulator package"
                names = [node.module or ""] if node.level == 0 else []
            for name in names:
                assert name != "gateway" and not (name.startswith("gateway.") and not name.startswith("gateway.simulator")), (
                    f"{path.name} imports {name}"
                )
