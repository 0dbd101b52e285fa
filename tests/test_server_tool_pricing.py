"""Server-side web searches are priced: per format, the count read from the answer (whole and
streamed), the cost arithmetic (per call, or once per request for Gemini 2.x), the config's
defaults and the reservation's bound read from the request."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from gateway.config import Price, parse_config
from gateway.pipeline.searches import DEFAULT_SEARCHES, declared_searches
from gateway.pricing import Usage, cost_micro, max_cost_micro
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.anthropic.stream import StreamDecoder as AnthropicStream
from gateway.providers.base import NATIVE
from gateway.providers.gemini import adapter as gemini
from gateway.providers.gemini.stream import StreamDecoder as GeminiStream
from gateway.providers.openai_responses import adapter as responses
from gateway.providers.openai_responses.response import StreamDecoder as ResponsesStream
from tests.procs import config_yaml
from tests.providers.helpers import deployment, events, golden_bytes, run_decoder

TOKENS = Price(input=3_000_000, output=15_000_000, cached_input=300_000, web_search=10_000_000)  # $10 / 1,000


def test_a_search_costs_its_price_per_call_on_top_of_the_tokens() -> None:
    # 1,000 in + 100 out at $3 / $15 = 4,500 µ$; two searches at $10 per 1,000 = 20,000 µ$
    assert cost_micro(Usage(1000, 100, web_searches=2), TOKENS) == 4_500 + 20_000
    assert cost_micro(Usage(1000, 100), TOKENS) == 4_500
    odd = Price(input=0, output=0, cached_input=0, web_search=14_000_000 + 1)  # rounds up, never under
    assert cost_micro(Usage(web_searches=1), odd) == 14_001
    per_prompt = Price(input=0, output=0, cached_input=0, web_search=35_000_000, web_search_per_request=True)
    assert cost_micro(Usage(web_searches=3), per_prompt) == 35_000  # Gemini 2.x: once per grounded prompt
    assert max_cost_micro(1000, 100, TOKENS, searches=5) == 3_000 + 1_500 + 50_000
    assert max_cost_micro(1000, 100, per_prompt, searches=5) == 35_000


def test_anthropic_counts_web_search_requests_whole_and_streamed() -> None:
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    _, usage = anthropic.from_upstream(golden_bytes("anthropic/message_web_search.json"), dep)
    assert usage.web_searches == 1 and usage.prompt_tokens == 5012
    decoder = AnthropicStream(dep, include_usage=True)
    run_decoder(decoder, events("anthropic/stream_web_search.sse"))
    assert decoder.usage.web_searches == 1
    # an API version that sends only the output count and the searches at the end
    decoder = AnthropicStream(dep, include_usage=True)
    start = {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 10, "output_tokens": 1}}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
           "usage": {"output_tokens": 7, "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 2}}}
    for doc in (start, end, {"type": "message_stop"}):
        decoder.feed(doc["type"].encode(), orjson.dumps(doc))
    assert (decoder.usage.prompt_tokens, decoder.usage.completion_tokens, decoder.usage.web_searches) == (10, 7, 3)


SEARCH_CALL = {"id": "ws_1", "type": "web_search_call", "status": "completed",
               "action": {"type": "search", "query": "regatta"}}
RESPONSE: Any = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5.5",
                 "output": [SEARCH_CALL, {**SEARCH_CALL, "id": "ws_2"},
                            {"id": "msg_1", "type": "message", "role": "assistant",
                             "content": [{"type": "output_text", "text": "Blue won.", "annotations": []}]}],
                 "usage": {"input_tokens": 900, "output_tokens": 20}}


def test_responses_count_web_search_call_items_whole_and_streamed() -> None:
    dep = deployment("openai_responses", "gpt-5.5", "https://api.openai.com/v1")
    _, usage = responses.from_upstream(orjson.dumps(RESPONSE), dep)
    assert usage.web_searches == 2 and usage.prompt_tokens == 900
    stream: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**RESPONSE, "output": [], "usage": None}},
        {"type": "response.output_item.done", "output_index": 0, "item": SEARCH_CALL},
        {"type": "response.output_item.done", "output_index": 0, "item": SEARCH_CALL},  # a repeat counts once
        {"type": "response.output_item.done", "output_index": 1, "item": {**SEARCH_CALL, "id": "ws_2"}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Blue won."},
        {"type": "response.completed", "response": {**RESPONSE, "output": []}}]
    decoder = ResponsesStream(dep, include_usage=True)
    run_decoder(decoder, [(e["type"].encode(), orjson.dumps(e)) for e in stream])
    assert decoder.usage.web_searches == 2 and decoder.usage.completion_tokens == 20


def grounded(queries: list[str], text: str = "Blue won.", finish: str | None = "STOP") -> dict[str, Any]:
    cand: dict[str, Any] = {"index": 0, "content": {"role": "model", "parts": [{"text": text}]},
                            "groundingMetadata": {"webSearchQueries": queries}}
    if finish:
        cand["finishReason"] = finish
    return {"responseId": "r1", "candidates": [cand],
            "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 5}}


def test_gemini_counts_grounding_queries_whole_and_streamed_once() -> None:
    dep = deployment("gemini", "gemini-3-flash", "https://generativelanguage.googleapis.com")
    _, usage = gemini.from_upstream(orjson.dumps(grounded(["a", "b", "c"])), dep)
    assert usage.web_searches == 3
    _, plain = gemini.from_upstream(orjson.dumps({**grounded([]), "candidates": [{"index": 0, "finishReason": "STOP",
                                                  "content": {"parts": [{"text": "hi"}]}}]}), dep)
    assert plain.web_searches == 0
    decoder = GeminiStream(dep, include_usage=True)
    chunks = [grounded(["a", "b"], "Blue ", None), grounded(["a", "b"], "won.")]  # metadata repeated per chunk
    run_decoder(decoder, [(b"", orjson.dumps(c)) for c in chunks])
    assert decoder.usage.web_searches == 2


def test_price_defaults_per_format_and_overrides() -> None:
    doc = yaml.safe_load(config_yaml(9100, "t"))
    base = "https://example.invalid"
    doc["providers"].update({f: {"format": f, "base_url": base, "api_key_env": "SIMULATOR_API_KEY"}
                             for f in ("anthropic", "openai_responses", "gemini")})
    doc["models"].update({
        "claude": {"provider": "anthropic", "upstream": "claude-sonnet-4-6", "price": {"input": 3, "output": 15}},
        "resp": {"provider": "openai_responses", "upstream": "gpt-5.5", "price": {"input": 5, "output": 30}},
        "g3": {"provider": "gemini", "upstream": "gemini-3-flash", "price": {"input": 0.5, "output": 3}},
        "g25": {"provider": "gemini", "upstream": "gemini-2.5-pro", "price": {"input": 1.25, "output": 10}},
        "preview": {"provider": "openai_responses", "upstream": "gpt-4.1",
                    "price": {"input": 2, "output": 8, "web_search": 25}},
        "g25-q": {"provider": "gemini", "upstream": "gemini-2.5-flash",
                  "price": {"input": 0.3, "output": 2.5, "web_search": 14, "web_search_unit": "call"}},
    })
    deps = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"}).deployments
    got = {n: (deps[n].price.web_search, deps[n].price.web_search_per_request)
           for n in ("claude", "resp", "g3", "g25", "preview", "g25-q", "gpt-5.4-mini")}
    assert got == {"claude": (10_000_000, False), "resp": (10_000_000, False), "g3": (14_000_000, False),
                   "g25": (35_000_000, True), "preview": (25_000_000, False), "g25-q": (14_000_000, False),
                   "gpt-5.4-mini": (0, False)}


def test_a_chat_search_model_declared_per_request_is_charged_one_search_per_answer() -> None:
    doc = yaml.safe_load(config_yaml(9100, "t"))
    openai_provider = doc["models"]["gpt-5.4-mini"]["provider"]
    doc["providers"]["gemini"] = {"format": "gemini", "base_url": "https://example.invalid",
                                  "api_key_env": "SIMULATOR_API_KEY"}
    per_request = {"input": 2.5, "output": 10, "web_search": 35, "web_search_unit": "request"}
    doc["models"].update({
        "search": {"provider": openai_provider, "upstream": "gpt-4o-search-preview", "price": per_request},
        "undeclared": {"provider": openai_provider, "upstream": "gpt-4o-mini-search-preview",
                       "price": {"input": 0.15, "output": 0.6}},
        "g25": {"provider": "gemini", "upstream": "gemini-2.5-pro", "price": per_request},
    })
    deps = parse_config(doc, "c.yaml", {"SIMULATOR_API_KEY": "k"}).deployments
    every = {n: deps[n].price.web_search_every_request for n in ("search", "undeclared", "g25", "gpt-5.4-mini")}
    # only a chat-completions provider's answers carry no count: Gemini 2.x still counts grounded prompts
    assert every == {"search": True, "undeclared": False, "g25": False, "gpt-5.4-mini": False}
    price = deps["search"].price
    # 1,000 in + 100 out at $2.50 / $10 = 3,500 µ$, plus one search at $35 per 1,000 whatever the count
    assert cost_micro(Usage(1000, 100), price) == cost_micro(Usage(1000, 100, web_searches=3), price) == 38_500
    assert max_cost_micro(1000, 100, price) == 38_500  # the reservation holds it too
    assert cost_micro(Usage(1000, 100), deps["g25"].price) == 3_500  # Gemini: no grounding, no search charge


def native(fmt: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"model": "auto", "messages": [], NATIVE: {"format": fmt, "body": body, "headers": {}}}


def test_the_reservation_bound_comes_from_the_request() -> None:
    search = {"type": "web_search_20250305", "name": "web_search"}
    assert declared_searches(native("anthropic", {"tools": [{**search, "max_uses": 3}]})) == 3
    assert declared_searches(native("anthropic", {"tools": [search]})) == DEFAULT_SEARCHES
    assert declared_searches(native("anthropic", {"tools": [{**search, "max_uses": 0}]})) == 0
    assert declared_searches(native("anthropic", {"tools": [{"name": "f", "input_schema": {}}]})) == 0
    assert declared_searches(native("openai_responses", {"tools": [{"type": "web_search"}], "max_tool_calls": 2})) == 2
    assert declared_searches(native("openai_responses", {"tools": [{"type": "web_search_preview"}]})) == DEFAULT_SEARCHES
    assert declared_searches(native("gemini", {"tools": [{"google_search": {}}]})) == DEFAULT_SEARCHES
    assert declared_searches(native("gemini", {"tools": [{"functionDeclarations": []}]})) == 0
    assert declared_searches({"model": "auto", "messages": [], "tools": [{"type": "function"}]}) == 0
