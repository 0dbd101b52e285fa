"""The simulator's OpenAI and Azure OpenAI formats, driven by the official openai SDK."""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest

from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about rivers and oceans."}]
PROMPT_TOKENS = (len("Be brief.") + len("Tell me about rivers and oceans.") + 3) // 4 + 3 * 2 + 3  # text + framing
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
        },
    },
}


@pytest.fixture
def client(sim: SimServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=sim.url + "/v1", max_retries=0)


def test_chat_non_stream_usage_matches_text(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-mini"
    assert len(text.split()) == 16 == resp.usage.completion_tokens
    assert resp.usage.prompt_tokens == PROMPT_TOKENS
    assert resp.usage.total_tokens == PROMPT_TOKENS + 16
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert resp.usage.completion_tokens_details.reasoning_tokens == 0
    again = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert again.choices[0].message.content == text
    other = client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert other.choices[0].message.content != text


def test_stream_reassembles_to_non_stream_text(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 4  # 16 words in chunks of 1-4
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_max_tokens_n_and_stop(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, max_tokens=5, n=3)
    assert [c.finish_reason for c in resp.choices] == ["length"] * 3
    assert all(len(c.message.content.split()) == 5 for c in resp.choices)
    assert len({c.message.content for c in resp.choices}) == 3
    assert resp.usage.completion_tokens == 15
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS).choices[0].message.content
    third = full.split()[2]
    cut = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stop=[third])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == full[: full.index(third)]
    assert third not in cut.choices[0].message.content


def _check_weather_args(raw: str) -> None:
    args = json.loads(raw)
    assert set(args) == {"city", "unit", "days"}
    assert isinstance(args["city"], str) and args["unit"] in ("c", "f") and 1 <= args["days"] <= 7


def test_tool_call_non_stream_and_stream(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
    resp = client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER], tool_choice="auto")
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    _check_weather_args(call.function.arguments)
    assert resp.usage.completion_tokens == (len(call.function.arguments) + 3) // 4

    chunks = list(client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER], stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == call.id and deltas[0].function.name == "get_weather"
    assert len(deltas) > 2 and all(d.id is None and d.function.name is None for d in deltas[1:])
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # After the tool answered, the model replies in text.
    follow = msgs + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    final = client.chat.completions.create(model="gpt-4o", messages=follow, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content


def test_json_mode_returns_json(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="gpt-4o", messages=MSGS, response_format={"type": "json_object"})
    assert isinstance(json.loads(resp.choices[0].message.content), dict)


def test_embeddings_float_and_base64(client: openai.OpenAI, sim: SimServer) -> None:
    resp = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "rivers"], encoding_format="float")
    assert [d.index for d in resp.data] == [0, 1]
    assert len(resp.data[0].embedding) == 1536
    assert abs(sum(v * v for v in resp.data[0].embedding) - 1.0) < 1e-4
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == 3 + 2
    small = client.embeddings.create(model="text-embedding-3-small", input="hello world", dimensions=64)
    assert len(small.data[0].embedding) == 64
    # The SDK asks for base64 by default and decodes it; check raw base64 too.
    default = client.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert default.data[0].embedding == pytest.approx(resp.data[0].embedding)
    raw = sim.http.post(
        "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "hello world", "encoding_format": "base64"},
        headers={"authorization": "Bearer x"},
    ).json()
    decoded = struct.unpack("<1536f", base64.b64decode(raw["data"][0]["embedding"]))
    assert list(decoded) == resp.data[0].embedding


def test_models_list(client: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in {m.id for m in client.models.list()}


def test_errors_map_to_sdk_exceptions(client: openai.OpenAI, sim: SimServer) -> None:
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model="gpt-4o", messages=MSGS, extra_headers={"Authorization": ""})
    assert auth.value.status_code == 401 and auth.value.body["code"] == "invalid_api_key"
    sim.knobs("gpt-4o", fail_status=429, retry_after_s=7)
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert rate.value.response.headers["retry-after"] == "7"
    assert rate.value.body["code"] == "rate_limit_exceeded"
    sim.knobs("gpt-4o", fail_status=500)
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert err.value.status_code == 500 and err.value.body["type"] == "server_error"
    sim.knobs("gpt-4o", fail_status=400)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert bad.value.body["param"] == "messages"
    assert sim.stats()["calls"]["gpt-4o"] == 4  # the 401 call counts too


