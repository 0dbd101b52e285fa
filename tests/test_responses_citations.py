"""A web search's `url_citation` annotations through the canonical form: a Responses deployment's
answer (whole and streamed) → the chat message's `annotations` with indices into its whole
content → a Responses client's `output_text` parts with indices into each part; and hosted tool
items a stateless client sends back are kept for the Responses API only."""

from __future__ import annotations

from typing import Any

import orjson
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from gateway.inbound.responses import Responses
from gateway.inbound.responses.request import canonical_body
from gateway.providers.openai_responses import adapter
from gateway.providers.openai_responses.citations import from_chat, to_chat
from tests.providers.helpers import deployment

DEP = deployment("openai_responses", "gpt-5.5", "https://api.openai.com/v1")
FIRST, SECOND = "Ferries cost less.", " Metro fares stay."
CITE_A = {"type": "url_citation", "start_index": 0, "end_index": 18, "title": "Port news", "url": "https://a.example/1"}
CITE_B = {"type": "url_citation", "start_index": 1, "end_index": 18, "title": "Metro", "url": "https://b.example/2"}
FILE = {"type": "file_citation", "file_id": "file-1", "filename": "fares.pdf", "index": 5}
ANSWER: Any = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5.5", "output": [
    {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "fares"}},
    {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed", "content": [
        {"type": "output_text", "text": FIRST, "annotations": [CITE_A]},
        {"type": "output_text", "text": SECOND, "annotations": [CITE_B, FILE]}]}],
    "usage": {"input_tokens": 50, "output_tokens": 9}}


def test_the_two_forms_convert_both_ways() -> None:
    chat = to_chat(CITE_B, 18)
    assert chat == {"type": "url_citation", "url_citation": {"start_index": 19, "end_index": 36, "title": "Metro",
                                                              "url": "https://b.example/2"}}
    assert from_chat(chat, 18) == CITE_B
    assert to_chat(FILE, 18) is None  # no chat form: left out
    assert to_chat("not an annotation", 0) is None and from_chat({"type": "url_citation"}, 0) is None


def test_a_whole_answer_puts_every_parts_citations_on_the_message() -> None:
    body, usage = adapter.from_upstream(orjson.dumps(ANSWER), DEP)
    message = ChatCompletion.model_validate(body).choices[0].message
    assert message.content == FIRST + SECOND and usage.web_searches == 1
    cited = body["choices"][0]["message"]["annotations"]
    assert [a["type"] for a in cited] == ["url_citation", "url_citation"]
    # each citation covers the same text in the joined content as it did in its part
    for note, (part, raw) in zip(cited, ((FIRST, CITE_A), (SECOND, CITE_B))):
        span = note["url_citation"]
        assert (FIRST + SECOND)[span["start_index"]:span["end_index"]] == part[raw["start_index"]:raw["end_index"]]
    assert message.annotations is not None and message.annotations[1].url_citation.url == "https://b.example/2"


