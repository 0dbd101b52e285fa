"""`prompt_cache: auto` end to end: the openai SDK (a chat client, which has no way to mark a
prompt for Claude's cache) and the anthropic SDK → the gateway → the simulator's Messages API
and Bedrock Converse, which cache only a prefix the request marks and bill its writes and reads
as the APIs do. A conversation's later turns read what the earlier ones wrote, and cost less
than the same turns on a deployment without the setting; a client's own marks are left alone."""

from __future__ import annotations

from typing import Any, Iterator

import anthropic
import openai
import pytest

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_requests, sim_reset, start_gateway

CONVERSE_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SYSTEM = " ".join(f"Rule {i}: answer about the harbour timetable, quote the ferry line, keep it short."
                  for i in range(80))  # ~6,500 characters: over Claude's 1,024-token minimum
QUESTIONS = ["When does the first ferry leave?", "And on Sundays?", "Is there a night boat?"]


def config(sim: Proc) -> str:
    base = sim.url
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: pcache, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  anthropic: {{format: anthropic, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  bedrock: {{format: bedrock, base_url: "{base}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
models:
  claude-auto: {{provider: anthropic, upstream: claude-sonnet-4-5, prompt_cache: auto,
                price: {{input: 3, output: 15, cached_input: 0.3}}}}
  claude-plain: {{provider: anthropic, upstream: claude-sonnet-4-5, price: {{input: 3, output: 15, cached_input: 0.3}}}}
  converse-auto: {{provider: bedrock, upstream: "{CONVERSE_CLAUDE}", prompt_cache: auto,
                  price: {{input: 3, output: 15, cached_input: 0.3}}}}
  converse-plain: {{provider: bedrock, upstream: "{CONVERSE_CLAUDE}", price: {{input: 3, output: 15, cached_input: 0.3}}}}
routes:
  auto: {{primary: claude-auto}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("pcache"), config(sim), redis_url) as proc:
        yield proc


def conversation(client: openai.OpenAI, model: str) -> list[tuple[int, int, float]]:
    """Three turns of one conversation: (prompt tokens, cached tokens, cost) of each."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    turns = []
    for question in QUESTIONS:
        messages.append({"role": "user", "content": question})
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=40)
        answer = raw.parse()
        assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
        turns.append((answer.usage.prompt_tokens, answer.usage.prompt_tokens_details.cached_tokens or 0,
                      float(raw.headers["x-gateway-cost-usd"])))
        messages.append({"role": "assistant", "content": answer.choices[0].message.content})
    return turns


def marks(body: dict[str, Any]) -> int:
    """How many cache marks an upstream Messages or Converse body carries."""
    blocks = [*(body.get("tools") or ()), *(body.get("system") if isinstance(body.get("system"), list) else ()),
              *((body.get("toolConfig") or {}).get("tools") or ())]
    for m in body.get("messages") or ():
        blocks += m["content"] if isinstance(m.get("content"), list) else []
    return sum(1 for b in blocks if isinstance(b, dict) and ("cache_control" in b or "cachePoint" in b))


@pytest.mark.parametrize("auto, plain", [("claude-auto", "claude-plain"), ("converse-auto", "converse-plain")])
def test_later_turns_read_what_earlier_turns_wrote(client: openai.OpenAI, sim: Proc, auto: str, plain: str) -> None:
    sim_reset(sim)
    cached = conversation(client, auto)
    sent = [r["body"] for r in sim_requests(sim, last=3)]
    # the first turn marks its system prompt only; later turns also the previous and the last user turn
    assert [marks(body) for body in sent] == [1, 3, 3]
    (p1, c1, _), (p2, c2, _), (p3, c3, _) = cached
    assert c1 == 0 and 0 < c2 < p2 and c2 < c3 < p3  # the system prompt, then the conversation too
    sim_reset(sim)
    uncached = conversation(client, plain)
    assert [marks(r["body"]) for r in sim_requests(sim, last=3)] == [0, 0, 0]
    assert all(c == 0 for _, c, _ in uncached)
    assert [p for p, _, _ in uncached] == [p1, p2, p3]  # the same prompts
    assert cached[0][2] > uncached[0][2]  # the first write costs 1.25x the input price...
    assert cached[1][2] < uncached[1][2] and cached[2][2] < uncached[2][2]  # ...and every read a tenth


def test_a_clients_own_marks_are_its_plan(gateway: Proc, sim: Proc) -> None:
    """Claude Code marks its prompt itself: the gateway sends its marks as they came and adds none;
    a Messages client that marks nothing gets the gateway's."""
    sim_reset(sim)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as claude:
        system = [{"type": "text", "text": SYSTEM}]
        ask = [{"role": "user", "content": QUESTIONS[0]}]
        own = [{**system[0], "cache_control": {"type": "ephemeral"}}]
        first = claude.messages.create(model="claude-auto", max_tokens=40, system=own, messages=ask)
        assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
        sent = sim_requests(sim, last=1)[0]["body"]
        assert sent["system"] == own and marks(sent) == 1
        again = claude.messages.create(model="claude-auto", max_tokens=40, system=system, messages=ask)
        assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
        sent = sim_requests(sim, last=1)[0]["body"]
        assert sent["system"] == own  # the gateway's mark, where the client had put its own
