"""Native Gemini answers, alone: a Gemini deployment's events relayed as they came (SSE and the
JSON array) while its decoder still reads the usage; `cachedContent` keeps a request on the
Gemini links of one provider; a 403 about the cache is the request's, not the deployment's."""

from __future__ import annotations

import json

import orjson
import pytest

from gateway.config import Breaker
from gateway.errors import GatewayError, upstream_failed
from gateway.inbound.gemini import GeminiGenerate
from gateway.inbound.gemini.stream import with_model
from gateway.pipeline.failures import judge
from gateway.pipeline.native import ProviderEvents, referenced_fault, sse_frame
from gateway.providers import adapter_for
from gateway.providers.base import StreamError, for_format, native_only
from gateway.routing.plan import native_links
from tests.providers.helpers import deployment, events, golden_bytes

DEP = deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com")


def golden_docs(name: str) -> list[dict]:
    return [json.loads(line[6:]) for line in golden_bytes(f"gemini/{name}").split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_function_call.sse", "stream_candidates.sse"])
@pytest.mark.parametrize("sse", [True, False])
def test_native_stream_relays_geminis_events_and_counts_their_usage(name: str, sse: bool) -> None:
    adapter = adapter_for("gemini")
    tee, alone = ProviderEvents(adapter.StreamDecoder(DEP, True)), adapter.StreamDecoder(DEP, True)
    encoder = GeminiGenerate("gemini-2.5-flash", streaming=True, sse=sse).native_stream(
        None, "gemini-2.5-flash")  # type: ignore[arg-type]
    out = b""
    for event, data in events(f"gemini/{name}"):
        alone.feed(event, data)
        out += encoder.feed(b"".join(tee.feed(event, data)))
    tee.finish(), alone.finish()
    out += encoder.finish()
    docs = [json.loads(e[6:]) for e in out.split(b"\r\n\r\n") if e] if sse else json.loads(out)
    # every event, as Gemini sent it, but naming the deployment's upstream model (Gemini said 2.5-pro)
    assert docs == [{**doc, "modelVersion": "gemini-2.5-flash"} for doc in golden_docs(name)]
    assert tee.done and tee.usage == alone.usage and tee.usage.reported


def test_model_version_is_rewritten_only_when_it_differs() -> None:
    data = golden_bytes("gemini/response_function_call.json")
    said = json.loads(data)["modelVersion"]
    assert with_model(data, said) is data  # the bytes themselves, not parsed
    assert json.loads(with_model(data, "gemini-x")) == {**json.loads(data), "modelVersion": "gemini-x"}
    assert GeminiGenerate().native_reply(data, None, "gemini-x") == with_model(data, "gemini-x")  # type: ignore[arg-type]
    compact = orjson.dumps({"candidates": [], "modelVersion": "gemini-x"})
    assert with_model(compact, "gemini-x") is compact


def test_an_error_event_still_fails_the_native_stream_and_ends_the_array() -> None:
    tee = ProviderEvents(adapter_for("gemini").StreamDecoder(DEP, True))
    pairs = events("gemini/stream_error.sse")
    assert tee.feed(*pairs[0]) == [sse_frame(*pairs[0])]
    with pytest.raises(StreamError):
        tee.feed(*pairs[1])
    encoder = GeminiGenerate(streaming=True, sse=False).native_stream(None, "gemini-2.5-flash")  # type: ignore[arg-type]
    doc = json.loads(encoder.feed(sse_frame(*pairs[0])) + encoder.error(upstream_failed(502, "gone")))
    assert doc[0]["responseId"] == "errStream1" and doc[1]["error"]["status"] == "UNAVAILABLE"


def test_sse_frame_keeps_every_line_of_a_multi_line_event() -> None:
    assert sse_frame(b"", b"{}") == b"data: {}\r\n\r\n"
    assert sse_frame(b"delta", b"{\n}") == b"event: delta\r\ndata: {\r\ndata: }\r\n\r\n"


def test_cached_content_keeps_the_request_on_one_gemini_provider() -> None:
    raw = orjson.dumps({"contents": [{"parts": [{"text": "and so?"}]}], "cachedContent": "cachedContents/c1"})
    chat = GeminiGenerate("auto").parse(raw)
    assert native_only(chat.body) == ("gemini", "cachedContent")
    sent = orjson.loads(adapter_for("gemini").to_upstream(for_format(chat.body, "gemini"), DEP, False).body)
    assert sent["cachedContent"] == "cachedContents/c1"
    assert native_only(GeminiGenerate("auto").parse(b'{"contents": [{"parts": [{"text": "x"}]}]}').body) is None
    with pytest.raises(GatewayError) as bad:
        GeminiGenerate("auto").parse(b'{"contents": [{"parts": [{"text": "x"}]}], "cachedContent": 7}')
    assert bad.value.status == 400 and bad.value.param == "cachedContent"

    openai = deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1")
    vertex = deployment("vertex_gemini", "gemini-2.5-pro", "https://aiplatform.googleapis.com")
    pro = deployment("gemini", "gemini-2.5-pro", "https://generativelanguage.googleapis.com")
    skipped: list[tuple[str, str]] = []
    assert native_links([openai, DEP, vertex, pro], ("gemini", "cachedContent"), "auto", skipped) == [DEP, pro]
    assert skipped == [(openai.name, "native_only"), (vertex.name, "native_only")]
    assert native_links([vertex, DEP], ("gemini", "cachedContent"), "auto", []) == [vertex]
    with pytest.raises(GatewayError) as none:
        native_links([openai], ("gemini", "cachedContent"), "gpt-5.4-mini", [])
    assert none.value.status == 400 and none.value.param == "cachedContent" and "gemini" in none.value.message


def test_a_403_about_the_cache_is_the_requests_not_the_deployments() -> None:
    body = b'{"error": {"code": 403, "message": "CachedContent not found (or permission denied)", "status": "PERMISSION_DENIED"}}'
    plain = adapter_for("gemini").error_from_upstream(403, body, {})
    breaker = Breaker()
    assert judge(plain, breaker).outcome == "disabled"  # without a cache: the operator's key
    mine = referenced_fault(plain)
    verdict = judge(mine, breaker)
    assert (verdict.fall_back, verdict.outcome) == (False, "neutral")
    assert mine.status == 403 and mine.message.startswith("CachedContent not found")
    server = adapter_for("gemini").error_from_upstream(503, b'{"error": {"code": 503}}', {})
    assert referenced_fault(server) is server


FILE_URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


def test_a_files_api_file_keeps_the_request_on_the_gemini_api() -> None:
    """Any type (a PDF too), left out of the canonical body; a URI elsewhere is the usual image."""
    raw = orjson.dumps({"contents": [{"parts": [{"text": "Summarize."}, {"fileData": {
        "mimeType": "application/pdf", "fileUri": FILE_URI}}]}], "cachedContent": "cachedContents/c1"})
    chat = GeminiGenerate("auto").parse(raw)
    assert native_only(chat.body) == ("gemini", "fileData") and chat.body["messages"][-1]["content"] == "Summarize."
    sent = orjson.loads(adapter_for("gemini").to_upstream(for_format(chat.body, "gemini"), DEP, False).body)
    assert sent["contents"][0]["parts"][1]["fileData"]["fileUri"] == FILE_URI
    elsewhere = orjson.dumps({"contents": [{"parts": [{"fileData": {"mimeType": "image/png",
                                                                    "fileUri": "https://example.com/v1beta/files/x"}}]}]})
    assert native_only(GeminiGenerate("auto").parse(elsewhere).body) is None
    vertex = deployment("vertex_gemini", "gemini-2.5-pro", "https://aiplatform.googleapis.com")
    skipped: list[tuple[str, str]] = []
    assert native_links([vertex, DEP], ("gemini", "fileData"), "auto", skipped) == [DEP]  # Vertex cannot read it
    assert skipped == [(vertex.name, "native_only")]
    with pytest.raises(GatewayError) as none:
        native_links([vertex], ("gemini", "fileData"), "auto", [])
    assert none.value.status == 400 and none.value.param == "fileData"


def test_a_403_about_a_file_is_the_requests_not_the_deployments() -> None:
    body = (b'{"error": {"code": 403, "message": "You do not have permission to access the File abc123 or it may '
            b'not exist.", "status": "PERMISSION_DENIED"}}')
    plain = adapter_for("gemini").error_from_upstream(403, body, {})
    assert judge(plain, Breaker()).outcome == "disabled"
    verdict = judge(referenced_fault(plain), Breaker())
    assert (verdict.fall_back, verdict.outcome) == (False, "neutral")
