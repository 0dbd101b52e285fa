"""Custom (freeform) tools end to end, with the official openai SDK: a Responses client's custom
tool (Codex's `apply_patch`, a Lark grammar) called by the model, and the call and its output
sent back on the next turn, through a `format: openai_responses` deployment (the client's body
as it came), OpenAI chat (custom tools as they are) and Anthropic (translated into a function
with one string parameter); and a chat-completions client's custom tool on OpenAI and Anthropic."""

from __future__ import annotations

import json
from typing import Any, Iterator

import openai
import pytest

from tests.procs import Proc, sim_set, start_gateway
from tests.test_providers_e2e import config
from tests.test_responses_provider_e2e import UPSTREAM, with_responses_provider

PATCH = "*** Begin Patch\n*** Update File: notes.txt\n@@\n-old line\n+new line\n*** End Patch\n"
GRAMMAR = 'start: "*** Begin Patch" LF hunk+ "*** End Patch" LF?\nhunk: /(.+)/ LF\n%import common.LF\n'
TOOL = {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}}
CHAT_TOOL = {"type": "custom", "custom": {"name": "apply_patch", "description": "Edit files with a patch.",
                                          "format": {"type": "grammar", "grammar": {"definition": GRAMMAR,
                                                                                    "syntax": "lark"}}}}
# gateway model → (provider, the simulator's model)
MODELS = {"codex": ("openai-resp", UPSTREAM), "gpt-5.4-mini": ("openai", "gpt-5.4-mini"),
          "claude-opus-4.7": ("anthropic", "claude-opus-4.7")}


COMPAT = ("  compat: {{format: openai, base_url: http://127.0.0.1:{port}/v1, api_key_env: SIMULATOR_API_KEY, "
          "quirks: {{custom_tools: false}}}}\n")  # an OpenAI-compatible server without custom tools


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = with_responses_provider(config(sim.port).replace("prefix: prov", "prefix: custom"), sim.port)
    text = (text.replace("providers:\n", "providers:\n" + COMPAT.format(port=sim.port))
            .replace("models:\n", "models:\n  compat-mini: {provider: compat, upstream: gpt-5.4-mini, "
                                   "price: {input: 1, output: 1}}\n"))
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def ask(client: openai.OpenAI, model: str, stream: bool, input: Any, **extra: Any) -> tuple[Any, list[str]]:
    """The Response (the `response.completed` event's, when streamed) and the stream's event types."""
    if not stream:
        return client.responses.create(model=model, input=input, tools=[TOOL], **extra), []
    events = list(client.responses.create(model=model, input=input, tools=[TOOL], stream=True, **extra))
    assert events[-1].type == "response.completed", [e.type for e in events]
    return events[-1].response, [e.type for e in events]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", list(MODELS))
def test_a_custom_tool_call_and_its_output_round_trip(client: openai.OpenAI, sim: Proc, model: str,
                                                      stream: bool) -> None:
    provider, upstream = MODELS[model]
    sim_set(sim, upstream, tool_call="apply_patch", tool_args={"input": PATCH})
    first, events = ask(client, model, stream, "Change old line to new line in notes.txt.")
    calls = [item for item in first.output if item.type == "custom_tool_call"]
    assert len(calls) == 1 and calls[0].name == "apply_patch" and calls[0].input == PATCH, first.output
    assert calls[0].id.startswith("ctc_") and calls[0].call_id
    if stream:  # the input arrives as custom_tool_call_input deltas, then done, inside its item
        at = events.index("response.custom_tool_call_input.done")
        assert "response.custom_tool_call_input.delta" in events[:at]
        assert events[at + 1] == "response.output_item.done"
        assert "response.function_call_arguments.delta" not in events
    # the next turn carries the call and its output (as Codex sends them): the model reads the output
    turn = [{"role": "user", "content": "Change old line to new line in notes.txt."},
            {"type": "custom_tool_call", "call_id": calls[0].call_id, "name": "apply_patch", "input": PATCH},
            {"type": "custom_tool_call_output", "call_id": calls[0].call_id, "output": "Success. Updated notes.txt"}]
    second, _ = ask(client, model, stream, turn)
    assert second.output_text == "Tool result: Success. Updated notes.txt", second.output


