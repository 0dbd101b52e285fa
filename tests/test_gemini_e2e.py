"""The Gemini API end to end: the official `google-genai` SDK → the gateway → the simulator speaking
each provider's own format (OpenAI, Azure OpenAI, Anthropic, Gemini), over real HTTP."""

from __future__ import annotations

import hashlib
import json
import math
import urllib.request
from typing import Iterator

import pytest
from google import genai
from google.genai import errors, types

from gateway.auth import INVALID_KEY
from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, DEMO_KEY, Proc, sim_reset, sim_set, start_gateway, wait_for
from tests.test_gateway_e2e import raw
from tests.test_providers_e2e import PRICES, PROVIDERS
from tests.test_providers_e2e import config as providers_config

TIGHT_KEY, BROKE_KEY = "sk-gateway-tight", "sk-gateway-broke"
ASK = "Tell me something nice about the sea."
SYSTEM = "You are terse."
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Current weather for a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]))


def config(sim_port: int) -> str:
    """The provider tests' config (a deployment per wire format), with a key allowed one request a
    minute and a key with almost no budget."""
    tight = hashlib.sha256(TIGHT_KEY.encode()).hexdigest()
    broke = hashlib.sha256(BROKE_KEY.encode()).hexdigest()
    return (providers_config(sim_port).replace("prefix: prov", "prefix: gmn")
            + f"  - {{name: tight, sha256: {tight}, rpm: 1}}\n"
            + f"  - {{name: broke, sha256: {broke}, daily_budget_usd: 0.001}}\n"
            + f"admin_key_sha256: {ADMIN_KEY_SHA}\n")


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port), redis_url) as proc:
        yield proc


def make_client(gateway: Proc, key: str = DEMO_KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1)))


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> genai.Client:
    sim_reset(sim)
    return make_client(gateway)


def headers_of(response: types.GenerateContentResponse) -> dict[str, str]:
    assert response.sdk_http_response is not None and response.sdk_http_response.headers is not None
    return {k.lower(): v for k, v in response.sdk_http_response.headers.items()}


def cost(model: str, usage: types.GenerateContentResponseUsageMetadata) -> float:
    pin, pout, pcached = PRICES[model]
    cached = usage.cached_content_token_count or 0
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    scaled = (usage.prompt_token_count - cached) * pin + cached * pcached + output * pout
    return math.ceil(scaled / 1_000_000) / 1e6


@pytest.mark.parametrize("model", PROVIDERS)
def test_generate_content_carries_usage_cost_and_headers(client: genai.Client, model: str) -> None:
    response = client.models.generate_content(
        model=model, contents=ASK, config=types.GenerateContentConfig(system_instruction=SYSTEM, max_output_tokens=200))
    assert response.text and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.candidates[0].content.role == "model"
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + (
        usage.thoughts_token_count or 0)
    assert response.model_version and response.response_id
    headers = headers_of(response)
    assert headers["x-gateway-provider"] == PROVIDERS[model][0] and headers["x-gateway-model"] == model
    assert float(headers["x-gateway-cost-usd"]) == pytest.approx(cost(model, usage), abs=1e-9)


@pytest.mark.parametrize("model", PROVIDERS)
def test_gemini_only_settings_go_to_gemini_and_are_dropped_elsewhere(client: genai.Client, model: str) -> None:
    """Safety settings, a server tool and topK: sent as they came to the Gemini deployment (its
    adapter speaks the client's API), dropped for the others; every one answers."""
    cfg = types.GenerateContentConfig(
        top_k=20, max_output_tokens=200, tools=[types.Tool(google_search=types.GoogleSearch())],
        safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                                             threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])
    response = client.models.generate_content(model=model, contents=ASK, config=cfg)
    assert response.text and headers_of(response)["x-gateway-provider"] == PROVIDERS[model][0]


def test_models_list_is_googles(gateway: Proc, client: genai.Client) -> None:
    models = {m.name.removeprefix("models/"): m for m in client.models.list()}
    assert "auto" in models and set(PROVIDERS) <= set(models)
    flash = models["gemini-2.5-flash"]
    assert "generateContent" in flash.supported_actions and flash.input_token_limit and flash.output_token_limit
    wrong = make_client(gateway, "sk-wrong")  # held: a genai.Client closes when collected
    with pytest.raises(errors.ClientError) as info:
        list(wrong.models.list())
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"


