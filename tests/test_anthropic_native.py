"""Native Anthropic answers, alone: an Anthropic-format deployment's events relayed to a Messages
client as they came (Bedrock's base64 chunks unwrapped into plain SSE), its decoder still reading
the usage; `model` is the deployment's, as on the canonical path; a request naming the provider's
files, containers or MCP servers stays on one provider's Anthropic links, and a 403/404 about
them is the request's error, not a broken deployment."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gateway.config import Breaker
from gateway.errors import GatewayError, upstream_failed
from gateway.inbound.anthropic import AnthropicMessages
from gateway.pipeline.failures import judge
from gateway.pipeline.native import ProviderEvents, referenced_fault
from gateway.providers import adapter_for
from gateway.providers.base import native_only
from gateway.providers.bedrock.eventstream import EventStreamParser
from tests.providers.helpers import deployment, events, golden_bytes
from tests.providers.test_bedrock_invoke import STREAM as BEDROCK_STREAM

DEP = deployment("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com")
INBOUND = AnthropicMessages()


def sse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, JSON) of every event of an Anthropic SSE body, read strictly: LF framing."""
    assert b"\r" not in data
    out = []
    for block in data.split(b"\n\n"):
        if block:
            name, line = block.split(b"\n")
            assert name.startswith(b"event: ") and line.startswith(b"data: ")
            out.append((name[7:].decode(), json.loads(line[6:])))
    return out


def relay(adapter: str, pairs: list[tuple[bytes, bytes]]) -> tuple[bytes, Any, Any]:
    """The relay's path for one stream: ProviderEvents around the adapter's decoder, the native
    encoder; and the same decoder fed alone (the canonical path's usage)."""
    dep = deployment(adapter, DEP.upstream, DEP.provider.base_url)
    tee, alone = ProviderEvents(adapter_for(adapter).StreamDecoder(dep, True)), \
        adapter_for(adapter).StreamDecoder(dep, True)
    encoder = INBOUND.native_stream(None, DEP.upstream)  # type: ignore[arg-type]
    out = b""
    for event, data in pairs:
        alone.feed(event, data)
        out += encoder.feed(b"".join(tee.feed(event, data)))
    tee.finish(), alone.finish()
    return out + encoder.finish(), tee, alone


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_use.sse", "stream_cached.sse",
                                  "stream_web_search.sse"])
def test_native_stream_relays_claudes_events_with_the_deployments_model(name: str) -> None:
    out, tee, alone = relay("anthropic", events(f"anthropic/{name}"))
    golden = sse_events(golden_bytes(f"anthropic/{name}").replace(b"\r\n", b"\n"))
    relayed = sse_events(out)
    assert relayed[0][1]["message"].pop("model") == DEP.upstream  # the canonical answer's name for it
    golden[0][1]["message"].pop("model")
    assert relayed == golden  # every other byte's meaning, every event in its order
    assert tee.done and tee.usage == alone.usage and tee.usage.reported


