"""OpenAI chat's `web_search_options` on every adapter: each provider's search tool in the request,
its citations back as chat `url_citation` annotations (whole and streamed) whose indices slice the
text they cite, and what admit reserves for it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.pipeline.searches import DEFAULT_SEARCHES, declared_searches
from gateway.providers import adapter_for
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.anthropic.search import MAX_USES
from gateway.providers.gemini import adapter as gemini
from gateway.providers.openai_responses import adapter as responses
from gateway.providers.vertex import vertex_anthropic, vertex_gemini
from tests.providers.helpers import deployment, events, golden_bytes, reassemble, run_decoder

CLAUDE = deployment("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com")
GEMINI = deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com")
RESPONSES = deployment("openai_responses", "gpt-5.4", "https://api.openai.com/v1")
ASK = [{"role": "user", "content": "Who won the lake regatta?"}]
WHERE = {"type": "approximate", "approximate": {"city": "Lisbon", "country": "PT", "region": "Lisbon",
                                                "timezone": "Europe/Lisbon"}}
FLAT_WHERE = {"type": "approximate", "city": "Lisbon", "country": "PT", "region": "Lisbon", "timezone": "Europe/Lisbon"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def sent(adapter: Any, chat: dict[str, Any], dep: Any) -> dict[str, Any]:
    return orjson.loads(adapter.to_upstream(chat, dep, False).body)


def cited(message: dict[str, Any]) -> list[tuple[str, str]]:
    """Each annotation as (url, the content it spans), checking its shape."""
    out = []
    for note in message.get("annotations") or ():
        assert note["type"] == "url_citation" and set(note["url_citation"]) == {"url", "title", "start_index",
                                                                                  "end_index"}
        cite = note["url_citation"]
        assert 0 <= cite["start_index"] <= cite["end_index"] <= len(message["content"])
        out.append((cite["url"], message["content"][cite["start_index"]:cite["end_index"]]))
    return out


def streamed_annotations(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for c in chunks for ch in c["choices"] for a in (ch["delta"].get("annotations") or ())]


# ------------------------------------------------------------------------------------ the options

@pytest.mark.parametrize("options, param", [
    ("yes", "web_search_options"),
    ({"search_context_size": "huge"}, "web_search_options.search_context_size"),
    ({"user_location": "Lisbon"}, "web_search_options.user_location"),
    ({"user_location": {"type": "approximate", "approximate": ["Lisbon"]}}, "web_search_options.user_location.approximate"),
])
@pytest.mark.parametrize("adapter, dep", [(anthropic, CLAUDE), (gemini, GEMINI), (responses, RESPONSES)])
def test_a_malformed_request_is_the_same_400_everywhere(adapter: Any, dep: Any, options: Any, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        adapter.to_upstream({"model": "m", "messages": ASK, "web_search_options": options}, dep, False)
    assert (info.value.status, info.value.param) == (400, param)


@pytest.mark.parametrize("adapter, dep", [(anthropic, CLAUDE), (gemini, GEMINI), (responses, RESPONSES)])
def test_no_options_no_search_tool(adapter: Any, dep: Any) -> None:
    body = sent(adapter, {"model": "m", "messages": ASK}, dep)
    assert "tools" not in body


# -------------------------------------------------------------------------------------- anthropic

@pytest.mark.parametrize("size, uses", [(None, 3), ("low", 1), ("medium", 3), ("high", 5)])
def test_claude_gets_its_web_search_tool_bounded_by_the_context_size(size: str | None, uses: int) -> None:
    options: dict[str, Any] = {"user_location": WHERE}
    if size:
        options["search_context_size"] = size
    body = sent(anthropic, {"model": "m", "messages": ASK, "web_search_options": options}, CLAUDE)
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": uses,
                              "user_location": FLAT_WHERE}]
    assert "tool_choice" not in body
    assert uses <= DEFAULT_SEARCHES == max(MAX_USES.values())  # what admit reserves covers it


def test_claude_search_combines_with_function_tools_and_json_mode() -> None:
    body = sent(anthropic, {"model": "m", "messages": ASK, "web_search_options": {}, "tools": [WEATHER],
                            "tool_choice": "auto"}, CLAUDE)
    assert [t.get("type", "custom") for t in body["tools"]] == ["custom", "web_search_20250305"]
    assert body["tools"][0]["name"] == "get_weather" and body["tool_choice"] == {"type": "auto"}
    # JSON mode with a search is an instruction, not a forced tool (which would answer before searching)
    body = sent(anthropic, {"model": "m", "messages": ASK, "web_search_options": {},
                            "response_format": {"type": "json_object"}}, CLAUDE)
    assert [t["type"] for t in body["tools"]] == ["web_search_20250305"] and "tool_choice" not in body
    assert "JSON" in body["system"]


def test_claude_on_vertex_takes_the_same_tool() -> None:
    dep = deployment("vertex_anthropic", "claude-sonnet-4-5@20250929", "https://us-east5-aiplatform.googleapis.com")
    body = sent(vertex_anthropic, {"model": "m", "messages": ASK, "web_search_options": {}}, dep)
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]


def test_only_converse_has_no_search_to_send() -> None:
    assert not adapter_for("bedrock").capabilities.web_search
    assert all(adapter_for(f).capabilities.web_search for f in ("openai", "azure", "openai_responses", "anthropic",
                                                                 "vertex_anthropic", "bedrock_anthropic", "gemini",
                                                                 "vertex_gemini"))
    # Claude on Bedrock sends the same tool, for a model whose `supports` lists web_search
    dep = deployment("bedrock_anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                     "https://bedrock-runtime.us-east-1.amazonaws.com")
    body = sent(adapter_for("bedrock_anthropic"), {"model": "m", "messages": ASK, "web_search_options": {}}, dep)
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]


def test_claude_citations_become_annotations_over_their_block() -> None:
    body, _ = anthropic.from_upstream(golden_bytes("anthropic/message_web_search.json"), CLAUDE)
    message = body["choices"][0]["message"]
    assert message["content"] == "The Blue Heron crew won."  # the search's own blocks stay out
    assert cited(message) == [("https://example.com/regatta", "The Blue Heron crew won.")]
    assert message["annotations"][0]["url_citation"]["title"] == "Regatta results"


def _cite(url: str, title: str = "T") -> dict[str, Any]:
    return {"type": "web_search_result_location", "url": url, "title": title, "cited_text": "source words",
            "encrypted_index": "x"}


SEARCHED = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 2}},
            "content": [
                {"type": "text", "text": "Let me look. "},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Ferries cost €2 — from May. ",
                 "citations": [_cite("https://a.example/"), _cite("https://a.example/"), _cite("https://b.example/")]},
                {"type": "text", "text": "Metro too.", "citations": [_cite("https://c.example/", "Metro")]},
                {"type": "text", "text": "Doc.", "citations": [{"type": "char_location", "cited_text": "x",
                                                                 "document_index": 0}]}]}


def test_several_cited_blocks_each_span_their_own_text() -> None:
    body, usage = anthropic.from_upstream(orjson.dumps(SEARCHED), CLAUDE)
    message = body["choices"][0]["message"]
    assert message["content"] == "Let me look. Ferries cost €2 — from May. Metro too.Doc."
    assert cited(message) == [("https://a.example/", "Ferries cost €2 — from May. "),  # one per source
                              ("https://b.example/", "Ferries cost €2 — from May. "),
                              ("https://c.example/", "Metro too.")]  # a document's citation has no chat form
    assert usage.web_searches == 2


def _events(message: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """A Messages stream of `message`, as Claude sends a searched answer: each text block opens
    with `citations: []`, its citations_delta events ahead of its text, in two text deltas."""
    out = [("message_start", {"type": "message_start", "message": {**message, "content": [], "usage": {
        "input_tokens": 10, "output_tokens": 1}}})]
    for i, block in enumerate(message["content"]):
        if block["type"] != "text":
            out.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
        else:
            out.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {"type": "text", "text": "", "citations": []}}))
            for c in block.get("citations") or ():
                out.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                    "delta": {"type": "citations_delta", "citation": c}}))
            half = len(block["text"]) // 2
            for piece in (block["text"][:half], block["text"][half:]):
                out.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                    "delta": {"type": "text_delta", "text": piece}}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                  "usage": message["usage"]}))
    out.append(("message_stop", {"type": "message_stop"}))
    return [(name.encode(), orjson.dumps(doc)) for name, doc in out]


@pytest.mark.parametrize("adapter", [anthropic, vertex_anthropic])
def test_a_claude_stream_sends_the_same_annotations_once_each_block_ends(adapter: Any) -> None:
    whole, _ = anthropic.from_upstream(orjson.dumps(SEARCHED), CLAUDE)
    decoder = adapter.StreamDecoder(CLAUDE, include_usage=True)
    chunks = run_decoder(decoder, _events(SEARCHED))
    assert streamed_annotations(chunks) == whole["choices"][0]["message"]["annotations"]
    assert reassemble(chunks)["choices"][0]["message"]["content"] == whole["choices"][0]["message"]["content"]
    assert decoder.usage.web_searches == 2
    # each cited block's annotations come right after its last text, then the next block's text
    kinds = [next(iter(c["choices"][0]["delta"]), "finish") if c["choices"] else "usage" for c in chunks]
    assert kinds[-2:] == ["finish", "usage"] and kinds.count("annotations") == 2
    for at in (i for i, k in enumerate(kinds) if k == "annotations"):
        assert kinds[at - 1] == kinds[at + 1] == "content"


def test_the_golden_claude_stream_matches_its_answer() -> None:
    whole, _ = anthropic.from_upstream(golden_bytes("anthropic/message_web_search.json"), CLAUDE)
    chunks = run_decoder(anthropic.StreamDecoder(CLAUDE, include_usage=False),
                         events("anthropic/stream_web_search.sse"))
    assert streamed_annotations(chunks) == whole["choices"][0]["message"]["annotations"]


# ----------------------------------------------------------------------------------------- gemini

@pytest.mark.parametrize("adapter, dep", [
    (gemini, GEMINI),
    (vertex_gemini, deployment("vertex_gemini", "gemini-2.5-flash", "https://us-central1-aiplatform.googleapis.com")),
])
def test_gemini_gets_google_search_beside_its_functions(adapter: Any, dep: Any) -> None:
    body = sent(adapter, {"model": "m", "messages": ASK, "web_search_options": {"search_context_size": "high",
                                                                                "user_location": WHERE}}, dep)
    assert body["tools"] == [{"googleSearch": {}}]  # no Gemini field for the size or the location
    body = sent(adapter, {"model": "m", "messages": ASK, "web_search_options": {}, "tools": [WEATHER],
                          "tool_choice": "auto"}, dep)
    assert [list(t) for t in body["tools"]] == [["functionDeclarations"], ["googleSearch"]]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


TEXT = "Le ferry coûte 2 € — dès mai. 東京 too."


def _support(text: str, part: str, chunks: list[int], part_index: int | None = None) -> dict[str, Any]:
    """A grounding support of `part` inside `text`, in UTF-8 bytes as Gemini counts them."""
    start = len(text[:text.index(part)].encode())
    segment: dict[str, Any] = {"startIndex": start, "endIndex": start + len(part.encode()), "text": part}
    if part_index:
        segment["partIndex"] = part_index
    return {"segment": segment, "groundingChunkIndices": chunks, "confidenceScores": [0.9] * len(chunks)}


GROUNDING = {
    "webSearchQueries": ["ferry prices lisbon"],
    "groundingChunks": [{"web": {"uri": "https://a.example/", "title": "a.example"}},
                        {"web": {"uri": "https://b.example/", "title": "b.example"}},
                        {"retrievedContext": {"uri": "gs://x", "title": "not the web"}}],
    "groundingSupports": [_support(TEXT, "dès mai.", [0, 1]), _support(TEXT, "東京 too.", [1, 2, 7]),
                          _support(TEXT, "Le ferry", [0])],
}


def _answer(parts: list[dict[str, Any]], grounding: dict[str, Any] | None = GROUNDING) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    if grounding is not None:
        cand["groundingMetadata"] = grounding
    return {"candidates": [cand], "responseId": "r1", "modelVersion": "gemini-2.5-flash",
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 20, "totalTokenCount": 30}}


def test_grounding_becomes_annotations_with_byte_offsets_read_as_characters() -> None:
    body, usage = gemini.from_upstream(orjson.dumps(_answer([{"text": TEXT}])), GEMINI)
    message = body["choices"][0]["message"]
    assert message["content"] == TEXT
    assert cited(message) == [("https://a.example/", "dès mai."), ("https://b.example/", "dès mai."),
                              ("https://b.example/", "東京 too."),  # no web source for the others
                              ("https://a.example/", "Le ferry")]
    assert message["annotations"][0]["url_citation"]["title"] == "a.example"
    assert usage.web_searches == 1


def test_a_support_of_a_later_part_counts_from_that_part() -> None:
    first, second = "Thinking... ", "Ferries cost 2 €."
    grounding = {**GROUNDING, "groundingSupports": [_support(second, "2 €.", [0], part_index=2)]}
    answer = _answer([{"text": "hidden", "thought": True}, {"text": first}, {"text": second}], grounding)
    message = gemini.from_upstream(orjson.dumps(answer), GEMINI)[0]["choices"][0]["message"]
    assert message["content"] == first + second
    assert cited(message) == [("https://a.example/", "2 €.")]
    for index in (1, 5):  # a thought part (not in the content), a part there is not
        grounding = {**GROUNDING, "groundingSupports": [_support("hidden", "hid", [0], part_index=index)]}
        answer = _answer([{"text": "hidden", "thought": True}, {"text": second}], grounding)
        answer["candidates"][0]["content"]["parts"].insert(0, {"text": "x", "thought": True})
        message = gemini.from_upstream(orjson.dumps(answer), GEMINI)[0]["choices"][0]["message"]
        assert message["content"] == second and "annotations" not in message


def test_an_answer_without_grounding_has_no_annotations() -> None:
    message = gemini.from_upstream(orjson.dumps(_answer([{"text": TEXT}], None)), GEMINI)[0]["choices"][0]["message"]
    assert "annotations" not in message


def _sse(docs: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(b"", orjson.dumps(d)) for d in docs]


def test_a_gemini_stream_sends_the_grounding_once_before_the_finish() -> None:
    pieces = ["Le ferry coûte 2 ", "€ — dès mai. 東", "京 too."]  # a character cut across chunks is whole again
    assert "".join(pieces) == TEXT
    docs = [{"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}], "responseId": "r1"}
            for p in pieces]
    last = _answer([{"text": ""}])
    last["candidates"][0]["content"]["parts"] = []
    docs.append(last)
    again = _answer([])
    again["candidates"][0].pop("finishReason")
    docs.insert(3, {**again, "usageMetadata": None})  # grounding sent twice: its citations go once
    whole = gemini.from_upstream(orjson.dumps(_answer([{"text": TEXT}])), GEMINI)[0]
    decoder = gemini.StreamDecoder(GEMINI, include_usage=True)
    chunks = run_decoder(decoder, _sse(docs))
    assert streamed_annotations(chunks) == whole["choices"][0]["message"]["annotations"]
    kinds = [next(iter(c["choices"][0]["delta"]), "finish") if c["choices"] else "usage" for c in chunks]
    # the search's item after its citations, once (tests/providers/test_search_items.py)
    assert kinds.count("annotations") == kinds.count("reasoning_items") == 1
    assert kinds[-4:] == ["annotations", "reasoning_items", "finish", "usage"]
    assert reassemble(chunks)["choices"][0]["message"]["content"] == TEXT
    assert decoder.usage.web_searches == 1


# ------------------------------------------------------------------------------ openai_responses

def test_responses_gets_the_hosted_tool_with_size_and_location() -> None:
    body = sent(responses, {"model": "m", "messages": ASK, "tools": [WEATHER], "web_search_options": {
        "search_context_size": "low", "user_location": WHERE}}, RESPONSES)
    assert body["tools"][0]["type"] == "function" and body["tools"][0]["name"] == "get_weather"
    assert body["tools"][1:] == [{"type": "web_search", "search_context_size": "low", "user_location": FLAT_WHERE}]
    body = sent(responses, {"model": "m", "messages": ASK, "web_search_options": {}}, RESPONSES)
    assert body["tools"] == [{"type": "web_search"}] and "web_search_options" not in body


# ---------------------------------------------------------------------------------- reservation

def test_admit_reserves_the_default_bound_for_a_chat_search() -> None:
    assert declared_searches({"messages": ASK}) == 0
    assert declared_searches({"messages": ASK, "web_search_options": {}}) == DEFAULT_SEARCHES
    assert declared_searches({"messages": ASK, "web_search_options": {"search_context_size": "low"}}) \
        == DEFAULT_SEARCHES  # whichever provider serves it: Gemini and Responses take no bound
