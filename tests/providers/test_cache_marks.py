"""Where `prompt_cache: auto` marks a prompt (gateway/providers/cache_marks.py and the Messages
and Converse markers), and the simulator's checks of those marks."""

from __future__ import annotations

import copy

import pytest

from gateway.config import ConfigError
from gateway.config.parse import parse_config
from gateway.providers.anthropic.cache_marks import EPHEMERAL, mark
from gateway.providers.bedrock.cache_points import add_points
from gateway.providers.cache_marks import message_marks
from gateway.simulator.anthropic_cache import marked_prefixes
from gateway.simulator.prompt_cache import cache_use
from gateway.simulator.wire import BadRequest

LONG = "the ferry timetable " * 400  # ~2,000 tokens


@pytest.mark.parametrize("roles, expected", [
    (["user"], ()),                                             # one turn: nothing worth writing
    (["user", "assistant", "user"], (0, 2)),                     # the last turn, and the one before
    (["user", "assistant", "user", "assistant", "user"], (2, 4)),
    (["assistant", "user"], (1,)),                               # no user turn before the assistant's
    (["user", "assistant"], (0, 1)),                             # a prefilled answer
])
def test_message_marks(roles: list[str], expected: tuple[int, ...]) -> None:
    assert message_marks(roles) == expected


def test_a_messages_body_is_marked_on_copies() -> None:
    thinking = {"type": "thinking", "thinking": "t", "signature": "s"}
    body = {"model": "claude", "system": LONG, "tools": [{"name": "a"}, {"name": "b"}],
            "messages": [{"role": "user", "content": "q1"},
                         {"role": "assistant", "content": [{"type": "text", "text": "a1"}, thinking]},
                         {"role": "user", "content": [{"type": "text", "text": "q2"}, {"type": "text", "text": ""}]}]}
    before = copy.deepcopy(body)
    messages, tools = body["messages"], body["tools"]
    mark(body)
    assert body["tools"][-1] == {"name": "b", "cache_control": EPHEMERAL} and body["tools"][0] == {"name": "a"}
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "q1", "cache_control": EPHEMERAL}]
    assert body["messages"][1] is messages[1]  # the assistant turn is not marked (its thinking could not be)
    assert body["messages"][2]["content"][0] == {"type": "text", "text": "q2", "cache_control": EPHEMERAL}
    assert body["messages"][2]["content"][1] == {"type": "text", "text": ""}  # an empty block cannot be
    assert messages == before["messages"] and tools == before["tools"]  # the client's objects are untouched
    marked = sum("cache_control" in b for m in body["messages"] for b in m["content"] if isinstance(b, dict))
    assert marked == 2 and len(marked_prefixes(body, "claude")[0]) == 4  # the simulator takes all four


def test_a_body_the_client_marked_is_left_alone() -> None:
    body = {"system": [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                         {"role": "user", "content": "q2"}]}
    before = copy.deepcopy(body)
    mark(body)
    assert body == before


def test_converse_points_for_claude_and_nova() -> None:
    def body() -> dict:
        return {"system": [{"text": LONG}], "toolConfig": {"tools": [{"toolSpec": {"name": "a"}}]},
                "messages": [{"role": "user", "content": [{"text": "q1"}]},
                             {"role": "assistant", "content": [{"text": "a1"}]},
                             {"role": "user", "content": [{"text": "q2"}]}]}
    point = {"cachePoint": {"type": "default"}}
    claude = body()
    add_points(claude, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert claude["system"][-1] == point and claude["toolConfig"]["tools"][-1] == point
    assert [m["content"][-1] == point for m in claude["messages"]] == [True, False, True]
    nova = body()
    add_points(nova, "amazon.nova-pro-v1:0")
    assert nova["toolConfig"]["tools"] == [{"toolSpec": {"name": "a"}}] and nova["system"][-1] == point
    llama = body()
    add_points(llama, "meta.llama3-70b-instruct-v1:0")  # Bedrock caches no prompt for it: a point is a 400
    assert llama == body()
    again = copy.deepcopy(claude)
    add_points(again, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert again == claude


def test_the_simulator_refuses_what_claude_refuses() -> None:
    thinking = {"type": "thinking", "thinking": "t", "signature": "s", "cache_control": EPHEMERAL}
    with pytest.raises(BadRequest, match="thinking.cache_control"):
        marked_prefixes({"messages": [{"role": "assistant", "content": [thinking]}]}, "claude")
    with pytest.raises(BadRequest, match="empty text blocks"):
        marked_prefixes({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "", "cache_control": EPHEMERAL}]}]}, "claude")
    five = [{"type": "text", "text": f"b{i}", "cache_control": EPHEMERAL} for i in range(5)]
    with pytest.raises(BadRequest, match="maximum of 4"):
        marked_prefixes({"messages": [{"role": "user", "content": five}]}, "claude")


def test_the_simulator_reads_a_prefix_an_earlier_request_wrote() -> None:
    cache: set[str] = set()
    first = {"system": [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}],
             "messages": [{"role": "user", "content": "q1"}]}
    points, hour = marked_prefixes(first, "claude")
    read, written = cache_use(points, cache, 10_000) or (None, None)
    assert read == 0 and written == points[0][1] >= 1024 and not hour
    # the same prompt with no mark: nothing read or written
    second = {"system": LONG, "messages": [{"role": "user", "content": "q2"}]}
    assert cache_use(marked_prefixes(second, "claude")[0], cache, 10_000) is None  # no mark: no cache
    assert cache_use(marked_prefixes(first, "claude")[0], cache, 10_000) == (written, 0)
    assert cache_use(marked_prefixes(first, "other-model")[0], cache, 10_000) == (0, written)


def test_the_setting_is_for_the_apis_that_need_marks() -> None:
    def cfg(fmt: str) -> dict:
        return {"providers": {"p": {"format": fmt, "base_url": "http://127.0.0.1:9/v1", "api_key_env": None}},
                "models": {"m": {"provider": "p", "price": {"input": 1, "output": 2}, "prompt_cache": "auto"}},
                "routes": {"auto": {"primary": "m"}}}
    assert parse_config(cfg("anthropic"), "t.yaml", {}).deployments["m"].prompt_cache is True
    with pytest.raises(ConfigError, match="cache prompt prefixes by themselves"):
        parse_config(cfg("openai"), "t.yaml", {})
    with pytest.raises(ConfigError, match="prompt_cache"):
        parse_config({**cfg("anthropic"), "models": {"m": {"provider": "p", "price": {"input": 1, "output": 2},
                                                           "prompt_cache": "always"}}}, "t.yaml", {})
