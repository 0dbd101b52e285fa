"""The simulator's Gemini format, driven by the official google-genai SDK."""

from __future__ import annotations

from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import pytest
from google import genai
from google.genai import errors, types

MODEL = "gemini-2.5-flash"
SYSTEM = "Be brief."
PROMPT = "Tell me about rivers and oceans."
PROMPT_TOKENS = (len(SYSTEM) + len(PROMPT) + 3) // 4 + 3 * 2 + 3  # text + framing
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters=types.Schema(
        type="OBJECT",
        properties={"city": types.Schema(type="STRING"), "days": types.Schema(type="INTEGER", minimum=1, maximum=7)},
        required=["city", "days"],
    ),
)


@pytest.fixture
def client(sim: SimServer) -> genai.Client:
    retry = types.HttpRetryOptions(attempts=1)
    return genai.Client(api_key="g-key", http_options=types.HttpOptions(base_url=sim.url, retry_options=retry))


def _config(**kw: object) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(system_instruction=SYSTEM, **kw)


def test_generate_content_usage_and_determinism(client: genai.Client, sim: SimServer) -> None:
    resp = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config())
    cand = resp.candidates[0]
    assert cand.finish_reason == types.FinishReason.STOP and cand.content.role == "model"
    assert len(resp.text.split()) == 16
    usage = resp.usage_metadata
    assert usage.prompt_token_count == PROMPT_TOKENS and usage.candidates_token_count == 16
    assert usage.total_token_count == PROMPT_TOKENS + 16
    assert usage.cached_content_token_count is None and usage.thoughts_token_count is None
    assert resp.model_version == MODEL and resp.response_id
    again = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config())
    assert again.text == resp.text
    assert sim.stats()["by_format"] == {"gemini": 2}


def test_stream_reassembles(client: genai.Client) -> None:
    full = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config())
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT, config=_config()))
    assert len(chunks) >= 4
    assert "".join(c.text or "" for c in chunks) == full.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == 16
    assert chunks[-1].usage_metadata.total_token_count == full.usage_metadata.total_token_count


def test_max_tokens_stop_and_candidates(client: genai.Client) -> None:
    short = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config(max_output_tokens=3))
    assert short.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert len(short.text.split()) == 3 == short.usage_metadata.candidates_token_count
    full = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config()).text
    word = full.split()[2]
    cut = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config(stop_sequences=[word]))
    assert cut.text == full[: full.index(word)]
    two = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config(candidate_count=2))
    assert [c.index or 0 for c in two.candidates] == [0, 1]
    assert two.usage_metadata.candidates_token_count == 32


def test_json_mime_type(client: genai.Client) -> None:
    import json

    resp = client.models.generate_content(
        model=MODEL, contents=PROMPT, config=_config(response_mime_type="application/json")
    )
    assert isinstance(json.loads(resp.text), dict)


def test_function_call(client: genai.Client) -> None:
    tools = [types.Tool(function_declarations=[WEATHER])]
    mode = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY"))
    cfg = types.GenerateContentConfig(tools=tools, tool_config=mode, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    resp = client.models.generate_content(model=MODEL, contents="Weather in Lima?", config=cfg)
    call = resp.function_calls[0]
    assert call.name == "get_weather" and set(call.args) == {"city", "days"}
    assert isinstance(call.args["city"], str) and 1 <= call.args["days"] <= 7
    streamed = list(client.models.generate_content_stream(model=MODEL, contents="Weather in Lima?", config=cfg))
    calls = [fc for c in streamed for fc in (c.function_calls or [])]
    assert [(c.name, c.args) for c in calls] == [(call.name, call.args)]
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Lima?")]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather", response={"t": 20})]),
    ]
    final = client.models.generate_content(model=MODEL, contents=history, config=cfg)
    assert final.text and not final.function_calls


def test_gemini_3_signs_its_calls_and_wants_them_back_signed(client: genai.Client) -> None:
    """As the API: a Gemini 3 call carries a thoughtSignature; the next request of the turn with
    the call unsigned is a 400 naming it; a new user text starts a turn that no longer checks it."""
    tools = [types.Tool(function_declarations=[WEATHER])]
    mode = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY"))
    cfg = types.GenerateContentConfig(tools=tools, tool_config=mode, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    resp = client.models.generate_content(model="gemini-3-flash", contents="Weather in Lima?", config=cfg)
    signed = resp.candidates[0].content.parts[0]
    assert signed.function_call.name == "get_weather" and signed.thought_signature
    asked = types.Content(role="user", parts=[types.Part(text="Weather in Lima?")])
    answer = types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather", response={"t": 20})])
    unsigned = types.Content(role="model", parts=[types.Part(function_call=signed.function_call)])
    assert client.models.generate_content(model="gemini-3-flash", config=cfg, contents=[
        asked, resp.candidates[0].content, answer]).candidates
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="gemini-3-flash", contents=[asked, unsigned, answer], config=cfg)
    assert missing.value.code == 400 and "missing a thought_signature" in missing.value.message
    assert "default_api:get_weather" in missing.value.message
    later = types.Content(role="user", parts=[types.Part(text="And in Quito?")])
    assert client.models.generate_content(model="gemini-3-flash", contents=[asked, unsigned, answer, later],
                                          config=cfg).candidates
    assert client.models.generate_content(model=MODEL, contents=[asked, unsigned, answer], config=cfg).candidates


