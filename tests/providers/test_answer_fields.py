"""The gateway's own answer fields never reach an OpenAI-format API (gateway/providers/openai.py)."""

from __future__ import annotations

from gateway.providers.openai import apply_quirks, without_answer_fields
from gateway.config import Quirks

THINKING = [{"type": "thinking", "thinking": "the fares rose", "signature": "c2ln"}]
ITEMS = [{"type": "web_search_call", "id": "ws_gw_1", "status": "completed"}]


def test_a_conversation_without_them_is_the_same_list() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert without_answer_fields(messages) is messages


def test_thinking_blocks_and_responses_items_are_left_out_of_a_copy() -> None:
    messages = [{"role": "user", "content": "fares?"},
                {"role": "assistant", "content": "They rose.", "thinking_blocks": THINKING, "reasoning_items": ITEMS},
                {"role": "user", "content": "by how much?"}]
    out = without_answer_fields(messages)
    assert out == [{"role": "user", "content": "fares?"}, {"role": "assistant", "content": "They rose."},
                   {"role": "user", "content": "by how much?"}]
    assert messages[1]["thinking_blocks"] == THINKING  # the client's body is not changed


def test_apply_quirks_sends_the_body_without_them() -> None:
    body = {"model": "gpt-5.4", "messages": [{"role": "assistant", "content": "x", "reasoning_items": ITEMS}]}
    apply_quirks(body, Quirks(), stream=False)
    assert body["messages"] == [{"role": "assistant", "content": "x"}]


def test_reasoning_content_is_left_out_unless_the_api_takes_it_back() -> None:
    thought = {"role": "assistant", "content": "x", "reasoning_content": "first I compare the fares"}
    body = {"model": "gpt-5.4", "messages": [thought]}
    apply_quirks(body, Quirks(), stream=False)
    assert body["messages"] == [{"role": "assistant", "content": "x"}]
    deepseek = {"model": "deepseek-v4-pro", "messages": [{**thought, "thinking_blocks": THINKING}]}
    apply_quirks(deepseek, Quirks(reasoning_content=True), stream=False)
    assert deepseek["messages"] == [thought]


def test_the_quirk_is_read_from_the_config() -> None:
    import pytest

    from gateway.config import ConfigError
    from gateway.config.parse import parse_config

    def provider(quirks: object) -> dict:
        return {"providers": {"ds": {"format": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None,
                                     "quirks": quirks}},
                "models": {"deepseek-v4-pro": {"provider": "ds", "price": {"input": 0.1, "output": 0.2}}},
                "routes": {"auto": {"primary": "deepseek-v4-pro"}}}

    cfg = parse_config(provider({"reasoning_content": True}), "t.yaml", {})
    assert cfg.providers["ds"].quirks.reasoning_content is True
    assert parse_config(provider({}), "t.yaml", {}).providers["ds"].quirks.reasoning_content is False
    with pytest.raises(ConfigError, match="quirks.reasoning_content"):
        parse_config(provider({"reasoning_content": "yes"}), "t.yaml", {})


SIGNED_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"},
               "extra_content": {"google": {"thought_signature": "c2lnLTE="}}}


def test_a_calls_extra_content_is_left_out_unless_the_api_takes_it_back() -> None:
    """Gemini's thought signature rides on a chat answer's call; OpenAI refuses the field, and
    Google's OpenAI-compatible endpoint wants it back (`quirks.extra_content`)."""
    turn = {"role": "assistant", "content": None, "tool_calls": [SIGNED_CALL]}
    body = {"model": "gpt-5.4", "messages": [turn]}
    apply_quirks(body, Quirks(), stream=False)
    bare = {k: v for k, v in SIGNED_CALL.items() if k != "extra_content"}
    assert body["messages"] == [{**turn, "tool_calls": [bare]}]
    assert turn["tool_calls"][0]["extra_content"]  # the client's body is not changed
    google = {"model": "gemini-3-flash", "messages": [turn]}
    apply_quirks(google, Quirks(extra_content=True), stream=False)
    assert google["messages"] == [turn]
    unsigned = [{"role": "assistant", "content": None, "tool_calls": [bare]}]
    assert without_answer_fields(unsigned) is unsigned
