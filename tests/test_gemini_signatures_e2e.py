"""Gemini 3's thought signatures end to end: the official `openai` SDK (`responses.create`, as
Codex CLI calls it, and chat completions) and `anthropic` SDK (Claude Code's API) → the gateway
(real process, storage on) → the simulator as Gemini 3, which refuses a tool turn whose first
function call comes back unsigned, as the API does. For a Responses client the signature travels
in a reasoning item, for a Messages client in a thinking block, for a chat client on the call's
`extra_content`; each comes back on the call. Of parallel calls only the first is signed."""

from __future__ import annotations

from typing import Any, Iterator

import anthropic
import openai
import orjson
import pytest

from gateway.inbound.responses.signatures import PREFIX, opened, seal
from tests.procs import DEMO_KEY, Proc, sim_requests, sim_reset, sim_set, start_gateway
from tests.test_custom_tools_e2e import PATCH, TOOL as PATCH_TOOL
from tests.test_gemini_native_e2e import config as native_config

TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
ASK = [{"role": "user", "content": "What is the weather in Lisbon? Use get_weather."}]


def config(sim: Proc) -> str:
    """The native Gemini tests' providers, with Gemini 3 on the Gemini API and on Vertex, and two
    OpenAI-format APIs: OpenAI's and Google's OpenAI-compatible one."""
    return native_config(sim).replace("prefix: gnat", "prefix: gsig").replace("providers:\n", f"""providers:
  openai: {{format: openai, base_url: {sim.url}/v1, api_key_env: SIMULATOR_API_KEY}}
  google-openai: {{format: openai, base_url: {sim.url}/v1, api_key_env: SIMULATOR_API_KEY,
                  quirks: {{extra_content: true}}}}
""", 1).replace("models:\n", """models:
  gemini-3-flash: {provider: gemini, price: {input: 0.5, output: 3, cached_input: 0.05}}
  gemini-3-vertex: {provider: vertex, upstream: gemini-3-flash, price: {input: 0.5, output: 3, cached_input: 0.05}}
  gemini-3-compat: {provider: google-openai, upstream: gemini-3-flash, price: {input: 0.5, output: 3}}
  gpt-5.4: {provider: openai, price: {input: 2.5, output: 15}}
""", 1).replace("routes:\n", "routes:\n  gem3: {primary: gemini-3-flash, fallbacks: [claude-opus-4.7]}\n") \
        + "responses: {enabled: true, ttl_s: 600}\n"


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim), redis_url) as proc:
        yield proc


@pytest.fixture
def claude(gateway: Proc, sim: Proc) -> Iterator[anthropic.Anthropic]:
    """The anthropic SDK against the gateway, as Claude Code calls it."""
    sim_reset(sim)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as c:
        yield c


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


MESSAGES_TOOLS = [{"name": "get_weather", "description": "Current weather for a city",
                   "input_schema": TOOLS[0]["parameters"]}]


def _messages_call(claude: anthropic.Anthropic, stream: bool, **asked: Any) -> anthropic.types.Message:
    if not stream:
        return claude.messages.create(messages=ASK, tool_choice={"type": "any"}, **asked)
    with claude.messages.stream(messages=ASK, tool_choice={"type": "any"}, **asked) as events:
        return events.get_final_message()


def _result(call_id: str, text: str = '{"temp_c": 21}') -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": text}


@pytest.mark.parametrize("model", ["gemini-3-flash", "gemini-3-vertex"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_messages_tool_turn_keeps_its_thought_signature(claude: anthropic.Anthropic, model: str, stream: bool) -> None:
    asked: dict[str, Any] = {"model": model, "max_tokens": 300, "tools": MESSAGES_TOOLS}
    first = _messages_call(claude, stream, **asked)
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    signed, call = first.content
    assert signed.signature.startswith(PREFIX) and signed.thinking == ""
    # as Claude Code sends the turn back: the assistant's blocks as they came, then the result
    turn = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [_result(call.id)]}]
    answer = claude.messages.create(messages=turn, **asked)
    assert answer.stop_reason == "end_turn" and answer.content[-1].text
    bare = [*turn[:1], {"role": "assistant", "content": [call.model_dump(exclude_none=True)]}, turn[2]]
    with pytest.raises(anthropic.BadRequestError, match="thought_signature"):
        claude.messages.create(messages=bare, **asked)


def test_a_claude_fallback_gets_the_turn_without_the_envelope(claude: anthropic.Anthropic, sim: Proc) -> None:
    """Gemini answers the call, then fails: Claude serves the next request of the turn, and never
    sees the gateway's thinking block (it would refuse a block it did not sign)."""
    asked: dict[str, Any] = {"model": "gem3", "max_tokens": 300, "tools": MESSAGES_TOOLS}
    first = claude.messages.with_raw_response.create(messages=ASK, tool_choice={"type": "any"}, **asked)
    assert first.headers["x-gateway-model"] == "gemini-3-flash"
    content = first.parse().content
    assert content[0].type == "thinking" and content[0].signature.startswith(PREFIX)
    sim_set(sim, "gemini-3-flash", fail_status=503)
    turn = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in content]},
            {"role": "user", "content": [_result(content[1].id)]}]
    answer = claude.messages.with_raw_response.create(messages=turn, **asked)
    assert answer.headers["x-gateway-model"] == "claude-opus-4.7"
    assert answer.parse().stop_reason == "end_turn"


