"""A tool loop begun by Gemini 3 and carried on by Claude, its fallback, with thinking on: the
official `anthropic` SDK (Claude Code's API) and `openai` SDK (Codex CLI's Responses, chat
completions) → the gateway (real process) → the simulator, whose Claude refuses, as the API does,
a final tool turn that does not start with its own signed thinking block and any thinking block
it did not sign. The gateway leaves out the blocks Claude cannot have signed and, when the turn
has no thinking block left, sends the request without thinking, and says so
(`x-gateway-adapted`)."""

from __future__ import annotations

from typing import Any, Iterator

import anthropic
import openai
import pytest

from tests.procs import DEMO_KEY, Proc, sim_reset, sim_set
from tests.test_gemini_signatures_e2e import ASK, MESSAGES_TOOLS, TOOLS, claude, gateway  # noqa: F401  (fixtures)

THINKING = {"type": "enabled", "budget_tokens": 1024}
ASKED: dict[str, Any] = {"model": "gem3", "max_tokens": 2000, "tools": MESSAGES_TOOLS}


def _result(call_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": '{"temp_c": 21}'}


@pytest.mark.parametrize("stream", [False, True])
def test_claude_carries_on_a_gemini_tool_turn_with_thinking_on(claude: anthropic.Anthropic, sim: Proc,
                                                               stream: bool) -> None:
    sim_set(sim, "gemini-3-flash", tool_call="get_weather")
    first = claude.messages.with_raw_response.create(messages=ASK, thinking=THINKING, **ASKED)
    assert first.headers["x-gateway-model"] == "gemini-3-flash"
    content = [b.model_dump(exclude_none=True) for b in first.parse().content]
    assert [b["type"] for b in content][-1] == "tool_use"
    sim_set(sim, "gemini-3-flash", fail_status=503)
    turn = [*ASK, {"role": "assistant", "content": content},
            {"role": "user", "content": [_result(content[-1]["id"])]}]
    if stream:
        with claude.messages.with_streaming_response.create(messages=turn, thinking=THINKING, stream=True,
                                                            **ASKED) as answer:
            headers = answer.headers
            body = answer.read().decode()
        assert "event: message_stop" in body and "thinking_delta" not in body
    else:
        answer = claude.messages.with_raw_response.create(messages=turn, thinking=THINKING, **ASKED)
        headers = answer.headers
        message = answer.parse()
        assert message.stop_reason == "end_turn" and [b.type for b in message.content] == ["text"]
    assert headers["x-gateway-model"] == "claude-opus-4.7"
    assert headers["x-gateway-adapted"] == "thinking-off"


def test_a_thinking_block_claude_did_not_sign_is_left_out(claude: anthropic.Anthropic) -> None:
    """A finished turn another provider wrote, its thought summary unsigned (as a Gemini or OpenAI
    answer gives a Messages client): Claude gets the turn without it, and thinks as asked."""
    told = [*ASK, {"role": "assistant", "content": [{"type": "thinking", "thinking": "Lisbon is sunny.",
                                                     "signature": ""}, {"type": "text", "text": "21C, sunny."}]},
            {"role": "user", "content": "And in Porto?"}]
    answer = claude.messages.with_raw_response.create(messages=told, thinking=THINKING,
                                                      **{**ASKED, "model": "claude-opus-4.7"})
    assert "x-gateway-adapted" not in answer.headers
    assert [b.type for b in answer.parse().content][0] == "thinking"  # thinking stayed on


def test_claude_own_tool_loop_keeps_thinking(claude: anthropic.Anthropic, sim: Proc) -> None:
    sim_set(sim, "claude-opus-4.7", tool_call="get_weather")
    asked = {**ASKED, "model": "claude-opus-4.7"}
    first = claude.messages.create(messages=ASK, thinking=THINKING, **asked)
    content = [b.model_dump(exclude_none=True) for b in first.content]
    assert [b["type"] for b in content] == ["thinking", "tool_use"]
    sim_set(sim, "claude-opus-4.7", tool_call="none")
    turn = [*ASK, {"role": "assistant", "content": content}, {"role": "user", "content": [_result(content[-1]["id"])]}]
    answer = claude.messages.with_raw_response.create(messages=turn, thinking=THINKING, **asked)
    assert "x-gateway-adapted" not in answer.headers
    assert [b.type for b in answer.parse().content] == ["thinking", "text"]


@pytest.fixture
def codex(gateway: Proc, sim: Proc) -> Iterator[openai.OpenAI]:
    sim_reset(sim)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


@pytest.mark.parametrize("stored", [True, False])
def test_responses_tool_turn_falls_back_to_claude_with_reasoning(codex: openai.OpenAI, sim: Proc,
                                                                 stored: bool) -> None:
    """Codex CLI's loop (Responses, reasoning effort on): Gemini 3 calls the tool, then fails;
    Claude, asked to reason, gets a tool turn it did not think: it answers without thinking."""
    asked: dict[str, Any] = {"model": "gem3", "tools": TOOLS, "reasoning": {"effort": "low"},
                             "max_output_tokens": 4000}
    first = codex.responses.with_raw_response.create(input=ASK, tool_choice="required", **asked)
    assert first.headers["x-gateway-model"] == "gemini-3-flash"
    made = first.parse()
    call = next(o for o in made.output if o.type == "function_call")
    result = {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}
    sim_set(sim, "gemini-3-flash", fail_status=503)
    if stored:
        answer = codex.responses.with_raw_response.create(input=[result], previous_response_id=made.id, **asked)
    else:
        turn = [*ASK, *(o.model_dump(exclude_none=True) for o in made.output), result]
        answer = codex.responses.with_raw_response.create(input=turn, store=False, **asked)
    assert answer.headers["x-gateway-model"] == "claude-opus-4.7"
    assert answer.headers["x-gateway-adapted"] == "thinking-off"
    assert answer.parse().output_text


def test_chat_tool_turn_falls_back_to_claude_with_reasoning(codex: openai.OpenAI, sim: Proc) -> None:
    chat_tools = [{"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}]
    asked: dict[str, Any] = {"model": "gem3", "tools": chat_tools, "reasoning_effort": "low", "max_tokens": 4000}
    first = codex.chat.completions.create(messages=ASK, tool_choice="required", **asked)
    message = first.choices[0].message.model_dump(exclude_none=True)
    sim_set(sim, "gemini-3-flash", fail_status=503)
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "21C"} for c in message["tool_calls"]]
    answer = codex.chat.completions.with_raw_response.create(messages=[*ASK, message, *results], **asked)
    assert answer.headers["x-gateway-model"] == "claude-opus-4.7"
    assert answer.headers["x-gateway-adapted"] == "thinking-off"
    assert answer.parse().choices[0].finish_reason == "stop"


def test_thinking_off_keeps_the_answer_within_what_admit_reserved(codex: openai.OpenAI, sim: Proc) -> None:
    """Admit reserves before the adapter runs, and the relay sends that allowance as the cap
    (server.default_max_output_tokens, 4096, when the client set none; gateway/pipeline/relay.py),
    so the adapter fits the thinking budget inside it rather than adding it. When the adapter turns
    thinking off for the tool turn, Claude (here writing all it may) stays within the reservation:
    dropping thinking frees no reserved tokens, and lowering max_tokens would cut the answer."""
    chat_tools = [{"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}]
    asked: dict[str, Any] = {"model": "gem3", "tools": chat_tools, "reasoning_effort": "low"}
    first = codex.chat.completions.create(messages=ASK, tool_choice="required", **asked)
    message = first.choices[0].message.model_dump(exclude_none=True)
    sim_set(sim, "gemini-3-flash", fail_status=503)
    sim_set(sim, "claude-opus-4.7", output_tokens=100_000)
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "21C"} for c in message["tool_calls"]]
    answer = codex.chat.completions.with_raw_response.create(messages=[*ASK, message, *results], **asked)
    assert answer.headers["x-gateway-model"] == "claude-opus-4.7"
    assert answer.headers["x-gateway-adapted"] == "thinking-off"
    reply = answer.parse()
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 4096
