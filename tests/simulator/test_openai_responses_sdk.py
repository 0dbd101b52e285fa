"""The simulator's Responses API (`POST /v1/responses`), driven by the official openai SDK."""

from __future__ import annotations

import json
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import openai
import pytest

TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def client(sim: SimServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=sim.url + "/v1", max_retries=0)


def test_plain_streamed_and_chat_give_the_same_text(client: openai.OpenAI) -> None:
    resp = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Tell me about rivers.")
    assert resp.status == "completed" and resp.output_text
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    events = list(client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Tell me about rivers.",
                                          stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == resp.output_text
    assert events[-1].response.usage.output_tokens == resp.usage.output_tokens
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about rivers."}])
    assert chat.choices[0].message.content == resp.output_text
    assert chat.usage.prompt_tokens == resp.usage.input_tokens


def test_function_call_round_trip_and_json_schema(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-4o", input="Weather in Oslo?", tools=[TOOL], tool_choice="required")
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert isinstance(json.loads(call.arguments)["city"], str)
    with client.responses.stream(model="gpt-4o", input="Weather in Oslo?", tools=[TOOL]) as stream:
        assert stream.get_final_response().output[0].arguments == call.arguments
    done = client.responses.create(model="gpt-4o", tools=[TOOL], input=[
        {"role": "user", "content": "Weather in Oslo?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert done.output[0].type == "message" and done.output_text
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    shaped = client.responses.create(model="gpt-4o", input="A number",
                                     text={"format": {"type": "json_schema", "name": "n", "schema": schema}})
    assert isinstance(json.loads(shaped.output_text)["n"], int)


def test_limits_faults_and_refusals(client: openai.OpenAI, sim: SimServer) -> None:
    cut = client.responses.create(model="gpt-4o-mini", input="Tell me a long story.", max_output_tokens=16)
    assert cut.status in ("completed", "incomplete") and cut.usage.output_tokens <= 16
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input="Hi", previous_response_id="resp_1")
    sim.knobs("gpt-4o-mini", fail_status=503)
    try:
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model="gpt-4o-mini", input="Hi")
    finally:
        sim.reset()


def test_reasoning_items_round_trip_with_encrypted_content(client: openai.OpenAI) -> None:
    """As a stateless client of the real API: reasoning asked for, its encrypted content sent back."""
    ask = {"model": "gpt-5.4", "reasoning": {"effort": "low", "summary": "auto"},
           "include": ["reasoning.encrypted_content"], "store": False}
    first = client.responses.create(**ask, input="Weather in Oslo?")
    thought, message = first.output
    assert thought.type == "reasoning" and thought.encrypted_content and message.type == "message"
    assert thought.summary[0].text.endswith("0 earlier reasoning item(s) carried back.")
    with client.responses.stream(**ask, input="Weather in Oslo?") as stream:  # the SDK's accumulator
        streamed = stream.get_final_response()
    assert streamed.output[0].summary[0].text == thought.summary[0].text and streamed.output_text == first.output_text
    second = client.responses.create(**ask, input=[
        {"role": "user", "content": "Weather in Oslo?"}, thought.model_dump(exclude_none=True),
        {"role": "assistant", "content": first.output_text}, {"role": "user", "content": "And tomorrow?"}])
    assert second.output[0].summary[0].text.endswith("1 earlier reasoning item(s) carried back.")
    plain = client.responses.create(model="gpt-5.4", input="Weather in Oslo?")
    assert [o.type for o in plain.output] == ["message"]  # no reasoning asked, none given
    for bad in ({"encrypted_content": None}, {"encrypted_content": "not-ours"}):
        with pytest.raises(openai.BadRequestError):
            client.responses.create(**ask, input=[{**thought.model_dump(exclude_none=True), **bad},
                                                  {"role": "user", "content": "Hi"}])