def test_auto_is_classified_and_routed(client: genai.Client) -> None:
    response = client.models.generate_content(model="auto", contents=ASK)
    headers = headers_of(response)
    assert response.text and headers["x-gateway-route"] == "auto" and headers["x-gateway-model"] == "gpt-5.4-mini"
    assert headers["x-gateway-task"] == "simple_chat"


@pytest.mark.parametrize("model", PROVIDERS)
def test_stream_reassembles_to_the_plain_answer(client: genai.Client, model: str) -> None:
    cfg = types.GenerateContentConfig(system_instruction=SYSTEM, max_output_tokens=200)
    plain = client.models.generate_content(model=model, contents=ASK, config=cfg)
    chunks = list(client.models.generate_content_stream(model=model, contents=ASK, config=cfg))
    assert len(chunks) > 1
    assert "".join(c.text or "" for c in chunks) == plain.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == plain.usage_metadata.candidates_token_count
    assert chunks[-1].usage_metadata.prompt_token_count == plain.usage_metadata.prompt_token_count
    assert len({c.response_id for c in chunks}) == 1


@pytest.mark.parametrize("model", PROVIDERS)
def test_function_calling_round_trip(client: genai.Client, model: str) -> None:
    cfg = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])], max_output_tokens=200)
    ask = types.Content(role="user", parts=[types.Part(text="What is the weather in Paris? Use get_weather.")])
    first = client.models.generate_content(model=model, contents=[ask], config=cfg)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    assert "city" in first.function_calls[0].args
    streamed = [c for c in client.models.generate_content_stream(model=model, contents=[ask], config=cfg)]
    calls = [fc for c in streamed for fc in (c.function_calls or ())]
    assert [c.args for c in calls] == [first.function_calls[0].args]
    answer = types.Part.from_function_response(name="get_weather", response={"result": "18 degrees and sunny"})
    second = client.models.generate_content(
        model=model, contents=[ask, first.candidates[0].content, types.Content(role="user", parts=[answer])],
        config=cfg)
    assert second.text and not second.function_calls


def test_forced_function_call(client: genai.Client) -> None:
    cfg = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"])))
    response = client.models.generate_content(model="gemini-2.5-flash", contents="Hello there", config=cfg)
    assert response.function_calls and response.function_calls[0].name == "get_weather"


@pytest.mark.parametrize("model", ["gpt-5.4-mini", "claude-opus-4.7", "gemini-2.5-flash"])
def test_json_mode_with_a_schema(client: genai.Client, model: str) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    response = client.models.generate_content(
        model=model, contents="Make up a person.",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema))
    doc = json.loads(response.text)
    assert isinstance(doc["name"], str) and isinstance(doc["age"], int)


@pytest.mark.parametrize("model", PROVIDERS)
def test_count_tokens_bounds_what_the_provider_bills(client: genai.Client, model: str) -> None:
    counted = client.models.count_tokens(model=model, contents=ASK).total_tokens
    billed = client.models.generate_content(model=model, contents=ASK).usage_metadata.prompt_token_count
    assert billed <= counted < 4 * billed + 50


def test_embed_content(client: genai.Client) -> None:
    one = client.models.embed_content(model="gemini-embedding-001", contents="The sea is calm.")
    assert len(one.embeddings) == 1 and len(one.embeddings[0].values) > 10
    both = client.models.embed_content(model="auto", contents=["The sea is calm.", "Redis is fast."],
                                       config=types.EmbedContentConfig(output_dimensionality=64))
    assert [len(e.values) for e in both.embeddings] == [64, 64]
    assert both.embeddings[0].values != both.embeddings[1].values


def test_errors_are_api_errors_with_googles_codes(gateway: Proc, client: genai.Client) -> None:
    wrong, broke_client, tight = (make_client(gateway, k) for k in ("sk-wrong", BROKE_KEY, TIGHT_KEY))
    with pytest.raises(errors.ClientError) as bad_key:  # (a client must outlive its call: it closes when collected)
        wrong.models.generate_content(model="auto", contents=ASK)
    assert bad_key.value.code == 401 and bad_key.value.status == "UNAUTHENTICATED"
    assert bad_key.value.message == INVALID_KEY
    with pytest.raises(errors.ClientError) as unknown:
        client.models.generate_content(model="no-such-model", contents=ASK)
    assert unknown.value.code == 404 and unknown.value.status == "NOT_FOUND" and "no-such-model" in unknown.value.message
    with pytest.raises(errors.ClientError) as invalid:
        client.models.generate_content(model="auto", contents=ASK,
                                       config=types.GenerateContentConfig(temperature=7))
    assert invalid.value.code == 400 and invalid.value.status == "INVALID_ARGUMENT"
    assert "generationConfig.temperature" in invalid.value.message
    with pytest.raises(errors.ClientError) as broke:
        broke_client.models.generate_content(
            model="claude-opus-4.7", contents=ASK, config=types.GenerateContentConfig(max_output_tokens=20_000))
    assert broke.value.code == 429 and broke.value.status == "RESOURCE_EXHAUSTED"
    assert broke.value.details["error"]["details"][0]["reason"] == "budget_exceeded"
    tight.models.generate_content(model="auto", contents=ASK)
    with pytest.raises(errors.ClientError) as limited:
        tight.models.generate_content(model="auto", contents=ASK)
    assert limited.value.code == 429 and limited.value.response.headers["retry-after"]


