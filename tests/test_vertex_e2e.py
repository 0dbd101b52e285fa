"""Vertex AI end to end: the openai SDK → the gateway → the simulator's Vertex paths, Claude on
Vertex signed in with a static access token, Gemini on Vertex with a service-account key whose
tokens the gateway gets from the simulator's token endpoint (RS256 checked there) and renews, and
Gemini again with the tokens of the simulator's metadata server (GKE workload identity)."""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import anthropic
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_reset, sim_set, start_gateway, wait_for

STATIC_TOKEN = "ya29.static-e2e-token"
EMAIL = "gateway-e2e@proj-1.iam.gserviceaccount.com"
TOKEN_TTL_S = 6  # short, so the renewal is seen within the module
MODELS = {"claude-vertex": ("vertex-claude", "claude-sonnet-4-5@20250929", (3_000_000, 15_000_000)),
          "gemini-vertex": ("vertex-gemini", "gemini-2.5-flash", (300_000, 2_500_000))}
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about rivers."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _sim_vertex(sim: Proc, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    req = urllib.request.Request(f"{sim.url}/_sim/vertex", data=json.dumps(doc).encode() if doc is not None else None,
                                 method="PUT" if doc is not None else "GET", headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def _key_file(tmp: Path, sim: Proc) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = tmp / "service-account.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
                                "private_key": private, "client_email": EMAIL, "token_uri": f"{sim.url}/token"}))
    return path, public


def config(sim: Proc, key_file: Path) -> str:
    models = "\n".join(f"  {name}: {{provider: {p}, upstream: \"{up}\", price: {{input: {i / 1e6}, output: {o / 1e6}}}}}"
                       for name, (p, up, (i, o)) in MODELS.items())
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: vtx, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  vertex-claude: {{format: vertex_anthropic, project: proj-1, location: us-east5, base_url: "{sim.url}",
                  api_key_env: VERTEX_ACCESS_TOKEN}}
  vertex-gemini: {{format: vertex_gemini, project: proj-1, location: global, base_url: "{sim.url}",
                  credentials_file: "{key_file}"}}
  vertex-pod: {{format: vertex_gemini, project: proj-1, location: us-central1, base_url: "{sim.url}",
               metadata_server: true}}
models:
{models}
  gemini-pod: {{provider: vertex-pod, upstream: gemini-2.5-flash, price: {{input: 0.3, output: 2.5}}}}
  embed-vertex: {{provider: vertex-gemini, upstream: text-embedding-005, kind: embedding, price: {{input: 0.025}}}}
routes:
  auto: {{primary: gemini-vertex, fallbacks: [claude-vertex]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp = tmp_path_factory.mktemp("vertex")
    key_file, public = _key_file(tmp, sim)
    # strict from the start: only the static token and the tokens /token issues open the model paths
    _sim_vertex(sim, {"tokens": [STATIC_TOKEN], "service_accounts": {EMAIL: public}, "token_ttl_s": TOKEN_TTL_S})
    env = {"VERTEX_ACCESS_TOKEN": STATIC_TOKEN, "GCE_METADATA_HOST": sim.url.removeprefix("http://")}
    with start_gateway(tmp, config(sim, key_file), redis_url, env=env) as proc:
        yield proc


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> Iterator[openai.OpenAI]:
    sim_reset(sim)  # knobs and counters; the registered tokens stay
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def expected_cost(model: str, usage: Any) -> float:
    pin, pout = MODELS[model][2]
    return math.ceil((usage.prompt_tokens * pin + usage.completion_tokens * pout) / 1_000_000) / 1_000_000


@pytest.mark.parametrize("model", MODELS)
def test_chat_stream_and_cost_in_the_log(client: openai.OpenAI, gateway: Proc, sim: Proc, model: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    plain = raw.parse()
    assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.content
    assert raw.headers["x-gateway-provider"] == MODELS[model][0]
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected_cost(model, plain.usage), abs=1e-9)
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    fmt = "vertex_anthropic" if model == "claude-vertex" else "vertex_gemini"
    assert json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["by_format"] == {fmt: 2}
    rid = raw.headers["x-request-id"]

    def line() -> dict | None:
        return next((json.loads(t) for t in gateway.log_lines() if rid in t and '"request"' in t), None)

    wait_for(lambda: line() is not None)
    record = line()
    assert record["provider"] == MODELS[model][0] and record["cost_usd"] == float(raw.headers["x-gateway-cost-usd"]) > 0


@pytest.mark.parametrize("model", MODELS)
def test_tool_call(client: openai.OpenAI, model: str) -> None:
    ask = [{"role": "user", "content": "Weather in Lisbon? Use get_weather."}]
    out = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice="required")
    call = out.choices[0].message.tool_calls[0]
    assert out.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    follow = client.chat.completions.create(model=model, tools=TOOLS, messages=[
        *ask, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}])
    assert follow.choices[0].message.content


