"""A conversation another provider wrote part of, as every Claude platform gets it
(gateway.providers.anthropic.thinking, gateway.providers.bedrock.reasoning.fit): thinking blocks
Claude cannot have signed are left out; with `enabled` thinking, a final tool turn without a
thinking block makes the request go without thinking, and `UpstreamRequest.adapted` says so."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson
import pytest

from gateway.providers.base import UpstreamRequest
from gateway.providers.registry import adapter_for
from tests.providers.helpers import deployment

AWS = "https://bedrock-runtime.us-east-1.amazonaws.com"
CLAUDES = {
    "anthropic": deployment("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com"),
    "vertex_anthropic": deployment("vertex_anthropic", "claude-sonnet-4-5@20250929",
                                   "https://us-east5-aiplatform.googleapis.com", api_key="ya29.token"),
    "bedrock_anthropic": deployment("bedrock_anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", AWS,
                                    api_key="k"),
    "bedrock": deployment("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", AWS, api_key="k"),
}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'}}
ASK = {"role": "user", "content": "Weather in Lisbon?"}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "21C"}
OWN = {"type": "thinking", "thinking": "Call the tool.", "signature": hashlib.sha256(b"Call the tool.").hexdigest()}


def sent(fmt: str, chat: dict[str, Any]) -> tuple[dict[str, Any], UpstreamRequest]:
    request = adapter_for(fmt).to_upstream(copy.deepcopy(chat), CLAUDES[fmt], False)
    return orjson.loads(request.body), request


def thinking_of(fmt: str, body: dict[str, Any]) -> Any:
    return (body.get("additionalModelRequestFields") or {}).get("thinking") if fmt == "bedrock" else body.get("thinking")


@pytest.mark.parametrize("fmt", list(CLAUDES))
def test_a_tool_turn_claude_did_not_think_goes_without_thinking(fmt: str) -> None:
    """A chat (or Responses) client's loop begun by another provider, reasoning effort on."""
    chat = {"model": "m", "reasoning_effort": "low", "max_tokens": 4000, "tools": [TOOL],
            "messages": [ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]}, RESULT]}
    body, request = sent(fmt, chat)
    assert thinking_of(fmt, body) is None and request.adapted == ("thinking-off",)
    # Claude's own turn, its signed thinking carried back: thinking stays on, nothing to say
    chat["messages"][1]["thinking_blocks"] = [OWN]
    body, request = sent(fmt, chat)
    assert thinking_of(fmt, body)["type"] == "enabled" and request.adapted == ()
    # no tool loop to carry on: thinking stays on
    body, request = sent(fmt, {**chat, "messages": [ASK]})
    assert thinking_of(fmt, body)["type"] == "enabled" and request.adapted == ()


def native(messages: list[dict[str, Any]], thinking: dict[str, Any]) -> dict[str, Any]:
    """A Messages client's request, as the Anthropic inbound hands it on (its own body under NATIVE)."""
    return {"model": "m", "max_completion_tokens": 4000, "messages": [ASK], "thinking": thinking,
            "x_gateway_native": {"format": "anthropic", "body": {"messages": messages, "thinking": thinking}}}


ENABLED = {"type": "enabled", "budget_tokens": 1024}
UNSIGNED = {"type": "thinking", "thinking": "Gemini's summary", "signature": ""}
ENVELOPE = {"type": "thinking", "thinking": "", "signature": "gateway-gemini-signature-v1:e30="}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Lisbon"}}
ANSWER = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"}]}


@pytest.mark.parametrize("fmt", ["anthropic", "vertex_anthropic", "bedrock_anthropic"])
def test_a_messages_clients_foreign_thinking_blocks_are_left_out(fmt: str) -> None:
    turn = {"role": "assistant", "content": [UNSIGNED, ENVELOPE, USE]}
    body, request = sent(fmt, native([ASK, turn, ANSWER], ENABLED))
    assert body["messages"][1]["content"] == [USE]
    assert "thinking" not in body and request.adapted == ("thinking-off",)
    # Claude's own block stays, and so does thinking
    turn = {"role": "assistant", "content": [OWN, USE]}
    body, request = sent(fmt, native([ASK, turn, ANSWER], ENABLED))
    assert body["messages"][1]["content"] == [OWN, USE] and body["thinking"] == ENABLED and request.adapted == ()
    # adaptive thinking may skip a turn's thinking: Claude takes the turn, the setting stays
    adaptive = {"type": "adaptive"}
    body, request = sent(fmt, native([ASK, {"role": "assistant", "content": [UNSIGNED, USE]}, ANSWER], adaptive))
    assert body["messages"][1]["content"] == [USE] and body["thinking"] == adaptive and request.adapted == ()