def test_a_web_search_answer_keeps_its_server_tool_blocks_and_citations_and_its_usage() -> None:
    data = golden_bytes("anthropic/message_web_search.json")
    _, usage = adapter_for("anthropic").from_upstream(data, DEP)  # what the pipeline counts, unchanged
    doc = json.loads(INBOUND.native_reply(data, None, DEP.upstream))  # type: ignore[arg-type]
    assert [b["type"] for b in doc["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    assert doc["content"][2]["citations"][0]["encrypted_index"] and doc["model"] == DEP.upstream
    assert doc == {**json.loads(data), "model": DEP.upstream}
    assert usage.prompt_tokens == 5012 and usage.completion_tokens == 48
    same = orjson.dumps({**json.loads(data), "model": DEP.upstream})
    assert INBOUND.native_reply(same, None, DEP.upstream) is same  # type: ignore[arg-type]  # nothing to change


def test_bedrock_chunks_become_plain_anthropic_sse() -> None:
    parser = EventStreamParser()
    pairs = [pair for raw in BEDROCK_STREAM for pair in parser.feed(raw)]
    out, tee, alone = relay("bedrock_anthropic", pairs)
    relayed = sse_events(out)
    assert [name for name, _ in relayed] == [doc["type"] for _, doc in relayed]
    assert relayed[0][0] == "message_start" and relayed[-1][0] == "message_stop"
    assert relayed[0][1]["message"]["model"] == DEP.upstream
    deltas = [d["delta"].get("partial_json") for n, d in relayed if n == "content_block_delta"]
    assert deltas[-2:] == ['{"city":', '"Oslo"}']
    assert tee.usage == alone.usage and tee.usage.completion_tokens == 20


def test_errors_after_the_200_are_anthropics_error_event() -> None:
    encoder = INBOUND.native_stream(None, DEP.upstream)  # type: ignore[arg-type]
    ((name, doc),) = sse_events(encoder.error(upstream_failed(502, "The upstream stream ended early.")))
    assert name == "error" and doc["error"]["type"] == "api_error"


def body(**extra: Any) -> bytes:
    return orjson.dumps({"model": "auto", "max_tokens": 100, **extra,
                         "messages": extra.pop("messages", [{"role": "user", "content": "Summarise it."}])})


FILE_DOC = {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}


@pytest.mark.parametrize("raw, field", [
    (body(messages=[{"role": "user", "content": [FILE_DOC, {"type": "text", "text": "Summarise it."}]}]), "file_id"),
    (body(container="container_011CQ8TjJxJ2qjWkq4bG4Y6K"), "container"),
    (body(mcp_servers=[{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}]), "mcp_servers"),
    (body(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "file_2"}}]}]}]), "file_id"),
])
def test_what_lives_at_the_provider_keeps_the_request_on_its_anthropic_links(raw: bytes, field: str) -> None:
    chat = INBOUND.parse(raw)
    assert native_only(chat.body) == ("anthropic", field)
    assert "file" not in orjson.dumps(chat.body["messages"]).decode()  # nothing of it in the canonical body


def test_a_403_or_404_about_it_is_the_requests_error_not_the_deployments() -> None:
    err = adapter_for("anthropic").error_from_upstream(404, orjson.dumps(
        {"type": "error", "error": {"type": "not_found_error", "message": "File not found: file_x"}}), {})
    assert judge(err, Breaker()).outcome == "disabled"  # as a wrong model would be...
    mine = referenced_fault(err)
    verdict = judge(mine, Breaker())
    assert (verdict.fall_back, verdict.outcome) == (False, "neutral")  # ...but it is the request's
    assert mine.status == 404
    assert json.loads(INBOUND.error_body(GatewayError(404, mine.message, mine.type)))["error"] == {
        "type": "not_found_error", "message": "File not found: file_x"}


def test_plain_requests_are_not_marked() -> None:
    assert native_only(INBOUND.parse(body()).body) is None


def test_the_vendors_own_resources_skip_the_clouds_that_resell_claude() -> None:
    """A Files API file, a container or an MCP server lives at Anthropic's own API: Bedrock and
    Vertex links are skipped for it, while a plain Anthropic request may use them."""
    from gateway.routing.plan import native_links
    from tests.providers.helpers import deployment

    bedrock = deployment("bedrock_anthropic", "anthropic.claude-sonnet-4-6", "https://bedrock-runtime.us-east-1.amazonaws.com")
    first = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    for field in ("file_id", "container", "mcp_servers"):
        skipped: list[tuple[str, str]] = []
        assert native_links([bedrock, first], ("anthropic", field), "auto", skipped) == [first]
        assert skipped == [(bedrock.name, "native_only")]
        with pytest.raises(GatewayError) as none:
            native_links([bedrock], ("anthropic", field), "auto", [])
        assert none.value.status == 400 and none.value.param == field
