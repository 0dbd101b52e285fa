"""A Responses client's hosted web search on every provider, without a server: the tool → the
canonical `web_search_options` (gateway/inbound/responses/search.py), the searches Claude and
Gemini ran → `web_search_call` items in the canonical answer (their adapters), and those items →
the Response's output and stream events, checked against the openai SDK's own types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response

from gateway.config import ApiKey, ResponseCache
from gateway.errors import GatewayError
from gateway.inbound.responses import Responses
from gateway.inbound.responses.request import canonical_body
from gateway.pipeline.cache import SKIP, intent
from gateway.pipeline.searches import DEFAULT_SEARCHES, declared_searches
from gateway.providers import search_options
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.base import NATIVE, native_only
from gateway.providers.gemini import adapter as gemini
from gateway.providers.openai_responses import adapter as responses
from gateway.providers.openai_responses.request import REASONING
from gateway.routing.needs import request_needs
from tests.providers.helpers import deployment, run_decoder
from tests.providers.test_web_search import CLAUDE, GEMINI, GROUNDING, SEARCHED, TEXT, _answer, _events, _sse
from tests.test_inbound_responses import events

WHERE = {"type": "approximate", "city": "Lisbon", "country": "PT", "timezone": "Europe/Lisbon"}
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
RESPONSES_DEP = deployment("openai_responses", "gpt-5.4", "https://api.openai.com/v1")


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "input": "Lisbon ferry fares?", **fields}


def parse(**fields: Any) -> Any:
    return Responses().parse(orjson.dumps(body(**fields)))


def refused(**fields: Any) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        canonical_body(body(**fields))
    assert err.value.status == 400
    return err.value


# ------------------------------------------------------------------------------------ the request

@pytest.mark.parametrize("kind", ["web_search", "web_search_preview", "web_search_2025_08_26"])
def test_the_hosted_tool_becomes_web_search_options(kind: str) -> None:
    chat = canonical_body(body(tools=[{"type": kind, "search_context_size": "low", "user_location": WHERE}]))
    assert chat["web_search_options"] == {"search_context_size": "low", "user_location": {
        "type": "approximate", "approximate": {"city": "Lisbon", "country": "PT", "timezone": "Europe/Lisbon"}}}
    assert "tools" not in chat  # the hosted tool is no function
    assert canonical_body(body(tools=[{"type": kind}]))["web_search_options"] == {}
    assert "web_search_options" not in canonical_body(body(tools=[WEATHER]))


def test_the_search_sits_beside_function_tools_and_their_choice() -> None:
    chat = canonical_body(body(tools=[WEATHER, {"type": "web_search"}], tool_choice="auto"))
    assert chat["web_search_options"] == {} and [t["function"]["name"] for t in chat["tools"]] == ["get_weather"]
    assert chat["tool_choice"] == "auto"


def test_a_tool_choice_naming_the_search_offers_it() -> None:
    """No provider but OpenAI's can be made to search: the choice offers the search, as auto does."""
    for tools in ([{"type": "web_search"}], [WEATHER, {"type": "web_search"}]):
        chat = canonical_body(body(tools=tools, tool_choice={"type": "web_search"}))
        assert chat["web_search_options"] == {} and "tool_choice" not in chat
    chat = canonical_body(body(tools=[{"type": "web_search_preview"}], tool_choice="required"))
    assert chat["web_search_options"] == {} and "tool_choice" not in chat
    # "none": no tool at all, so no search either
    assert "web_search_options" not in canonical_body(body(tools=[{"type": "web_search"}], tool_choice="none"))
    err = refused(tools=[WEATHER], tool_choice={"type": "web_search_preview"})
    assert err.param == "tool_choice" and "web_search_preview" in err.message


@pytest.mark.parametrize("tool, param", [
    ({"search_context_size": "huge"}, "tools[0].search_context_size"),
    ({"user_location": "Lisbon"}, "tools[0].user_location"),
    ({"user_location": {"type": "approximate", "city": 7}}, "tools[0].user_location.city"),
    ({"filters": ["example.com"]}, "tools[0].filters"),
    ({"filters": {"allowed_domains": "example.com"}}, "tools[0].filters.allowed_domains"),
])
def test_a_malformed_search_tool_is_a_400_naming_its_field(tool: dict[str, Any], param: str) -> None:
    assert refused(tools=[{"type": "web_search", **tool}]).param == param


