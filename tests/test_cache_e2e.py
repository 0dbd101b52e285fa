"""The exact-match response cache end to end: the official `openai` and `anthropic` SDKs → the
gateway (real process, real engine, `cache.enabled`) → the simulator, whose call counts say
whether a request reached a provider."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Iterator

import anthropic
import openai
import pytest
import redis

from tests.procs import DEMO_KEY, Proc, sim_calls, sim_set, start_gateway
from tests.test_providers_e2e import config

OTHER_KEY = "sk-gateway-cache-other"
MODEL = "gpt-5.4-mini"


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    other = hashlib.sha256(OTHER_KEY.encode()).hexdigest()
    text = (config(sim.port).replace("prefix: prov", "prefix: cache")
            + f"  - {{name: other, sha256: {other}}}\ncache: {{enabled: true, ttl_s: 600}}\n")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url, workers=2) as proc:
        yield proc


@pytest.fixture(scope="module")
def gateway_off(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = config(sim.port).replace("prefix: prov", "prefix: nocache")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def ask(model: str = MODEL) -> list[dict[str, str]]:
    """A question no other test asks (entries outlive a test)."""
    return [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Say something about the sea, case {uuid.uuid4().hex[:8]}."}]


def upstream_calls(sim: Proc) -> int:
    return sum(sim_calls(sim).values())


def create(client: openai.OpenAI, messages: list[dict[str, str]], **kwargs):
    kwargs.setdefault("temperature", 0)
    return client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, max_tokens=60, **kwargs)


def test_the_second_identical_request_is_a_hit_with_no_upstream_call_and_no_cost(client, sim) -> None:
    messages = ask()
    first = create(client, messages)
    assert first.headers["x-gateway-cache"] == "miss"
    assert float(first.headers["x-gateway-cost-usd"]) > 0
    calls = upstream_calls(sim)
    second = create(client, messages)
    assert second.headers["x-gateway-cache"] == "hit"
    assert upstream_calls(sim) == calls
    assert float(second.headers["x-gateway-cost-usd"]) == 0
    assert second.headers["x-gateway-model"] == first.headers["x-gateway-model"] == MODEL
    a, b = first.parse(), second.parse()
    assert b.choices[0].message.content == a.choices[0].message.content
    assert b.choices[0].finish_reason == a.choices[0].finish_reason
    assert b.usage.completion_tokens == a.usage.completion_tokens  # the answer's own usage


def test_another_temperature_or_other_messages_miss(client) -> None:
    messages = ask()
    assert create(client, messages).headers["x-gateway-cache"] == "miss"
    assert create(client, messages, seed=3, temperature=0.5).headers["x-gateway-cache"] == "miss"
    assert create(client, messages, seed=3, temperature=0.5).headers["x-gateway-cache"] == "hit"
    assert create(client, [*messages[:1], {"role": "user", "content": "Other."}],
                  seed=11).headers["x-gateway-cache"] == "miss"
    # sampling without a seed depends on chance: not cached unless the client asks for it
    assert create(client, messages, temperature=0.7).headers["x-gateway-cache"] == "skip"
    assert create(client, messages, temperature=0.7).headers["x-gateway-cache"] == "skip"
    used = {"extra_headers": {"x-gateway-cache": "use"}, "temperature": 0.7}
    assert create(client, messages, **used).headers["x-gateway-cache"] == "miss"
    assert create(client, messages, **used).headers["x-gateway-cache"] == "hit"


def test_no_store_and_refresh(client, sim) -> None:
    messages = ask()
    no_store = {"extra_headers": {"x-gateway-cache": "no-store"}}
    assert create(client, messages, **no_store).headers["x-gateway-cache"] == "skip"
    assert create(client, messages).headers["x-gateway-cache"] == "miss"  # no-store wrote nothing
    assert create(client, messages, **no_store).headers["x-gateway-cache"] == "skip"  # nor reads
    calls = upstream_calls(sim)
    refresh = create(client, messages, extra_headers={"x-gateway-cache": "refresh"})
    assert refresh.headers["x-gateway-cache"] == "miss" and upstream_calls(sim) == calls + 1
    assert create(client, messages).headers["x-gateway-cache"] == "hit"


def test_a_bad_cache_header_is_a_400_in_the_clients_format(client) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        create(client, ask(), extra_headers={"x-gateway-cache": "sometimes"})
    assert err.value.code == "invalid_cache_mode"


def test_scope_key_another_key_misses(client, gateway) -> None:
    messages = ask()
    assert create(client, messages).headers["x-gateway-cache"] == "miss"
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=OTHER_KEY, max_retries=0) as other:
        assert create(other, messages).headers["x-gateway-cache"] == "miss"
        assert create(other, messages).headers["x-gateway-cache"] == "hit"


def test_a_streamed_miss_is_stored_and_a_streamed_hit_reassembles_to_the_same_text(client, sim) -> None:
    messages = ask()
    options = {"stream": True, "stream_options": {"include_usage": True}}
    raw = create(client, messages, **options)
    assert raw.headers["x-gateway-cache"] == "miss"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    calls = upstream_calls(sim)
    raw = create(client, messages, **options)
    assert raw.headers["x-gateway-cache"] == "hit"
    replayed = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in replayed if c.choices) == text
    assert replayed[-1].usage is not None and replayed[-1].usage.completion_tokens == chunks[-1].usage.completion_tokens
    whole = create(client, messages)  # the streamed answer serves a whole request too
    assert whole.headers["x-gateway-cache"] == "hit" and whole.parse().choices[0].message.content == text
    assert upstream_calls(sim) == calls


def test_an_anthropic_client_hits_its_own_entries_not_an_openai_clients(client, gateway, sim) -> None:
    """The client's own body is part of the key (fields the canonical form does not hold decide
    the answer too): an Anthropic client's repeat is a hit, whole and streamed, and the same
    question an OpenAI client stored is not its entry."""
    messages = ask()
    create(client, messages)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as claude:
        def ask_claude() -> Any:
            return claude.messages.with_raw_response.create(model=MODEL, system=messages[0]["content"], max_tokens=60,
                                                            extra_body={"temperature": 0}, messages=[messages[1]])
        first = ask_claude()
        assert first.headers["x-gateway-cache"] == "miss"
        stored = first.parse().content[0].text
        calls = upstream_calls(sim)
        again = ask_claude()
        assert again.headers["x-gateway-cache"] == "hit" and again.parse().content[0].text == stored
        with claude.messages.stream(model=MODEL, system=messages[0]["content"], max_tokens=60,
                                    extra_body={"temperature": 0},
                                    messages=[messages[1]]) as stream:
            assert stream.get_final_text() == stored
        top_k = claude.messages.with_raw_response.create(model=MODEL, system=messages[0]["content"], max_tokens=60,
                                                         extra_body={"temperature": 0, "top_k": 5},
                                                         messages=[messages[1]])
        assert top_k.headers["x-gateway-cache"] == "miss"  # a field only the Messages API has decides too
    assert upstream_calls(sim) == calls + 1


def test_a_failed_or_cut_answer_is_not_stored(client, sim) -> None:
    messages = ask()
    sim_set(sim, MODEL, fail_status=500)
    with pytest.raises(openai.APIStatusError):
        create(client, messages)
    sim_set(sim, MODEL, fail_status=None, stream_cut_after=2)
    raw = create(client, messages, stream=True)
    assert raw.headers["x-gateway-cache"] == "miss"
    with pytest.raises(openai.APIError):
        list(raw.parse())
    sim_set(sim, MODEL, stream_cut_after=None)
    calls = upstream_calls(sim)
    assert create(client, messages).headers["x-gateway-cache"] == "miss"
    assert upstream_calls(sim) == calls + 1


def test_the_cache_counts_in_the_metrics(client, gateway) -> None:
    messages = ask()
    create(client, messages)
    create(client, messages)
    text = urllib_get(f"{gateway.url}/metrics")
    assert 'gateway_cache_requests_total{result="hit"' in text and 'result="miss"' in text


def urllib_get(url: str) -> str:
    import urllib.request
    return urllib.request.urlopen(url).read().decode()


def test_with_the_cache_off_nothing_changes(gateway_off, sim, redis_url) -> None:
    messages = ask()
    with openai.OpenAI(base_url=f"{gateway_off.url}/v1", api_key=DEMO_KEY, max_retries=0) as off:
        calls = upstream_calls(sim)
        for _ in range(2):
            raw = create(off, messages)
            assert "x-gateway-cache" not in raw.headers and float(raw.headers["x-gateway-cost-usd"]) > 0
        assert upstream_calls(sim) == calls + 2
    engine = redis.Redis.from_url(redis_url)
    assert list(engine.scan_iter("nocache:cache:*")) == list(engine.scan_iter("{nocache}:cache:*")) == []
