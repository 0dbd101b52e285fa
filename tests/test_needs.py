"""What a request needs a model to be able to do, read from the canonical body each inbound
translator makes: the real translators turn each API's images, audio, files, tools, JSON schemas
and search tools into the body `request_needs` reads."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.gemini import GeminiGenerate
from gateway.inbound.openai_chat import OpenAIChat
from gateway.inbound.responses import Responses
from gateway.pipeline.searches import declared_searches
from gateway.routing.needs import NO_NEEDS, request_needs

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
FUNCTION = {"type": "function", "function": {"name": "weather", "parameters": SCHEMA}}


def chat_needs(body: dict[str, Any]) -> frozenset[str]:
    return request_needs(OpenAIChat().parse(orjson.dumps({"model": "auto", **body})).body)


def anthropic_needs(body: dict[str, Any]) -> frozenset[str]:
    return request_needs(AnthropicMessages().parse(orjson.dumps({"model": "auto", "max_tokens": 64, **body})).body)


def gemini_needs(body: dict[str, Any]) -> frozenset[str]:
    return request_needs(GeminiGenerate("auto").parse(orjson.dumps(body)).body)


def responses_needs(body: dict[str, Any]) -> frozenset[str]:
    return request_needs(Responses().parse(orjson.dumps({"model": "auto", **body})).body)


def test_plain_text_needs_nothing_in_every_api() -> None:
    assert chat_needs({"messages": [{"role": "user", "content": "hi"}]}) is NO_NEEDS
    assert chat_needs({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                       "response_format": {"type": "json_object"}}) is NO_NEEDS
    assert anthropic_needs({"messages": [{"role": "user", "content": "hi"}]}) is NO_NEEDS
    assert gemini_needs({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) is NO_NEEDS
    assert responses_needs({"input": "hi"}) is NO_NEEDS


@pytest.mark.parametrize("part, need", [
    ({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}, "vision"),
    ({"type": "image_url", "image_url": "https://example.com/cat.png"}, "vision"),
    ({"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}}, "audio"),
    ({"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"}}, "files"),
    ({"type": "file", "file": {"file_id": "file-abc"}}, "files"),
])
def test_openai_chat_parts(part: dict[str, Any], need: str) -> None:
    assert chat_needs({"messages": [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, part]}]}) \
        == {need}


def test_openai_chat_tools_tool_turns_json_schema_and_search() -> None:
    assert chat_needs({"messages": [{"role": "user", "content": "weather?"}], "tools": [FUNCTION]}) == {"tools"}
    turns = [{"role": "user", "content": "weather?"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    assert chat_needs({"messages": turns}) == {"tools"}  # a tool loop's history, its tools left out
    assert chat_needs({"messages": [{"role": "user", "content": "x"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}}) == {"json_schema"}
    assert chat_needs({"messages": [{"role": "user", "content": "news?"}], "web_search_options": {}}) \
        == {"web_search"}


def test_anthropic_blocks() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a note"}}
    ask = {"type": "text", "text": "what is it?"}
    assert anthropic_needs({"messages": [{"role": "user", "content": [image, ask]}]}) == {"vision"}
    assert anthropic_needs({"messages": [{"role": "user", "content": [url_image, ask]}]}) == {"vision"}
    assert anthropic_needs({"messages": [{"role": "user", "content": [pdf, ask]}]}) == {"files"}
    assert anthropic_needs({"messages": [{"role": "user", "content": [text_doc, ask]}]}) is NO_NEEDS  # text
    # an image inside a tool result: still an image the model must read
    loop = [{"role": "user", "content": "look"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [image]}]}]
    assert anthropic_needs({"messages": loop}) == {"vision", "tools"}
    tools = [{"name": "weather", "input_schema": SCHEMA}]
    assert anthropic_needs({"messages": [{"role": "user", "content": "weather?"}], "tools": tools}) == {"tools"}


def test_anthropic_server_search_tool_is_web_search_not_tools() -> None:
    body = {"messages": [{"role": "user", "content": "news?"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]}
    assert anthropic_needs(body) == {"web_search"}


def test_gemini_parts() -> None:
    def ask(part: dict[str, Any]) -> dict[str, Any]:
        return {"contents": [{"role": "user", "parts": [{"text": "what is it?"}, part]}]}
    assert gemini_needs(ask({"inlineData": {"mimeType": "image/png", "data": PNG}})) == {"vision"}
    assert gemini_needs(ask({"inline_data": {"mime_type": "image/png", "data": PNG}})) == {"vision"}
    assert gemini_needs(ask({"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}})) \
        == {"vision"}
    assert gemini_needs(ask({"inlineData": {"mimeType": "audio/wav", "data": WAV}})) == {"audio"}
    assert gemini_needs(ask({"inlineData": {"mimeType": "audio/ogg", "data": WAV}})) == {"audio"}  # a file part
    assert gemini_needs(ask({"inlineData": {"mimeType": "application/pdf", "data": PDF}})) == {"files"}
    tools = [{"functionDeclarations": [{"name": "weather", "parameters": {"type": "OBJECT"}}]}]
    assert gemini_needs({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}], "tools": tools}) == {"tools"}
    schema = {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    assert gemini_needs({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": schema}) == {"json_schema"}
    for search in ({"googleSearch": {}}, {"google_search": {}}):
        assert gemini_needs({"contents": [{"parts": [{"text": "news?"}]}], "tools": [search]}) == {"web_search"}


def test_responses_items() -> None:
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}
    pdf = {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"}
    for part, need in ((image, "vision"), (pdf, "files")):
        body = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "what is it?"}, part]}]}
        assert responses_needs(body) == {need}
    tool = {"type": "function", "name": "weather", "parameters": SCHEMA}
    assert responses_needs({"input": "weather?", "tools": [tool]}) == {"tools"}
    text = {"format": {"type": "json_schema", "name": "city", "schema": SCHEMA}}
    assert responses_needs({"input": "x", "text": text}) == {"json_schema"}
    for search in ({"type": "web_search"}, {"type": "web_search_preview"}):
        assert responses_needs({"input": "news?", "tools": [search]}) == {"web_search"}


def test_search_need_and_search_reservation_read_the_same_tools() -> None:
    """A tool that reserves searches is a tool that needs a searching model, and the other way round."""
    bodies = [
        AnthropicMessages().parse(orjson.dumps({"model": "auto", "max_tokens": 9, "messages": [
            {"role": "user", "content": "x"}], "tools": [{"type": "web_search_20250305", "name": "web_search"}]})),
        GeminiGenerate("auto").parse(orjson.dumps({"contents": [{"parts": [{"text": "x"}]}],
                                                   "tools": [{"codeExecution": {}}]})),
        Responses().parse(orjson.dumps({"model": "auto", "input": "x", "tools": [{"type": "web_search"}]})),
    ]
    for chat in bodies:
        assert ("web_search" in request_needs(chat.body)) == (declared_searches(chat.body) > 0)