@pytest.mark.parametrize("model", MODELS)
def test_upstream_errors_in_the_openai_shape(client: openai.OpenAI, sim: Proc, model: str) -> None:
    sim_set(sim, MODELS[model][1], fail_status=429, retry_after_s=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert set(info.value.body) >= {"message", "type", "code"} and info.value.body["type"] == "rate_limit_error"
    sim_set(sim, MODELS[model][1], fail_status=400)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert info.value.body["type"] == "invalid_request_error"


def test_embeddings(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model="embed-vertex", input=["the sea", "a river"], dimensions=8)
    out = raw.parse()
    assert [len(d.embedding) for d in out.data] == [8, 8] and out.data[0].embedding != out.data[1].embedding
    assert out.usage.prompt_tokens == 4  # Vertex's token counts (2 + 2), not the gateway's estimate
    assert raw.headers["x-gateway-provider"] == "vertex-gemini"
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(math.ceil(4 * 25_000 / 1e6) / 1e6, abs=1e-9)


def test_anthropic_messages_clients_reach_claude_on_vertex(gateway: Proc, sim: Proc) -> None:
    """/v1/messages (the anthropic SDK, Claude Code) to a vertex_anthropic model: Claude on Vertex
    speaks Messages, so the client's own fields (thinking here) reach it as they came."""
    sim_reset(sim)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0)
    msg = client.messages.create(model="claude-vertex", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    assert msg.content[0].text and msg.stop_reason == "end_turn" and msg.usage.output_tokens > 0
    with client.messages.stream(model="claude-vertex", max_tokens=64,
                                messages=[{"role": "user", "content": "Hi"}]) as stream:
        assert "".join(stream.text_stream) == msg.content[0].text
    thought = client.messages.create(model="claude-vertex", max_tokens=2048,
                                     thinking={"type": "enabled", "budget_tokens": 1024},
                                     messages=[{"role": "user", "content": "Is 91 prime?"}])
    first = thought.content[0]
    assert first.type == "thinking" and first.thinking and first.signature
    assert thought.content[-1].type == "text" and thought.content[-1].text
    assert json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["by_format"] == {"vertex_anthropic": 3}


def test_service_account_tokens_are_renewed_and_never_logged(client: openai.OpenAI, gateway: Proc, sim: Proc) -> None:
    first = _sim_vertex(sim)["grants"]
    assert first >= 1  # the worker's token at start
    wait_for(lambda: _sim_vertex(sim)["grants"] > first, timeout=TOKEN_TTL_S * 3)  # renewed before it expired
    assert client.chat.completions.create(model="gemini-vertex", messages=MESSAGES).choices[0].message.content
    assert _sim_vertex(sim)["refused_grants"] == 0
    log = "\n".join(gateway.log_lines())
    assert "vertex_token_renewed" in log
    assert "ya29." not in log and "PRIVATE KEY" not in log


def test_a_pod_signs_in_with_the_metadata_server(client: openai.OpenAI, gateway: Proc, sim: Proc) -> None:
    """`metadata_server: true`: the workers take the pod's service-account tokens from the metadata
    server (GCE_METADATA_HOST here), renew them, and never log them."""
    first = _sim_vertex(sim)["metadata_grants"]
    assert first >= 1  # each worker's token at start
    wait_for(lambda: _sim_vertex(sim)["metadata_grants"] > first, timeout=TOKEN_TTL_S * 3)  # renewed
    raw = client.chat.completions.with_raw_response.create(model="gemini-pod", messages=MESSAGES)
    assert raw.parse().choices[0].message.content and raw.headers["x-gateway-provider"] == "vertex-pod"
    lines = gateway.log_lines()
    assert any("vertex_token_renewed" in line and "vertex-pod" in line for line in lines)
    assert not any("ya29." in line for line in lines)


def test_a_refused_token_is_a_502_in_the_openai_shape(client: openai.OpenAI, sim: Proc) -> None:
    """Last (the provider stays refused): the static token is withdrawn; Vertex answers 401 in Google's shape, also for Claude."""
    accounts = _sim_vertex(sim)
    _sim_vertex(sim, {"tokens": ["someone-else"], "service_accounts": {}, "token_ttl_s": TOKEN_TTL_S})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude-vertex", messages=MESSAGES)
    assert info.value.status_code == 502 and info.value.body["code"] == "provider_auth_failed"
    assert "vertex-claude" in info.value.body["message"]
    assert accounts["service_accounts"] == [EMAIL]
