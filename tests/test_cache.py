"""The response cache's rules (gateway/pipeline/cache.py) and its stream helpers
(gateway/pipeline/cache_stream.py), without a server: which requests are cached, under which
name, and a stream collected then replayed gives back the same answer."""

from __future__ import annotations

import orjson
import pytest

from gateway.config import ApiKey, ResponseCache
from gateway.errors import GatewayError
from gateway.inbound.frames import chunks
from gateway.pipeline.cache import SKIP, cacheable_answer, intent, scope_kind, scope_of
from gateway.pipeline.cache_stream import Collector, replay
from gateway.pipeline.request import chat_request
from gateway.providers.base import NATIVE

ON = ResponseCache(enabled=True)
KEY = ApiKey(name="demo", sha256=b"\0" * 32, team="red")
OTHER = ApiKey(name="other", sha256=b"\1" * 32, team="red")


def chat(**fields):
    return chat_request({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 0, **fields})


def test_the_cache_off_decides_nothing() -> None:
    """Off (the default): no intent, so the pipeline makes no lookup and adds no header."""
    assert intent(ResponseCache(), {"x-gateway-cache": "use"}, chat(), KEY) is None


def test_what_is_cacheable() -> None:
    assert intent(ON, {}, chat(), KEY).digest  # temperature 0
    assert intent(ON, {}, chat(temperature=0.9, seed=1), KEY).digest  # a seed
    assert intent(ON, {}, chat(temperature=0.9), KEY) is SKIP  # chance decides
    assert intent(ON, {}, chat(temperature=None), KEY) is SKIP  # the provider's default: sampled
    assert intent(ON, {"x-gateway-cache": "use"}, chat(temperature=0.9), KEY).read
    assert intent(ON, {}, chat(n=2), KEY) is SKIP
    assert intent(ON, {"x-gateway-cache": "use"}, chat(n=2), KEY) is SKIP
    assert intent(ON, {}, chat(web_search_options={}), KEY) is SKIP
    search = {"format": "anthropic", "body": {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}}
    assert intent(ON, {}, chat(**{NATIVE: search}), KEY) is SKIP
    refresh = intent(ON, {"x-gateway-cache": "refresh"}, chat(), KEY)
    assert refresh.write and not refresh.read
    assert intent(ON, {"x-gateway-cache": "no-store"}, chat(), KEY) is SKIP
    with pytest.raises(GatewayError) as err:
        intent(ON, {"x-gateway-cache": "yes"}, chat(), KEY)
    assert err.value.status == 400 and err.value.code == "invalid_cache_mode"


def test_the_name_covers_what_decides_the_answer_and_nothing_else() -> None:
    name = intent(ON, {}, chat(), KEY).digest
    same = [chat(user="u2"), chat(stream=True, stream_options={"include_usage": True}), chat(metadata={"a": "b"}),
            chat(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])]
    assert all(intent(ON, {}, c, KEY).digest == name for c in same)
    assert intent(ON, {}, chat(max_tokens=50), KEY).digest == intent(ON, {}, chat(max_completion_tokens=50), KEY).digest
    other = [chat(max_tokens=50), chat(model="gpt-5.5"), chat(top_p=0.5), chat(seed=1),
             chat(messages=[{"role": "user", "content": "hi!"}]), chat(response_format={"type": "json_object"}),
             chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])]
    digests = {intent(ON, {}, c, KEY).digest for c in other}
    assert name not in digests and len(digests) == len(other)


def test_scopes() -> None:
    assert scope_of("key", KEY) != scope_of("key", OTHER)
    assert scope_of("team", KEY) == scope_of("team", OTHER) == "team:red"
    alone = ApiKey(name="alone", sha256=b"\2" * 32)
    assert scope_of("team", alone) == scope_of("key", alone)  # no team: its own
    assert scope_of("global", KEY) == scope_of("global", alone)
    team = ResponseCache(enabled=True, scope="team")
    assert intent(team, {}, chat(), KEY).digest == intent(team, {}, chat(), OTHER).digest
    assert intent(ON, {}, chat(), KEY).digest != intent(ON, {}, chat(), OTHER).digest


def test_the_intent_carries_the_scope_its_entry_is_named_under() -> None:
    """The entry's name holds the scope in clear (so a flush finds a key's or team's entries)
    and the request only as a hash."""
    runtime = ApiKey(name="key_0123456789abcdef", sha256=b"\3" * 32, key_id="key_0123456789abcdef", team="red")
    assert intent(ON, {}, chat(), KEY).scope == "cfg:demo"  # a config file key, by its name
    assert intent(ON, {}, chat(), runtime).scope == "key:key_0123456789abcdef"
    assert intent(ResponseCache(enabled=True, scope="team"), {}, chat(), runtime).scope == "team:red"
    assert intent(ResponseCache(enabled=True, scope="global"), {}, chat(), runtime).scope == "global"
    assert [scope_kind(s) for s in ("cfg:demo", "key:k", "team:red", "global")] == ["key", "key", "team", "global"]


def frame(delta=None, finish=None, usage=None) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def test_a_stream_collected_is_the_whole_answer_and_replays_alike() -> None:
    collector = Collector()
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    for f in [frame({"role": "assistant", "content": ""}), frame({"content": "Hel"}), frame({"content": "lo"}),
              frame({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "get", "arguments": "{\"ci"}}]}),
              frame({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": 1}"}}]}),
              frame({}, "tool_calls"), frame(usage=usage)]:
        collector.feed(f)
    whole = collector.completion()
    message = whole["choices"][0]["message"]
    assert message["content"] == "Hello" and message["role"] == "assistant"
    assert message["tool_calls"] == [{"id": "call_1", "type": "function",
                                      "function": {"name": "get", "arguments": "{\"city\": 1}"}}]
    assert whole["choices"][0]["finish_reason"] == "tool_calls" and whole["usage"] == usage
    assert cacheable_answer(whole)
    again = Collector()
    again.feed(replay(whole, include_usage=True))
    assert again.completion() == whole
    assert all(c.get("usage") is None for c in chunks(replay(whole, include_usage=False)))


def test_only_normally_finished_answers_are_kept() -> None:
    collector = Collector()
    collector.feed(frame({"content": "cut"}))
    assert not cacheable_answer(collector.completion())  # no finish reason: the stream did not end
    collector.feed(frame({}, "content_filter"))
    assert not cacheable_answer(collector.completion())


async def test_the_stats_sum_the_cache_counter_over_the_replicas_workers(tmp_path) -> None:
    """`GET /admin/cache` shows /metrics' counter added up over the workers (each worker's
    snapshot in the replica's metrics directory), not a second count."""
    import os

    from gateway.observe.metrics import Metrics
    from gateway.observe.metrics_share import MetricsShare

    mine, other = Metrics(), Metrics()
    other.worker = str(os.getppid())  # a live process: its snapshot is read
    mine.cache.inc(("hit",), 2)
    mine.cache.inc(("miss",))
    other.cache.inc(("hit",), 5)
    MetricsShare(other, tmp_path).write()
    totals = await MetricsShare(mine, tmp_path).totals(mine.cache)
    assert totals == {("hit",): 7, ("miss",): 1}
    assert await MetricsShare(mine, None).totals(mine.cache) == {("hit",): 2, ("miss",): 1}