def test_the_native_body_keeps_the_clients_own_tool() -> None:
    tool = {"type": "web_search", "search_context_size": "high", "user_location": WHERE}
    chat = parse(tools=[tool], tool_choice={"type": "web_search"})
    native = chat.body[NATIVE]["body"]
    assert native["tools"] == [tool] and native["tool_choice"] == {"type": "web_search"}
    sent = orjson.loads(responses.to_upstream(chat.body, RESPONSES_DEP, False).body)
    assert sent["tools"] == [tool] and sent["tool_choice"] == {"type": "web_search"}
    assert native_only(chat.body) is None  # any searching provider may serve it


def test_routing_reservation_and_cache_treat_it_as_a_chat_search() -> None:
    chat = parse(tools=[{"type": "web_search"}], temperature=0)
    assert "web_search" in request_needs(chat.body)
    assert declared_searches(chat.body) == DEFAULT_SEARCHES
    key = ApiKey(name="demo", sha256=b"\0" * 32)
    assert intent(ResponseCache(enabled=True), {}, chat, key) is SKIP  # a search is never cached
    assert intent(ResponseCache(enabled=True), {}, parse(temperature=0), key) is not SKIP


def test_a_domain_filter_keeps_the_request_on_responses_deployments() -> None:
    """Chat's web_search_options has no domains and Gemini's search no filter: rather than search the
    whole web, the request stays where the client's own tool is sent."""
    tool = {"type": "web_search", "filters": {"allowed_domains": ["pubmed.ncbi.nlm.nih.gov"]}}
    chat = parse(tools=[WEATHER, tool])
    assert native_only(chat.body) == ("openai_responses", "tools[1].filters.allowed_domains")
    assert native_only(parse(tools=[{"type": "web_search", "filters": {"allowed_domains": []}}]).body) is None


# ------------------------------------------------------------------------ the answer's search items

def items(message: dict[str, Any]) -> list[dict[str, Any]]:
    return message.get(REASONING) or []