def test_tool_choice_naming_a_custom_tool_forces_it_on_a_translated_provider(client: openai.OpenAI) -> None:
    answer = client.responses.create(model="claude-opus-4.7", input="Say hello.", tools=[
        {"type": "function", "name": "noop", "parameters": {"type": "object", "properties": {}}}, TOOL],
        tool_choice={"type": "custom", "name": "apply_patch"})
    (call,) = answer.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch"
    assert call.input and not call.input.startswith("{"), call.input  # the string, not the function's JSON
    assert answer.tool_choice.type == "custom" and answer.tools[1].type == "custom"  # echoed as sent


def test_a_server_without_custom_tools_gets_a_function_and_its_call_comes_back_custom(client: openai.OpenAI,
                                                                                     sim: Proc) -> None:
    # the simulated model fills the arguments from the knob: a custom tool's input is the object as
    # text, a function's is its object, whose one string is the input (whatever the model named it)
    sim_set(sim, "gpt-5.4-mini", tool_call="apply_patch", tool_args={"patch": PATCH})
    (native,) = client.responses.create(model="gpt-5.4-mini", input="edit", tools=[TOOL]).output
    raw = client.responses.with_raw_response.create(model="compat-mini", input="edit", tools=[TOOL])
    (compat,) = raw.parse().output
    assert raw.headers["x-gateway-provider"] == "compat"  # the quirk is read, the provider keeps its name
    assert native.type == compat.type == "custom_tool_call"
    assert json.loads(native.input) == {"patch": PATCH} and compat.input == PATCH


def test_an_output_without_its_call_is_refused_by_the_native_provider(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="codex", tools=[TOOL], input=[
            {"role": "user", "content": "hi"},
            {"type": "custom_tool_call_output", "call_id": "call_nowhere", "output": "done"}])
    assert "No tool call found for custom tool call output with call_id call_nowhere" in str(refused.value)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model", ["gpt-5.4-mini", "claude-opus-4.7"])
def test_a_chat_client_gets_custom_calls_from_openai_and_from_a_translated_provider(
        client: openai.OpenAI, sim: Proc, model: str, stream: bool) -> None:
    sim_set(sim, MODELS[model][1], tool_call="apply_patch", tool_args={"input": PATCH})
    messages: list[Any] = [{"role": "user", "content": "Change old line to new line in notes.txt."}]
    if stream:
        calls: dict[int, dict[str, Any]] = {}
        for chunk in client.chat.completions.create(model=model, messages=messages, tools=[CHAT_TOOL], stream=True):
            for delta in (chunk.choices[0].delta.tool_calls or ()) if chunk.choices else ():
                raw = delta.model_dump(exclude_none=True)  # the SDK types only function deltas
                call = calls.setdefault(raw["index"], {"id": raw.get("id"), "type": raw.get("type"), "input": ""})
                assert "function" not in raw, raw
                call["input"] += raw["custom"].get("input", "")
        assert [(c["type"], c["input"]) for c in calls.values()] == [("custom", PATCH)]
        call_id = calls[0]["id"]
    else:
        reply = client.chat.completions.create(model=model, messages=messages, tools=[CHAT_TOOL])
        (call,) = reply.choices[0].message.tool_calls
        assert call.type == "custom" and call.custom.name == "apply_patch" and call.custom.input == PATCH
        call_id = call.id
    messages += [{"role": "assistant", "content": None,
                  "tool_calls": [{"id": call_id, "type": "custom", "custom": {"name": "apply_patch", "input": PATCH}}]},
                 {"role": "tool", "tool_call_id": call_id, "content": "Success."}]
    after = client.chat.completions.create(model=model, messages=messages, tools=[CHAT_TOOL])
    assert after.choices[0].message.content == "Tool result: Success."
