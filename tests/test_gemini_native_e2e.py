"""Native Gemini answers end to end: the official `google-genai` SDK → the gateway → the simulator's
Gemini and Vertex Gemini, over real HTTP. What only Gemini answers carry (grounding, safety
ratings, citations, thought parts and signatures, the whole usageMetadata) reaches the SDK's typed
response, streamed or not; a chain that falls from Gemini to Claude still answers in Gemini's
shape; a `cachedContent` is served only by Gemini, and a cache the project lacks is the
client's 403, not a broken deployment."""

from __future__ import annotations

import json
from typing import Iterator

import openai
import pytest
from google import genai
from google.genai import errors, types

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_reset, sim_set, start_gateway
from tests.test_gateway_e2e import raw
from tests.test_gemini_e2e import cost, headers_of, make_client

ASK = "Who won the latest regatta on the lake?"


def config(sim: Proc) -> str:
    base = sim.url
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: gnat, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  gemini: {{format: gemini, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  vertex: {{format: vertex_gemini, project: proj-1, location: global, base_url: "{base}",
           api_key_env: SIMULATOR_API_KEY}}
  anthropic: {{format: anthropic, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
models:
  gemini-2.5-flash: {{provider: gemini, price: {{input: 0.3, output: 2.5, cached_input: 0.075}}}}
  gemini-vertex: {{provider: vertex, upstream: gemini-2.5-flash, price: {{input: 0.3, output: 2.5, cached_input: 0.075}}}}
  gemini-latest: {{provider: gemini, upstream: gemini-flash-latest, price: {{input: 0.3, output: 2.5}}}}
  vertex-latest: {{provider: vertex, upstream: gemini-flash-latest, price: {{input: 0.3, output: 2.5}}}}
  claude-opus-4.7: {{provider: anthropic, price: {{input: 15, output: 75, cached_input: 1.5}}}}
routes:
  auto: {{primary: gemini-2.5-flash, fallbacks: [claude-opus-4.7]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim), redis_url) as proc:
        yield proc


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> genai.Client:
    sim_reset(sim)
    return make_client(gateway)


GROUNDED = types.GenerateContentConfig(
    max_output_tokens=300, tools=[types.Tool(google_search=types.GoogleSearch())],
    thinking_config=types.ThinkingConfig(include_thoughts=True),
    safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                                         threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-vertex"])
def test_gemini_only_answer_fields_reach_the_sdk(client: genai.Client, sim: Proc, model: str) -> None:
    sim_set(sim, "gemini-2.5-flash", citations=True, reasoning_tokens=9)
    response = client.models.generate_content(model=model, contents=ASK, config=GROUNDED)
    cand = response.candidates[0]
    assert cand.grounding_metadata.grounding_chunks[0].web.uri == "https://example.com/a"
    assert response.text.startswith(cand.grounding_metadata.grounding_supports[0].segment.text)
    assert cand.safety_ratings and response.prompt_feedback.safety_ratings
    assert cand.citation_metadata.citations[0].uri == "https://example.com/source"
    parts = cand.content.parts
    assert parts[0].thought is True and parts[1].thought_signature  # a signature on text: canonical drops it
    usage = response.usage_metadata
    assert usage.thoughts_token_count == 9 and usage.prompt_tokens_details[0].modality == types.MediaModality.TEXT
    headers = headers_of(response)
    assert headers["x-gateway-model"] == model
    # the spend is read from the same answer (both models have flash's prices), plus the grounded
    # prompt: Gemini 2.x's default $35 per 1,000, once whatever its queries
    assert cand.grounding_metadata.web_search_queries
    assert float(headers["x-gateway-cost-usd"]) == pytest.approx(cost("gemini-2.5-flash", usage) + 0.035, abs=1e-9)

    chunks = list(client.models.generate_content_stream(model=model, contents=ASK, config=GROUNDED))
    assert chunks[0].candidates[0].content.parts[0].thought is True
    last = chunks[-1]
    assert last.candidates[0].grounding_metadata.web_search_queries and last.candidates[0].safety_ratings
    assert last.candidates[0].citation_metadata and last.usage_metadata.thoughts_token_count == 9
    assert "".join(c.text or "" for c in chunks) == response.text


@pytest.mark.parametrize("model", ["gemini-latest", "vertex-latest"])
def test_model_version_is_the_deployments_upstream_model(client: genai.Client, gateway: Proc, sim: Proc,
                                                         model: str) -> None:
    """One rule for every answer: the deployment's upstream model, as the translated answers name
    it, though Gemini (here the simulator) names the version an alias stands for."""
    at_google = genai.Client(api_key="sim-key", http_options=types.HttpOptions(
        base_url=sim.url, retry_options=types.HttpRetryOptions(attempts=1)))
    assert at_google.models.generate_content(model="gemini-flash-latest", contents=ASK).model_version \
        == "gemini-flash-preview-09-2025"
    assert client.models.generate_content(model=model, contents=ASK).model_version == "gemini-flash-latest"
    chunks = list(client.models.generate_content_stream(model=model, contents=ASK))
    assert len(chunks) > 1 and {c.model_version for c in chunks} == {"gemini-flash-latest"}
    body = json.dumps({"contents": [{"parts": [{"text": ASK}]}]}).encode()
    status, _, data = raw(f"{gateway.url}/v1beta/models/{model}:streamGenerateContent", body,
                          {"content-type": "application/json", "x-goog-api-key": DEMO_KEY})
    assert status == 200 and {e["modelVersion"] for e in json.loads(data)} == {"gemini-flash-latest"}
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as chat:
        translated = chat.chat.completions.create(model=model, messages=[{"role": "user", "content": ASK}])
    assert translated.model == "gemini-flash-latest"


def test_the_json_array_stream_is_geminis_too(gateway: Proc, sim: Proc) -> None:
    sim_reset(sim)
    body = json.dumps({"contents": [{"parts": [{"text": ASK}]}], "tools": [{"googleSearch": {}}]}).encode()
    status, headers, data = raw(f"{gateway.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                                body, {"content-type": "application/json", "x-goog-api-key": DEMO_KEY})
    elements = json.loads(data)
    assert status == 200 and headers["content-type"].startswith("application/json") and len(elements) > 1
    assert elements[-1]["candidates"][0]["groundingMetadata"]["groundingChunks"]
    assert elements[-1]["usageMetadata"]["promptTokensDetails"]


def test_a_fallback_from_gemini_answers_in_geminis_shape(client: genai.Client, sim: Proc) -> None:
    sim_set(sim, "gemini-2.5-flash", fail_status=503)
    response = client.models.generate_content(model="auto", contents=ASK, config=GROUNDED)
    assert headers_of(response)["x-gateway-provider"] == "anthropic" and response.text
    assert response.candidates[0].grounding_metadata is None  # Claude has none to give
    assert response.usage_metadata.candidates_token_count > 0
    chunks = list(client.models.generate_content_stream(model="auto", contents=ASK, config=GROUNDED))
    assert headers_of(chunks[0])["x-gateway-provider"] == "anthropic"
    assert "".join(c.text or "" for c in chunks) and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_cached_content_is_served_by_gemini_alone(client: genai.Client, sim: Proc) -> None:
    at_google = genai.Client(api_key="sim-key", http_options=types.HttpOptions(
        base_url=sim.url, retry_options=types.HttpRetryOptions(attempts=1)))  # the operator's own project
    cache = at_google.caches.create(model="gemini-2.5-flash", config=types.CreateCachedContentConfig(
        contents=[types.Content(role="user", parts=[types.Part(text="The regatta results, in full. " * 60)])]))
    cached = cache.usage_metadata.total_token_count
    use = types.GenerateContentConfig(cached_content=cache.name, max_output_tokens=100)
    response = client.models.generate_content(model="auto", contents=ASK, config=use)
    usage = response.usage_metadata
    assert headers_of(response)["x-gateway-provider"] == "gemini" and usage.cached_content_token_count == cached
    assert float(headers_of(response)["x-gateway-cost-usd"]) == pytest.approx(cost("gemini-2.5-flash", usage),
                                                                             abs=1e-9)
    with pytest.raises(errors.ClientError) as claude:
        client.models.generate_content(model="claude-opus-4.7", contents=ASK, config=use)
    assert claude.value.code == 400 and "cachedContent" in claude.value.message
    with pytest.raises(errors.ClientError) as unknown:  # not this project's: the client's error...
        client.models.generate_content(model="gemini-2.5-flash", contents=ASK,
                                       config=types.GenerateContentConfig(cached_content="cachedContents/other"))
    assert unknown.value.code == 403 and unknown.value.status == "PERMISSION_DENIED"
    assert client.models.generate_content(model="gemini-2.5-flash", contents=ASK).text  # ...not a disabled deployment
    sim_set(sim, "gemini-2.5-flash", fail_status=503)
    with pytest.raises(errors.ServerError):  # Gemini down: no fallback to Claude without the cache
        client.models.generate_content(model="auto", contents=ASK, config=use)
    assert sim_calls(sim).get("claude-opus-4.7", 0) == 0


def test_a_file_the_project_lacks_is_the_clients_403_not_a_broken_deployment(gateway: Proc, sim: Proc,
                                                                            redis_url: str,
                                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """A gateway whose breaker opens on the first failure: one client's unknown Files API URI
    (Google's 403) leaves Gemini serving everyone, and does not fall back to Claude."""
    text = config(sim).replace("failures: 1000", "failures: 1").replace("prefix: gnat", "prefix: gfile")
    with start_gateway(tmp_path_factory.mktemp("gwfile"), text, redis_url) as strict:
        sim_reset(sim)
        client = make_client(strict)
        file = types.Part.from_uri(file_uri="https://generativelanguage.googleapis.com/v1beta/files/nope",
                                   mime_type="application/pdf")
        for _ in range(2):
            with pytest.raises(errors.ClientError) as unknown:
                client.models.generate_content(model="auto", contents=[file, "Summarize this."])
            assert unknown.value.code == 403 and unknown.value.status == "PERMISSION_DENIED"
            assert "nope" in unknown.value.message
        assert sim_calls(sim).get("claude-opus-4.7", 0) == 0
        response = client.models.generate_content(model="auto", contents=ASK)
        assert headers_of(response)["x-gateway-provider"] == "gemini" and response.text
        with pytest.raises(errors.ClientError) as vertex:  # Vertex cannot read the Gemini API's files
            client.models.generate_content(model="gemini-vertex", contents=[file, "Summarize this."])
        assert vertex.value.code == 400 and "fileData" in vertex.value.message


def test_count_tokens_refuses_a_cache_it_cannot_count(gateway: Proc) -> None:
    body = json.dumps({"generateContentRequest": {"contents": [{"parts": [{"text": ASK}]}],
                                                  "cachedContent": "cachedContents/c1"}}).encode()
    status, _, data = raw(f"{gateway.url}/v1beta/models/gemini-2.5-flash:countTokens", body,
                          {"content-type": "application/json", "x-goog-api-key": DEMO_KEY})
    error = json.loads(data)["error"]
    assert status == 400 and error["status"] == "INVALID_ARGUMENT" and "cachedContent" in error["message"]
