"""Native Anthropic answers end to end: the official `anthropic` SDK → the gateway → the simulator's
Anthropic, Vertex Claude and Bedrock InvokeModel paths, over real HTTP. What only Anthropic answers
carry (the web search tool's `server_tool_use` and `web_search_tool_result` blocks, citations,
`usage.server_tool_use`, `citations_delta` in streams) reaches the SDK's typed message, streamed
or not, and the spend is read from the same answer; a chain that falls from Claude to an
OpenAI-format model still answers in Anthropic's shape; a request naming a container stays on
Claude, and count_tokens refuses a file it cannot count. The web search is priced: $10 per 1,000
searches on top of the tokens, in the cost header and the spend, and reserved up to `max_uses`."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any, Iterator

import anthropic
import pytest
import redis

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_reset, sim_set, start_gateway

MODELS = {  # gateway model: (provider, upstream)
    "claude-opus-4.7": ("anthropic", "claude-opus-4.7"),
    "claude-vertex": ("vertex", "claude-sonnet-4-5@20250929"),
    "claude-bedrock": ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
}
PRICE = (15_000_000, 75_000_000, 1_500_000)  # micro-dollars per million: input, output, cached input
SEARCH_MICRO = 10_000  # one web search: the default $10 per 1,000 for Claude
BUDGET_KEY = "sk-anat-budget"  # $0.035 a day: a 300-token answer fits (~$0.024), with 2 searches it does not
SEARCH: Any = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
ASK: Any = [{"role": "user", "content": "Who won the latest regatta on the lake?"}]


def config(sim: Proc) -> str:
    base = sim.url
    # Claude on Bedrock searches when its `supports` says so (config WEB_SEARCH_OPT_IN), as the simulator's does
    opt_in = ", supports: [vision, audio, files, tools, json_schema, web_search]"
    models = "\n".join(f'  {name}: {{provider: {p}, upstream: "{up}", price: {{input: 15, output: 75, '
                       f'cached_input: 1.5}}{opt_in if p == "bedrock" else ""}}}' for name, (p, up) in MODELS.items())
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: anat, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  anthropic: {{format: anthropic, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  vertex: {{format: vertex_anthropic, project: proj-1, location: us-east5, base_url: "{base}",
           api_key_env: SIMULATOR_API_KEY}}
  bedrock: {{format: bedrock_anthropic, base_url: "{base}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
  openai: {{format: openai, base_url: {base}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
{models}
  gpt-5.4-mini: {{provider: openai, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: claude-opus-4.7, fallbacks: [gpt-5.4-mini]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
  - {{name: budget, sha256: {hashlib.sha256(BUDGET_KEY.encode()).hexdigest()}, daily_budget_usd: 0.035}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim), redis_url) as proc:
        yield proc


@pytest.fixture
def client(gateway: Proc, sim: Proc) -> Iterator[anthropic.Anthropic]:
    sim_reset(sim)
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as c:
        yield c


def cost(usage: anthropic.types.Usage) -> float:
    pin, pout, pcached = PRICE
    cached = usage.cache_read_input_tokens or 0
    searches = usage.server_tool_use.web_search_requests if usage.server_tool_use else 0
    scaled = usage.input_tokens * pin + cached * pcached + usage.output_tokens * pout + searches * SEARCH_MICRO * 1_000_000
    return math.ceil(scaled / 1_000_000) / 1e6


@pytest.mark.parametrize("model", MODELS)
def test_web_search_blocks_and_citations_reach_the_sdk(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(model=model, max_tokens=300, messages=ASK, tools=[SEARCH])
    msg = raw.parse()
    call, found, text = msg.content
    assert isinstance(call, anthropic.types.ServerToolUseBlock) and call.input == {"query": ASK[0]["content"]}
    assert isinstance(found, anthropic.types.WebSearchToolResultBlock) and found.tool_use_id == call.id
    assert found.content[0].encrypted_content and found.content[0].page_age
    assert isinstance(text, anthropic.types.TextBlock) and text.text
    assert text.citations[0].url == found.content[0].url and text.citations[0].encrypted_index
    assert msg.usage.server_tool_use.web_search_requests == 1 and msg.usage.service_tier == "standard"
    assert msg.model == MODELS[model][1]  # the deployment's upstream model, as a canonical answer says it
    assert raw.headers["x-gateway-model"] == model and raw.headers["x-gateway-provider"] == MODELS[model][0]
    # the spend is read from the same answer: its input counts the search results
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(cost(msg.usage), abs=1e-9)

    with client.messages.stream(model=model, max_tokens=300, messages=ASK, tools=[SEARCH]) as stream:
        kinds = [(event.type, getattr(getattr(event, "delta", None), "type", None)) for event in stream]
        final = stream.get_final_message()
    assert ("content_block_delta", "citations_delta") in kinds and kinds[-1][0] == "message_stop"
    assert final.model_dump() == {**msg.model_dump(), "id": final.id}  # the same message, block by block


def test_web_searches_are_charged_in_the_header_and_the_spend_and_reserved(
        client: anthropic.Anthropic, gateway: Proc, redis_url: str) -> None:
    state = redis.Redis.from_url(redis_url)
    spend = f"{{anat}}:spend:{time.strftime('%Y-%m-%d', time.gmtime())}"
    before = int(state.hget(spend, "cost:key:demo") or 0)
    raw = client.messages.with_raw_response.create(model="claude-opus-4.7", max_tokens=300, messages=ASK,
                                                   tools=[SEARCH])
    msg = raw.parse()
    charged = round(float(raw.headers["x-gateway-cost-usd"]) * 1e6)
    pin, pout, _ = PRICE
    tokens = math.ceil((msg.usage.input_tokens * pin + msg.usage.output_tokens * pout) / 1_000_000)
    assert msg.usage.server_tool_use.web_search_requests == 1 and charged == tokens + SEARCH_MICRO
    # settle runs after the answer: the key's spend grows by the same integer, search included
    deadline = time.monotonic() + 10
    while int(state.hget(spend, "cost:key:demo") or 0) - before < charged and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(state.hget(spend, "cost:key:demo") or 0) - before == charged

    # the reservation counts max_uses searches: on a $0.035 budget the tokens alone fit, with
    # two searches the worst case does not
    with anthropic.Anthropic(base_url=gateway.url, api_key=BUDGET_KEY, max_retries=0) as tight:
        with pytest.raises(anthropic.RateLimitError) as refused:
            tight.messages.create(model="claude-opus-4.7", max_tokens=300, messages=ASK,
                                  tools=[{**SEARCH, "max_uses": 2}])
        assert "budget" in str(refused.value).lower()
        assert tight.messages.create(model="claude-opus-4.7", max_tokens=300, messages=ASK).content


def test_a_fallback_to_an_openai_model_answers_in_anthropics_shape(client: anthropic.Anthropic, sim: Proc) -> None:
    sim_set(sim, "claude-opus-4.7", fail_status=503)
    raw = client.messages.with_raw_response.create(model="auto", max_tokens=300, messages=ASK, tools=[SEARCH])
    msg = raw.parse()
    assert raw.headers["x-gateway-provider"] == "openai" and msg.model == "gpt-5.4-mini"
    assert [b.type for b in msg.content] == ["text"] and msg.usage.server_tool_use is None  # no search there
    with client.messages.stream(model="auto", max_tokens=300, messages=ASK, tools=[SEARCH]) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == msg.content[0].text and final.stop_reason == "end_turn"


def test_a_container_keeps_the_request_on_claude(client: anthropic.Anthropic, sim: Proc) -> None:
    ask: Any = {"model": "auto", "max_tokens": 300, "messages": ASK, "extra_body": {"container": "container_01abc"}}
    assert client.messages.create(**ask).content[0].text  # Claude answers it (the simulator ignores it)
    sim_set(sim, "claude-opus-4.7", fail_status=503)
    with pytest.raises(anthropic.InternalServerError):  # Claude down: no fallback to a model without it
        client.messages.create(**ask)
    assert sim_calls(sim).get("gpt-5.4-mini", 0) == 0
    file_doc = {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8"}}
    with pytest.raises(anthropic.BadRequestError, match="Files API file"):  # its tokens are at the provider
        client.messages.count_tokens(model="auto", messages=[{"role": "user", "content": [
            file_doc, {"type": "text", "text": "Summarise it."}]}])