def test_stream_failing_after_its_start_raises_mid_iteration(client: genai.Client, sim: Proc) -> None:
    sim_set(sim, "gpt-5.4-mini", stream_abort_after=3, output_tokens=40)
    seen = []
    with pytest.raises(errors.ServerError) as exc:
        for chunk in client.models.generate_content_stream(model="gpt-5.4-mini", contents=ASK):
            seen.append(chunk.text)
    assert seen and exc.value.code == 502 and exc.value.status == "UNAVAILABLE"


def test_key_in_the_query_and_the_json_array_stream(gateway: Proc, sim: Proc) -> None:
    sim_reset(sim)
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": ASK}]}]}).encode()
    status, headers, data = raw(f"{gateway.url}/v1beta/models/auto:generateContent?key={DEMO_KEY}", body,
                                {"content-type": "application/json"})
    assert status == 200 and json.loads(data)["candidates"][0]["content"]["parts"][0]["text"]
    status, headers, data = raw(f"{gateway.url}/v1/models/gpt-5.4-mini:streamGenerateContent?key={DEMO_KEY}",
                                body, {"content-type": "application/json"})
    elements = json.loads(data)
    assert status == 200 and isinstance(elements, list) and len(elements) > 1
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP" and elements[-1]["usageMetadata"]
    status, _, data = raw(f"{gateway.url}/v1beta/models/auto:generateContent?key=sk-nope", body,
                          {"content-type": "application/json"})
    assert status == 401 and json.loads(data)["error"]["status"] == "UNAUTHENTICATED"
    assert not any("sk-nope" in line or DEMO_KEY in line for line in gateway.log_lines())
    status, _, data = raw(f"{gateway.url}/v1beta/models/auto:predict", body, {"x-goog-api-key": DEMO_KEY})
    assert status == 404 and json.loads(data)["error"]["status"] == "NOT_FOUND"


def admin_spend(gateway: Proc) -> dict:
    request = urllib.request.Request(f"{gateway.url}/admin/spend?by=model",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"})
    return json.loads(urllib.request.urlopen(request).read())


def test_spend_is_recorded_nothing_reserved_and_the_log_names_the_api(client: genai.Client, gateway: Proc) -> None:
    before = admin_spend(gateway)
    response = client.models.generate_content(model="claude-opus-4.7", contents=ASK)
    chunks = list(client.models.generate_content_stream(model="claude-opus-4.7", contents=ASK))
    costs = [float(headers_of(response)["x-gateway-cost-usd"])]
    rid = headers_of(response)["x-request-id"]

    def line() -> dict | None:
        return next((json.loads(text) for text in gateway.log_lines() if rid in text and '"request"' in text), None)

    wait_for(lambda: line() is not None)
    record = line()
    assert record["api"] == "gemini.generate_content" and record["model"] == "claude-opus-4.7"
    assert record["cost_usd"] == costs[0] > 0
    stream_rid = headers_of(chunks[0])["x-request-id"]
    wait_for(lambda: any(stream_rid in text and '"request"' in text for text in gateway.log_lines()))
    streamed = next(json.loads(t) for t in gateway.log_lines() if stream_rid in t and '"request"' in t)
    assert streamed["stream"] is True and streamed["cost_micro"] > 0

    def settled() -> bool:
        after = admin_spend(gateway)
        return after["total"]["requests"] == before["total"]["requests"] + 2 and after["reserved_micro"] == 0

    wait_for(settled)
    after = admin_spend(gateway)
    assert after["total"]["cost_micro"] - before["total"]["cost_micro"] == record["cost_micro"] + streamed["cost_micro"]
