"""Gemini 3's thought signatures for a Responses client end to end: the official `openai` SDK
(`responses.create`, as Codex CLI calls it) → the gateway (real process, storage on) → the
simulator as Gemini 3, which refuses a tool turn whose function call comes back unsigned, as the
API does. The signature travels in a reasoning item and comes back on the call."""

from __future__ import annotations

from typing import Iterator

import openai
import pytest

from gateway.inbound.responses.signatures import PREFIX
from tests.procs import Proc, sim_set, start_gateway
from tests.test_custom_tools_e2e import PATCH, TOOL as PATCH_TOOL
from tests.test_gemini_native_e2e import config as native_config

TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
ASK = [{"role": "user", "content": "What is the weather in Lisbon? Use get_weather."}]


def config(sim: Proc) -> str:
    """The native Gemini tests' providers, with Gemini 3 on the Gemini API and on Vertex."""
    return native_config(sim).replace("prefix: gnat", "prefix: gsig").replace("models:\n", """models:
  gemini-3-flash: {provider: gemini, price: {input: 0.5, output: 3, cached_input: 0.05}}
  gemini-3-vertex: {provider: vertex, upstream: gemini-3-flash, price: {input: 0.5, output: 3, cached_input: 0.05}}
""", 1) + "responses: {enabled: true, ttl_s: 600}\n"


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim), redis_url) as proc:
        yield proc


@pytest.mark.parametrize("model", ["gemini-3-flash", "gemini-3-vertex"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_turn_keeps_its_thought_signature(client: openai.OpenAI, model: str, stream: bool) -> None:
    asked = {"model": model, "tools": TOOLS}
    if stream:
        events = list(client.responses.create(input=ASK, tool_choice="required", stream=True, **asked))
        first = events[-1].response
    else:
        first = client.responses.create(input=ASK, tool_choice="required", **asked)
    assert [o.type for o in first.output] == ["reasoning", "function_call"]
    signed, call = first.output
    assert signed.encrypted_content.startswith(PREFIX) and signed.summary == []
    assert "thought" not in call.model_dump_json()  # the call item itself is OpenAI's shape
    result = {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}
    # stateless, as Codex CLI sends it: the whole output back, then the call's result
    turn = [*ASK, *(item.model_dump(exclude_none=True) for item in first.output), result]
    answer = client.responses.create(input=turn, store=False, **asked)
    assert answer.output_text and [o.type for o in answer.output] == ["message"]
    # stored: the kept turn has the signature on its call
    follow = client.responses.create(input=[result], previous_response_id=first.id, **asked)
    assert follow.output_text == answer.output_text
    # without the reasoning item Gemini 3 refuses the turn, as the real API does
    with pytest.raises(openai.BadRequestError, match="thought_signature"):
        client.responses.create(input=[i for i in turn if i.get("type") != "reasoning"], store=False, **asked)


@pytest.mark.parametrize("stream", [False, True])
def test_a_custom_tool_call_keeps_its_thought_signature(client: openai.OpenAI, sim: Proc, stream: bool) -> None:
    """Codex CLI's `apply_patch` (a custom tool: a function with one string for Gemini) on Gemini 3."""
    sim_set(sim, "gemini-3-flash", tool_call="apply_patch", tool_args={"input": PATCH})
    asked = {"model": "gemini-3-flash", "tools": [PATCH_TOOL]}
    ask = [{"role": "user", "content": "Change old line to new line in notes.txt."}]
    if stream:
        events = list(client.responses.create(input=ask, stream=True, **asked))
        first = events[-1].response
    else:
        first = client.responses.create(input=ask, **asked)
    assert [o.type for o in first.output] == ["reasoning", "custom_tool_call"]
    signed, call = first.output
    assert signed.encrypted_content.startswith(PREFIX) and call.input == PATCH
    result = {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"}
    turn = [*ask, *(item.model_dump(exclude_none=True) for item in first.output), result]
    answer = client.responses.create(input=turn, store=False, **asked)
    assert answer.output_text.startswith("Tool result:") and "Done!" in answer.output_text
    follow = client.responses.create(input=[result], previous_response_id=first.id, **asked)
    assert follow.output_text == answer.output_text
    with pytest.raises(openai.BadRequestError, match="thought_signature"):
        client.responses.create(input=[i for i in turn if i.get("type") != "reasoning"], store=False, **asked)
