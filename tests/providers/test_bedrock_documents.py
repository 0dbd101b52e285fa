"""Bedrock Converse: documents (OpenAI `file` parts and Anthropic `document` blocks → `document`
blocks with Bedrock-legal, unique names), the deployment's guardrail (config → `guardrailConfig`)
and `guardrail_intervened` as the client's content-filter finish."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
import pytest

from gateway.config import parse_config
from gateway.config.model import ConfigError, Guardrail
from gateway.errors import GatewayError
from gateway.inbound.anthropic.request import to_canonical
from gateway.pipeline.tokens import content_bound
from gateway.providers.bedrock import adapter
from tests.providers.helpers import deployment, run_decoder

DEP = deployment("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                 "https://bedrock-runtime.us-east-1.amazonaws.com", api_key="brk-key")
PDF = base64.b64encode(b"%PDF-1.7\n1 0 obj << /Type /Page >> endobj\n%%EOF").decode()
CSV = base64.b64encode(b"city,temp\nOslo,9\n").decode()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def file_part(media_type: str, data: str, filename: str | None = None) -> dict[str, Any]:
    file: dict[str, Any] = {"file_data": f"data:{media_type};base64,{data}"}
    if filename is not None:
        file["filename"] = filename
    return {"type": "file", "file": file}


def body_of(content: list[dict[str, Any]], dep: Any = DEP, stream: bool = False) -> dict[str, Any]:
    chat = {"model": "m", "messages": [{"role": "user", "content": content}]}
    return orjson.loads(adapter.to_upstream(chat, dep, stream).body)


def test_file_parts_become_documents_with_legal_unique_names() -> None:
    body = body_of([{"type": "text", "text": "Compare these."},
                    file_part("application/pdf", PDF, "Q3 report_final.v2.pdf"),
                    file_part(DOCX, PDF, "Q3 report_final.v2.docx"),
                    file_part("text/csv;charset=utf-8", CSV),
                    file_part("application/octet-stream", CSV, "notes.md"),
                    file_part("image/png", "iVBORw0KGgo=", "chart.png")])
    blocks = body["messages"][0]["content"]
    assert blocks[0] == {"text": "Compare these."}
    assert blocks[1] == {"document": {"format": "pdf", "name": "Q3 report-final-v2", "source": {"bytes": PDF}}}
    assert blocks[2]["document"]["format"] == "docx" and blocks[2]["document"]["name"] == "Q3 report-final-v2 (2)"
    assert blocks[3] == {"document": {"format": "csv", "name": "document", "source": {"bytes": CSV}}}
    assert blocks[4]["document"]["format"] == "md" and blocks[4]["document"]["name"] == "notes"
    assert blocks[5] == {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}


@pytest.mark.parametrize("part", [
    file_part("application/zip", PDF, "a.zip"),
    file_part("application/octet-stream", PDF, "a.bin"),
    {"type": "file", "file": {"file_id": "file-abc"}},
])
def test_a_file_converse_cannot_read_is_a_400_naming_the_part(part: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as err:
        body_of([{"type": "text", "text": "Read this."}, part])
    assert err.value.status == 400 and err.value.param == "messages[0].content[1]"


def test_an_anthropic_document_block_reaches_converse_as_a_document() -> None:
    chat = to_canonical({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "document", "title": "Lease (2024)", "source": {"type": "base64", "media_type": "application/pdf",
                                                                  "data": PDF}},
        {"type": "text", "text": "Summarise the lease."}]}]})
    body = orjson.loads(adapter.to_upstream(chat, DEP, False).body)
    assert body["messages"][0]["content"][0] == {
        "document": {"format": "pdf", "name": "Lease (2024)", "source": {"bytes": PDF}}}


def test_a_file_part_is_bounded_as_a_document_in_the_prompt_estimate() -> None:
    big = base64.b64encode(b"x" * 50_000).decode()
    assert content_bound([file_part("text/plain", big, "a.txt")]) >= 50_000  # >= one token a byte


def config(model: dict[str, Any], fmt: str = "bedrock") -> dict[str, Any]:
    return {"providers": {"b": {"format": fmt, "base_url": "http://127.0.0.1:1", "api_key_env": "K",
                                "aws_region": "us-east-1"}},
            "models": {"m": {"provider": "b", "upstream": "amazon.nova-lite-v1:0", "price": {"input": 1}, **model}},
            "routes": {"auto": {"primary": "m"}}, "keys": [{"name": "k", "sha256": "0" * 64}]}


def test_a_guardrail_is_deployment_config_checked_at_start_up() -> None:
    guarded = {"bedrock": {"guardrail": {"id": "abc123", "version": 2, "trace": "enabled",
                                         "stream_processing_mode": "async"}}}
    dep = parse_config(config(guarded), "t.yaml", {"K": "k"}).deployments["m"]
    assert dep.guardrail == Guardrail("abc123", "2", "enabled", "async")
    for bad, where in [({"id": "Bad_Id", "version": 1}, "guardrail.id"), ({"id": "abc", "version": 0}, "version"),
                       ({"id": "abc", "version": "DRAFT", "colour": "red"}, "colour")]:
        with pytest.raises(ConfigError, match=where):
            parse_config(config({"bedrock": {"guardrail": bad}}), "t.yaml", {"K": "k"})
    with pytest.raises(ConfigError, match="only a chat model of a Bedrock provider"):
        parse_config(config({**guarded, "kind": "embedding"}), "t.yaml", {"K": "k"})


def test_the_guardrail_goes_on_every_converse_call() -> None:
    dep = dataclasses.replace(DEP, guardrail=Guardrail("abc123", "DRAFT", "enabled", "sync"))
    sent = {"guardrailIdentifier": "abc123", "guardrailVersion": "DRAFT", "trace": "enabled"}
    assert body_of([{"type": "text", "text": "hi"}], dep)["guardrailConfig"] == sent
    streamed = body_of([{"type": "text", "text": "hi"}], dep, stream=True)["guardrailConfig"]
    assert streamed == {**sent, "streamProcessingMode": "sync"}
    assert "guardrailConfig" not in body_of([{"type": "text", "text": "hi"}])


def test_guardrail_intervened_is_a_content_filter_answer() -> None:
    answer = {"output": {"message": {"role": "assistant", "content": [{"text": "Sorry."}]}},
              "stopReason": "guardrail_intervened", "usage": {"inputTokens": 0, "outputTokens": 0},
              "trace": {"guardrail": {"inputAssessment": {}}}}
    body, usage = adapter.from_upstream(orjson.dumps(answer), DEP)
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["content"] == "Sorry." and usage.prompt_tokens == 0
    frames = [(b"messageStart", orjson.dumps({"role": "assistant"})),
              (b"contentBlockDelta", orjson.dumps({"contentBlockIndex": 0, "delta": {"text": "Sorry."}})),
              (b"messageStop", orjson.dumps({"stopReason": "guardrail_intervened"})),
              (b"metadata", orjson.dumps({"usage": {"inputTokens": 0, "outputTokens": 0}, "trace": {}}))]
    chunks = run_decoder(adapter.StreamDecoder(DEP, True), frames)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][-1] == "content_filter"