SECOND = {"city": "Porto"}  # a parallel call the model made beside the signed one: unsigned, as Gemini 3 sends it


@pytest.mark.parametrize("model", ["gemini-3-flash", "gemini-3-vertex"])
def test_parallel_calls_responses(client: openai.OpenAI, model: str) -> None:
    asked = {"model": model, "tools": TOOLS}
    first = client.responses.create(input=ASK, tool_choice="required", **asked)
    signed, call = (item.model_dump(exclude_none=True) for item in first.output)
    twin = {**call, "id": "fc_twin", "call_id": "call_twin", "arguments": orjson.dumps(SECOND).decode()}
    outputs = [{"type": "function_call_output", "call_id": c["call_id"], "output": "21C"} for c in (call, twin)]
    answer = client.responses.create(input=[*ASK, signed, call, twin, *outputs], store=False, **asked)
    assert answer.output_text and [o.type for o in answer.output] == ["message"]
    with pytest.raises(openai.BadRequestError, match="thought_signature"):  # the signature on the twin only
        moved = {**signed, "encrypted_content": seal("call_twin", opened(signed["encrypted_content"])[1])}
        client.responses.create(input=[*ASK, moved, call, twin, *outputs], store=False, **asked)


@pytest.mark.parametrize("model", ["gemini-3-flash", "gemini-3-vertex"])
def test_parallel_calls_chat_completions(client: openai.OpenAI, model: str) -> None:
    chat_tools = [{"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}]
    first = client.chat.completions.create(model=model, messages=ASK, tools=chat_tools, tool_choice="required")
    (call,) = first.choices[0].message.tool_calls
    call = call.model_dump(exclude_none=True)
    assert call["extra_content"]["google"]["thought_signature"]
    twin = {"id": "call_twin", "type": "function", "function": {"name": "get_weather",
                                                                "arguments": orjson.dumps(SECOND).decode()}}
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "21C"} for c in (call, twin)]
    turn = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call, twin]}, *results]
    answer = client.chat.completions.create(model=model, messages=turn, tools=chat_tools)
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    unsigned = {k: v for k, v in call.items() if k != "extra_content"}
    with pytest.raises(openai.BadRequestError, match="thought_signature"):
        client.chat.completions.create(model=model, tools=chat_tools, messages=[
            *ASK, {"role": "assistant", "content": None, "tool_calls": [unsigned, twin]}, *results])


@pytest.mark.parametrize("then", ["gpt-5.4", "gemini-3-compat"])
def test_a_signed_call_sent_back_goes_on_to_an_openai_format_api(client: openai.OpenAI, sim: Proc,
                                                                 then: str) -> None:
    """A chat client appends Gemini 3's signed call as it came and the conversation moves to an
    OpenAI-format API: OpenAI refuses a call's unknown field (the simulator too), so the gateway
    leaves `extra_content` out; Google's OpenAI-compatible API (`quirks.extra_content`) gets it."""
    chat_tools = [{"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}]
    first = client.chat.completions.create(model="gemini-3-flash", messages=ASK, tools=chat_tools,
                                           tool_choice="required")
    call = first.choices[0].message.tool_calls[0].model_dump(exclude_none=True)
    assert call["extra_content"]["google"]["thought_signature"]
    turn = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "21C"}]
    answer = client.chat.completions.create(model=then, messages=turn, tools=chat_tools)
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    sent = sim_requests(sim)[-1]["body"]["messages"][1]["tool_calls"][0]
    assert ("extra_content" in sent) is (then == "gemini-3-compat")


@pytest.mark.parametrize("model", ["gemini-3-flash", "gemini-3-vertex"])
def test_parallel_calls_messages(claude: anthropic.Anthropic, model: str) -> None:
    asked: dict[str, Any] = {"model": model, "max_tokens": 300, "tools": MESSAGES_TOOLS}
    signed, call = (b.model_dump(exclude_none=True) for b in _messages_call(claude, False, **asked).content)
    twin = {**call, "id": "toolu_twin", "input": SECOND}
    results = {"role": "user", "content": [_result(call["id"]), _result("toolu_twin", "19C")]}
    answer = claude.messages.create(messages=[*ASK, {"role": "assistant", "content": [signed, call, twin]}, results],
                                    **asked)
    assert answer.stop_reason == "end_turn"
    moved = {**signed, "signature": seal("toolu_twin", opened(signed["signature"])[1])}
    with pytest.raises(anthropic.BadRequestError, match="thought_signature"):
        claude.messages.create(messages=[*ASK, {"role": "assistant", "content": [moved, call, twin]}, results],
                               **asked)