def test_embeddings(client: genai.Client) -> None:
    one = client.models.embed_content(model="text-embedding-004", contents="hello world")
    assert len(one.embeddings) == 1 and len(one.embeddings[0].values) == 768
    many = client.models.embed_content(
        model="text-embedding-004", contents=["hello world", "rivers"], config=types.EmbedContentConfig(output_dimensionality=32)
    )
    assert [len(e.values) for e in many.embeddings] == [32, 32]
    assert many.embeddings[0].values != many.embeddings[1].values


def test_errors(client: genai.Client, sim: SimServer) -> None:
    for status, name in [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"), (400, "INVALID_ARGUMENT"), (500, "INTERNAL")]:
        sim.knobs(MODEL, fail_status=status)
        with pytest.raises(errors.APIError) as err:
            client.models.generate_content(model=MODEL, contents=PROMPT)
        assert err.value.code == status and err.value.status == name
        assert isinstance(err.value, errors.ClientError if status < 500 else errors.ServerError)
    sim.knobs(MODEL, fail_status=None, outages=[[0, 3600]])
    with pytest.raises(errors.ServerError) as down:
        list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert down.value.code == 503
    no_key = sim.http.post(f"/v1beta/models/{MODEL}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    query_key = sim.http.post("/v1beta/models/other:generateContent?key=abc", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert query_key.status_code == 200
    assert sim.stats()["calls"] == {MODEL: 6, "other": 1}


def test_stream_cut_and_reasoning_knobs(client: genai.Client, sim: SimServer) -> None:
    sim.knobs(MODEL, stream_cut_after=2)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert len(chunks) == 2 and all(c.candidates[0].finish_reason is None for c in chunks)
    sim.knobs(MODEL, stream_cut_after=None, reasoning_tokens=5, cache_ratio=1.0)
    resp = client.models.generate_content(model=MODEL, contents=PROMPT, config=_config())
    usage = resp.usage_metadata
    assert usage.thoughts_token_count == 5 and usage.cached_content_token_count == PROMPT_TOKENS
    assert usage.total_token_count == PROMPT_TOKENS + 16 + 5


def test_grounding_safety_citations_and_thoughts_when_asked(client: genai.Client, sim: SimServer) -> None:
    """A googleSearch tool grounds the answer, safetySettings bring ratings, the `citations` knob
    citations, includeThoughts a thought part; in a stream the metadata rides on the last chunk."""
    sim.knobs(MODEL, citations=True, reasoning_tokens=7)
    cfg = types.GenerateContentConfig(
        tools=[types.Tool(google_search=types.GoogleSearch())],
        thinking_config=types.ThinkingConfig(include_thoughts=True),
        safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                                             threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])
    resp = client.models.generate_content(model=MODEL, contents=PROMPT, config=cfg)
    cand = resp.candidates[0]
    grounding = cand.grounding_metadata
    assert grounding.web_search_queries and grounding.grounding_chunks[0].web.uri == "https://example.com/a"
    assert resp.text.startswith(grounding.grounding_supports[0].segment.text)
    assert {r.category for r in cand.safety_ratings} >= {types.HarmCategory.HARM_CATEGORY_HARASSMENT}
    assert resp.prompt_feedback.safety_ratings
    assert cand.citation_metadata.citations[0].end_index == len(resp.text.encode())
    parts = cand.content.parts
    assert parts[0].thought is True and parts[1].thought_signature and not parts[1].thought
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT, config=cfg))
    assert chunks[0].candidates[0].content.parts[0].thought is True
    assert chunks[-1].candidates[0].grounding_metadata and chunks[-1].candidates[0].safety_ratings
    assert all(c.candidates[0].grounding_metadata is None for c in chunks[:-1])
    plain = client.models.generate_content(model=MODEL, contents=PROMPT)
    assert plain.candidates[0].grounding_metadata is None and plain.candidates[0].safety_ratings is None


def test_context_caches(client: genai.Client) -> None:
    cache = client.caches.create(model=MODEL, config=types.CreateCachedContentConfig(
        contents=[types.Content(role="user", parts=[types.Part(text="A long document about the sea. " * 40)])],
        system_instruction=SYSTEM))
    assert cache.name.startswith("cachedContents/") and cache.usage_metadata.total_token_count > 100
    cached = cache.usage_metadata.total_token_count
    resp = client.models.generate_content(model=MODEL, contents=PROMPT,
                                          config=types.GenerateContentConfig(cached_content=cache.name))
    usage = resp.usage_metadata
    assert usage.cached_content_token_count == cached and usage.prompt_token_count > cached
    with pytest.raises(errors.ClientError) as unknown:
        client.models.generate_content(model=MODEL, contents=PROMPT,
                                       config=types.GenerateContentConfig(cached_content="cachedContents/nope"))
    assert unknown.value.code == 403 and unknown.value.status == "PERMISSION_DENIED"
    with pytest.raises(errors.ClientError) as other_model:
        client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT,
                                       config=types.GenerateContentConfig(cached_content=cache.name))
    assert other_model.value.code == 400
    with pytest.raises(errors.ClientError) as with_system:
        client.models.generate_content(model=MODEL, contents=PROMPT, config=types.GenerateContentConfig(
            cached_content=cache.name, system_instruction=SYSTEM))
    assert with_system.value.code == 400 and "system_instruction" in with_system.value.message