def test_metadata_needs_store(client: openai.OpenAI) -> None:
    """As OpenAI's chat API: metadata tags stored completions, so without `store: true` it is a 400."""
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o", messages=MSGS, metadata={"team": "search"})
    assert bad.value.body["param"] == "metadata" and "store" in bad.value.body["message"]
    stored = client.chat.completions.create(model="gpt-4o", messages=MSGS, metadata={"team": "search"}, store=True)
    assert stored.choices[0].message.content


def test_outage_and_rates_and_stats(client: openai.OpenAI, sim: SimServer) -> None:
    sim.knobs("gpt-4o", outages=[[0, 3600]])
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert err.value.status_code == 503
    sim.knobs("gpt-4o", outages=[[3600, 7200]])
    assert client.chat.completions.create(model="gpt-4o", messages=MSGS).choices[0].message.content

    def forty_calls() -> list[int]:
        statuses = []
        for _ in range(40):
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
                statuses.append(200)
            except openai.InternalServerError as exc:
                statuses.append(exc.status_code)
        return statuses

    sim.knobs("gpt-4o-mini", error_rate=0.5)
    outcomes = forty_calls()
    assert 5 < outcomes.count(200) < 35 and set(outcomes) <= {200, 500, 503}
    stats = sim.stats()
    assert stats["calls"] == {"gpt-4o": 2, "gpt-4o-mini": 40}
    assert stats["faults"]["gpt-4o-mini"] == 40 - outcomes.count(200)
    # Same seed + same call sequence → same faults.
    sim.reset()
    sim.knobs("gpt-4o-mini", error_rate=0.5)
    assert forty_calls() == outcomes

    sim.knobs("gpt-4o-mini", error_rate=0, rate_limit_rate=1.0, retry_after_s=2)
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert rate.value.response.headers["retry-after"] == "2"


def test_stream_cut_and_garbage(client: openai.OpenAI, sim: SimServer) -> None:
    sim.knobs("gpt-4o", stream_cut_after=3)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))
    assert len(chunks) == 3
    assert all(c.choices[0].finish_reason is None for c in chunks)
    sim.knobs("gpt-4o", stream_cut_after=None, garbage_stream=True)
    with pytest.raises(Exception):
        list(client.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))


def test_knobs_length_factor_cache_reasoning(client: openai.OpenAI, sim: SimServer) -> None:
    sim.knobs("gpt-4o", output_tokens=10, length_factor=1.5, cache_ratio=0.5, reasoning_tokens=4)
    resp = client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert len(resp.choices[0].message.content.split()) == 15
    assert resp.usage.completion_tokens == 19
    assert resp.usage.completion_tokens_details.reasoning_tokens == 4
    assert resp.usage.prompt_tokens_details.cached_tokens == PROMPT_TOKENS // 2


def test_azure_paths(sim: SimServer) -> None:
    azure = openai.AzureOpenAI(api_key="az-key", api_version="2024-10-21", azure_endpoint=sim.url, max_retries=0)
    resp = azure.chat.completions.create(model="my-gpt4o", messages=MSGS)
    assert resp.model == "my-gpt4o" and resp.usage.completion_tokens == 16
    chunks = list(azure.chat.completions.create(model="my-gpt4o", messages=MSGS, stream=True))
    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == resp.choices[0].message.content
    emb = azure.embeddings.create(model="my-embed", input="hi", encoding_format="float")
    assert len(emb.data[0].embedding) == 1536
    stats = sim.stats()
    assert stats["by_format"] == {"azure": 3} and stats["calls"] == {"my-gpt4o": 2, "my-embed": 1}
    with pytest.raises(openai.AuthenticationError):
        azure.chat.completions.create(model="my-gpt4o", messages=MSGS, extra_headers={"api-key": ""})


def test_stream_abort_drops_the_connection(client: openai.OpenAI, sim: SimServer) -> None:
    sim.knobs("gpt-4o", stream_abort_after=3, tokens_per_s=100000)
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True):
            got.append(chunk)
    assert len(got) == 3 and all(c.choices[0].finish_reason is None for c in got)