def test_claude_says_each_search_it_ran() -> None:
    message = anthropic.from_upstream(orjson.dumps(SEARCHED), CLAUDE)[0]["choices"][0]["message"]
    [item] = items(message)
    assert item["type"] == "web_search_call" and item["status"] == "completed"
    assert item["action"] == {"type": "search", "query": "q"} and search_options.is_ours(item)
    failed = {**SEARCHED, "content": [*SEARCHED["content"][:2], {
        "type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
        "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}]}
    assert [i["status"] for i in items(anthropic.from_upstream(orjson.dumps(failed), CLAUDE)[0]["choices"][0]["message"])] \
        == ["failed"]
    plain = {**SEARCHED, "content": [SEARCHED["content"][0]]}
    assert REASONING not in anthropic.from_upstream(orjson.dumps(plain), CLAUDE)[0]["choices"][0]["message"]


def test_a_claude_stream_says_the_search_before_the_text_it_read() -> None:
    streamed = {**SEARCHED, "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        *SEARCHED["content"][2:]]}
    transcript = _events(streamed)
    fragments = [(b"content_block_delta", orjson.dumps({"type": "content_block_delta", "index": 0, "delta": {
        "type": "input_json_delta", "partial_json": piece}})) for piece in ('{"query": "fer', 'ry fares"}')]
    transcript[2:2] = fragments  # the call's input, in pieces, before its block stops
    chunks = run_decoder(anthropic.StreamDecoder(CLAUDE, include_usage=True), transcript)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    at = next(i for i, d in enumerate(deltas) if REASONING in d)
    [item] = deltas[at][REASONING]
    assert item["action"]["query"] == "ferry fares" and item["status"] == "completed"
    assert at < next(i for i, d in enumerate(deltas) if d.get("content"))


def test_gemini_says_each_search_query() -> None:
    grounded = _answer([{"text": TEXT}], {**GROUNDING, "webSearchQueries": ["ferry lisbon", "ferry prices"]})
    message = gemini.from_upstream(orjson.dumps(grounded), GEMINI)[0]["choices"][0]["message"]
    assert [i["action"]["query"] for i in items(message)] == ["ferry lisbon", "ferry prices"]
    assert REASONING not in gemini.from_upstream(orjson.dumps(_answer([{"text": TEXT}], None)),
                                                 GEMINI)[0]["choices"][0]["message"]


def test_the_responses_api_never_gets_the_gateways_search_items() -> None:
    """It did not run those searches: sent back with a conversation (stored, or by the client) to a
    Responses deployment, they are left out; its own items go as they came."""
    ours, theirs = search_options.search_call("q"), {"id": "ws_0a1b", "type": "web_search_call",
                                                     "status": "completed", "action": {"type": "search", "query": "q"}}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"},
                                       {"role": "assistant", "content": "Done.", REASONING: [ours, theirs]}]}
    sent = orjson.loads(responses.to_upstream(chat, RESPONSES_DEP, False).body)
    assert [i.get("id") for i in sent["input"] if i.get("type") == "web_search_call"] == ["ws_0a1b"]
    client = parse(input=[{"role": "user", "content": "hi"}, ours, theirs,
                          {"role": "user", "content": "more?"}], tools=[{"type": "web_search"}])
    sent = orjson.loads(responses.to_upstream(client.body, RESPONSES_DEP, False).body)
    assert [i.get("id") for i in sent["input"] if i.get("type") == "web_search_call"] == ["ws_0a1b"]


# --------------------------------------------------------------------------- the Responses answer

def test_the_response_shows_the_search_before_the_message() -> None:
    inbound = Responses()
    chat = inbound.parse(orjson.dumps(body(tools=[{"type": "web_search"}])))
    answer = anthropic.from_upstream(orjson.dumps(SEARCHED), CLAUDE)[0]
    done = Response.model_validate(orjson.loads(inbound.reply(answer, chat)))
    assert [o.type for o in done.output] == ["web_search_call", "message"]
    assert done.output[0].status == "completed" and done.output[0].action.query == "q"
    notes = done.output[1].content[0].annotations
    assert notes and {n.url for n in notes} == {"https://a.example/", "https://b.example/", "https://c.example/"}


def _streamed(decoder: Any, transcript: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """The Responses events of a provider's stream, through its decoder and the Responses encoder."""
    inbound = Responses()
    encoder = inbound.stream(inbound.parse(orjson.dumps(body(tools=[{"type": "web_search"}], stream=True))))
    frames = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in run_decoder(decoder, transcript))
    return events(encoder.feed(frames) + encoder.finish())  # each checked against the SDK's event types


def test_a_streamed_claude_search_sends_its_progress_then_the_message() -> None:
    got = _streamed(anthropic.StreamDecoder(CLAUDE, include_usage=True), _events(SEARCHED))
    kinds = [e["type"] for e in got]
    search = [k for k in kinds if "web_search_call" in k]
    assert search == ["response.web_search_call.in_progress", "response.web_search_call.searching",
                      "response.web_search_call.completed"]
    added = next(e for e in got if e["type"] == "response.output_item.added" and e["item"]["type"] == "web_search_call")
    assert added["item"]["status"] == "in_progress"
    at = kinds.index("response.web_search_call.in_progress")
    assert kinds[at - 1] == "response.output_item.added" and kinds[at + 3] == "response.output_item.done"
    assert all(e["item_id"] == added["item"]["id"] for e in got if "web_search_call" in e["type"])
    final = Response.model_validate(got[-1]["response"])
    # Claude wrote a text block before it searched: the message it opened closes first
    assert [o.type for o in final.output] == ["message", "web_search_call", "message"]
    assert final.output[1].status == "completed" and final.output[1].action.query == "q"


def test_a_streamed_gemini_search_follows_the_message_it_grounds() -> None:
    pieces = ["Le ferry coûte 2 ", "€ — dès mai. 東", "京 too."]
    docs = [{"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}], "responseId": "r1"}
            for p in pieces]
    last = _answer([])
    docs.append(last)
    got = _streamed(gemini.StreamDecoder(GEMINI, include_usage=True), _sse(docs))
    final = Response.model_validate(got[-1]["response"])
    assert [o.type for o in final.output] == ["message", "web_search_call"]  # Gemini says it at the end
    assert final.output[0].content[0].text == TEXT and final.output[0].content[0].annotations
    assert final.output[1].action.query == "ferry prices lisbon"
    kinds = [e["type"] for e in got]
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.web_search_call.in_progress")