def stream_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer as the Responses API streams it (the events a decoder reads)."""
    out: list[dict[str, Any]] = [{"type": "response.created", "response": {**doc, "output": [], "usage": None}}]
    for index, item in enumerate(doc["output"]):
        out.append({"type": "response.output_item.added", "output_index": index, "item": item})
        for n, part in enumerate(item.get("content") or ()):
            at = {"item_id": item["id"], "output_index": index, "content_index": n}
            out.append({"type": "response.output_text.delta", **at, "delta": part["text"]})
            out += [{"type": "response.output_text.annotation.added", **at, "annotation_index": k, "annotation": a}
                    for k, a in enumerate(part["annotations"])]
        out.append({"type": "response.output_item.done", "output_index": index, "item": item})
    out.append({"type": "response.completed", "response": doc})
    return out


def canonical_stream(doc: dict[str, Any]) -> bytes:
    decoder = adapter.StreamDecoder(DEP, True)
    return b"".join(f for e in stream_of(doc) for f in decoder.feed(e["type"].encode(), orjson.dumps(e)))


def test_a_streamed_answer_sends_each_citation_as_a_delta_with_indices_into_the_content() -> None:
    frames = canonical_stream(ANSWER)
    deltas = [orjson.loads(f[6:])["choices"][0]["delta"] for f in frames.split(b"\n\n")
              if f.startswith(b"data: {") and orjson.loads(f[6:])["choices"]]
    streamed = [a for d in deltas for a in d.get("annotations", ())]
    whole, _ = adapter.from_upstream(orjson.dumps(ANSWER), DEP)
    assert streamed == whole["choices"][0]["message"]["annotations"]


def test_a_responses_client_gets_the_citations_on_its_part_whole_and_streamed() -> None:
    inbound = Responses()
    whole, _ = adapter.from_upstream(orjson.dumps(ANSWER), DEP)
    got = Response.model_validate(orjson.loads(inbound.reply(whole, inbound.parse(b'{"model": "auto", "input": "hi"}'))))
    part = next(o for o in got.output if o.type == "message").content[0]
    assert part.text == FIRST + SECOND
    assert [a.model_dump(exclude_none=True) for a in part.annotations] == [
        CITE_A, {**CITE_B, "start_index": 19, "end_index": 36}]
    chat = inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}')
    encoder = inbound.stream(chat)
    raw = encoder.feed(canonical_stream(ANSWER)) + encoder.finish()
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [e["annotation_index"] for e in added] == [0, 1]
    assert [e["annotation"] for e in added] == [a.model_dump(exclude_none=True) for a in part.annotations]
    final = Response.model_validate(events[-1]["response"])
    assert [o.type for o in final.output] == ["web_search_call", "message"]
    assert final.output[1].content[0].annotations == part.annotations


def test_citations_stay_with_their_own_message_when_a_hosted_item_splits_the_text() -> None:
    """A hosted item between two texts closes the first message; a citation of the second text
    counts from where the second message starts."""
    doc = {**ANSWER, "output": [
        {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": FIRST, "annotations": [CITE_A]}]},
        ANSWER["output"][0],
        {"id": "msg_2", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": SECOND, "annotations": [CITE_B]}]}]}
    inbound = Responses()
    encoder = inbound.stream(inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}'))
    raw = encoder.feed(canonical_stream(doc)) + encoder.finish()
    final = Response.model_validate(orjson.loads([ln for ln in raw.split(b"\n") if ln.startswith(b"data: ")][-1][6:])["response"])
    messages = [o for o in final.output if o.type == "message"]
    assert [m.content[0].text for m in messages] == [FIRST, SECOND]
    assert [[a.model_dump(exclude_none=True) for a in m.content[0].annotations] for m in messages] == [[CITE_A], [CITE_B]]


def test_hosted_tool_items_sent_back_stay_out_of_the_canonical_messages() -> None:
    body = {"model": "auto", "tools": [{"type": "web_search"}], "input": [
        {"role": "user", "content": "fares?"}, ANSWER["output"][0],
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": FIRST, "annotations": [CITE_A]}]},
        {"role": "user", "content": "and the metro?"}]}
    chat = canonical_body(body)
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "user"]
    assert chat["messages"][1]["content"] == FIRST


def test_a_citation_ahead_of_its_text_opens_the_message() -> None:
    """A provider may cite a block before streaming its text (Anthropic's citations_delta): the
    message opens with the citation, and the text that follows fills it."""
    note = {"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 18, "title": "Port news",
                                                      "url": "https://a.example/1"}}
    frames = b"".join(b"data: " + orjson.dumps({"id": "c", "model": "m", "choices": [
        {"index": 0, "delta": delta, "finish_reason": None}]}) + b"\n\n"
        for delta in ({"role": "assistant", "content": ""}, {"annotations": [note]}, {"content": FIRST}))
    inbound = Responses()
    encoder = inbound.stream(inbound.parse(b'{"model": "auto", "input": "hi", "stream": true}'))
    raw = encoder.feed(frames) + encoder.finish()
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    kinds = [e["type"] for e in events]
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.annotation.added") \
        < kinds.index("response.output_text.delta")
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == FIRST
    assert [a.model_dump(exclude_none=True) for a in final.output[0].content[0].annotations] == [CITE_A]
