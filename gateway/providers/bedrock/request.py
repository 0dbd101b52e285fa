"""Amazon Bedrock Converse API (`/model/{modelId}/converse`, `/converse-stream`) behind the OpenAI
chat-completions format: the request and the error answers.

Request (OpenAI → Converse):
- `system` / `developer` messages → `system` text blocks; user and assistant turns → `messages`
  with `content` blocks (consecutive turns of one role merged: Converse wants them alternating).
- content parts: `text` → `{"text"}`; `image_url` with a `data:` URL → `{"image": {"format",
  "source": {"bytes"}}}` (png, jpeg, gif, webp; the base64 data as it came, which is how the JSON
  protocol carries bytes); `file` parts with a data URL → `document` blocks (`documents.py`). Image
  URLs that are not data URLs, files by id and audio are a 400.
- `max_completion_tokens`/`max_tokens`, `temperature`, `top_p`, `stop` → `inferenceConfig`
  (maxTokens, temperature, topP, stopSequences).
- `tools` → `toolConfig.tools[].toolSpec` (name, description, `inputSchema.json`); `tool_choice`
  auto → `{"auto": {}}`, required → `{"any": {}}`, a named function → `{"tool": {"name"}}`;
  none → no toolConfig, unless the conversation holds tool calls (Converse then needs the tools
  declared, and the model may call one).
- assistant `tool_calls` → `toolUse` blocks (toolUseId, name, input); `tool` messages →
  `toolResult` blocks (toolUseId, `content: [{"text"}]`) in a user turn.
- `response_format` json_object / json_schema → one forced tool (`json_mode.JSON_TOOL`, toolChoice
  `{"tool"}`), or a system instruction when the client sends tools of its own or the schema's root
  is not an object (gateway/providers/json_mode.py); the answer side turns the tool call back into
  `content`.
- Any other field (seed, n=1...) is dropped with a debug log line; n > 1 is a 400.

- `reasoning_effort` (and an Anthropic client's `thinking`), assistant `thinking_blocks` and
  `cache_control` hints → Claude's thinking, `reasoningContent` and `cachePoint` blocks
  (`reasoning.py`); `prompt_cache: auto` on the deployment: cache points where the request has
  none (`cache_points.py`).
- the deployment's guardrail (`models.<name>.bedrock.guardrail`) → `guardrailConfig`; its latency
  (`models.<name>.bedrock.latency`) → `performanceConfig`; the client's `metadata` and `user` →
  `requestMetadata`, what fits Bedrock's limits (`extras.py`).

Not translated: `guardContent` and video blocks, citations, `additionalModelRequestFields` other
than thinking (top_k and other model-specific fields).
The answer side is `response.py`, the stream `stream.py`, the framing `eventstream.py`, and the
signing `auth.py`.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import orjson

from gateway.config import Deployment, Provider
from gateway.errors import bad_request, shown
from gateway.providers import openai_side
from gateway.providers.base import (
    ProbeTarget,
    UpstreamError,
    UpstreamRequest,
    as_item,
    as_list,
    as_number,
    as_strings,
    encode,
    upstream_error,
)
from gateway.providers.bedrock import cache_points, reasoning
from gateway.providers.bedrock.auth import authorized, request_headers
from gateway.providers.bedrock.extras import performance_config, request_metadata
from gateway.providers.bedrock.documents import IMAGE_FORMATS, DocumentNames, file_block
from gateway.providers.json_mode import JSON_TOOL, JSON_TOOL_DESCRIPTION, forced_schema, json_instruction

HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "n", "tools", "tool_choice", "response_format", "reasoning_effort", "thinking",
    "metadata", "user",
})
EVENT_STREAM = "application/vnd.amazon.eventstream"


def model_url(dep: Deployment, action: str) -> str:
    """`{base}/model/{modelId}/{action}`: the model id (an ARN has `/` and `:`) quoted whole."""
    return f"{dep.provider.base_url}/model/{quote(dep.upstream, safe='')}/{action}"


def health_probe(provider: Provider) -> ProbeTarget:
    """bedrock-runtime has no model listing; its one free GET is ListAsyncInvokes, which answers
    200 (an empty page) with the right credentials, or 403 without that permission (neutral)."""
    url = provider.base_url + "/async-invoke?maxResults=1"
    return url, authorized(provider, "GET", url, {}, b"", {"accept": "application/json"})


def _block(part: Any, where: str, names: DocumentNames) -> dict[str, Any] | None:
    part = as_item(part, where)
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": str(text)} if text else None  # Converse refuses a blank text block
    if kind == "image_url":
        url = openai_side.image_url(part, where)
        if not url.startswith("data:"):
            raise bad_request(f"{where}: this model takes images as data: URLs only (Bedrock reads bytes).", where)
        media_type, data = openai_side.parse_data_url(url, where)
        fmt = IMAGE_FORMATS.get(media_type.lower())
        if fmt is None:
            raise bad_request(f"{where}: image type {shown(media_type)} is not one of png, jpeg, gif, webp.", where)
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if kind == "file":
        return file_block(part, where, names)
    raise bad_request(f"{where}: content part type {shown(kind)} is not supported by this model.", where)


def _blocks(content: Any, where: str, cache: bool, names: DocumentNames) -> list[dict[str, Any]]:
    """Content parts → Converse blocks; with `cache`, a cachePoint after each marked part."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        block = _block(part, f"{where}.content[{i}]", names)
        if block is not None:
            blocks.append(block)
        found = reasoning.mark(part) if cache else None
        if found is not None and blocks:
            blocks.append(reasoning.cache_point(found))
    return blocks


def _cached(blocks: list[dict[str, Any]], msg: dict[str, Any], cache: bool) -> list[dict[str, Any]]:
    """`blocks` and, for a message with a `cache_control` hint, a cachePoint after them."""
    found = reasoning.mark(msg) if cache else None
    if found is not None and blocks and "cachePoint" not in blocks[-1]:
        blocks.append(reasoning.cache_point(found))
    return blocks


def _messages(messages: Any, cache: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(system blocks, Converse messages, whether the conversation holds tool calls)."""
    texts: list[str] = []
    marks: dict[int, Any] | None = {} if cache else None
    turns: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    names = DocumentNames()
    for where, role, msg in openai_side.conversation(messages, texts, marks):
        if role == "user":
            blocks = _blocks(msg.get("content"), where, cache, names)
            openai_side.add_turn(turns, "user", "content", _cached(blocks, msg, cache))
        elif role == "assistant":
            blocks = reasoning.reasoning_blocks(msg.get("thinking_blocks"))
            blocks += _blocks(msg.get("content"), where, cache, names)
            for call, name, args, _here in openai_side.tool_calls(msg, where):
                call_id = str(call.get("id") or f"call_{len(call_ids)}")
                call_ids.add(call_id)
                blocks.append({"toolUse": {"toolUseId": call_id, "name": name, "input": args}})
            openai_side.add_turn(turns, "assistant", "content", _cached(blocks, msg, cache))
        else:  # tool
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in call_ids:
                raise bad_request(f"{where}: tool_call_id {shown(call_id)} does not match a tool call of an earlier "
                                  "assistant message.", f"{where}.tool_call_id")
            content = msg.get("content")
            text = openai_side.plain_text(content, where)
            blocks = [{"toolResult": {"toolUseId": call_id, "content": [{"text": text or "(empty)"}]}}]
            parts = content if cache and isinstance(content, list) else ()
            found = next((m for m in map(reasoning.mark, parts) if m is not None), None)
            if found is not None:  # Converse takes no cachePoint inside a toolResult: after it
                blocks.append(reasoning.cache_point(found))
            openai_side.add_turn(turns, "user", "content", _cached(blocks, msg, cache))
    system: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        system.append({"text": text})
        if marks and i in marks:
            system.append(reasoning.cache_point(marks[i]))
    return system, turns, bool(call_ids)


def _tool_config(tools: Any, choice: Any, has_calls: bool, cache: bool) -> dict[str, Any] | None:
    mode, name = openai_side.tool_choice_mode(choice)
    if mode == "none" and not has_calls:
        return None
    specs: list[dict[str, Any]] = []
    for fn, tool in zip(openai_side.function_tools(tools), tools):
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        params = fn.get("parameters")
        spec["inputSchema"] = {"json": params if isinstance(params, dict) else {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
        found = reasoning.mark(tool) if cache else None
        if found is not None:
            specs.append(reasoning.cache_point(found))
    config: dict[str, Any] = {"tools": specs}
    if mode == "required":
        config["toolChoice"] = {"any": {}}
    elif mode == "function":
        config["toolChoice"] = {"tool": {"name": name}}
    elif mode == "auto" and choice is not None:
        config["toolChoice"] = {"auto": {}}
    return config


def _inference_config(chat: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = openai_side.requested_max_tokens(chat)
    if max_tokens:
        config["maxTokens"] = max_tokens
    if chat.get("temperature") is not None:
        config["temperature"] = as_number(chat["temperature"], "temperature")
    if chat.get("top_p") is not None:
        config["topP"] = as_number(chat["top_p"], "top_p")
    stop = chat.get("stop")
    if stop:
        config["stopSequences"] = as_strings(stop, "stop")
    return config


def guardrail_config(dep: Deployment, stream: bool) -> dict[str, str] | None:
    """The deployment's guardrail as Converse's `guardrailConfig` (a stream's may name its
    `streamProcessingMode`, which the Converse call's refuses), or None."""
    g = dep.guardrail
    if g is None:
        return None
    config = {"guardrailIdentifier": g.identifier, "guardrailVersion": g.version}
    if g.trace:
        config["trace"] = g.trace
    if stream and g.stream_processing_mode:
        config["streamProcessingMode"] = g.stream_processing_mode
    return config


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    n = chat.get("n")
    if n is not None and n != 1:
        raise bad_request("n > 1 is not supported by this model (Bedrock returns one completion per request); "
                          "send n=1 or omit it.", "n", "unsupported_parameter")
    openai_side.drop_unknown(chat, HANDLED, "bedrock")
    cache = reasoning.caches(dep.upstream)
    system, messages, has_calls = _messages(chat.get("messages") or [], cache)
    fmt = chat.get("response_format")
    forced = None if chat.get("tools") else forced_schema(fmt)
    instruction = None if forced else json_instruction(fmt)
    if instruction:
        system.append({"text": instruction})
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    config = _inference_config(chat)
    if config:
        body["inferenceConfig"] = config
    if forced:
        body["toolConfig"] = {"tools": [{"toolSpec": {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION,
                                                      "inputSchema": {"json": forced}}}],
                              "toolChoice": {"tool": {"name": JSON_TOOL}}}
    elif chat.get("tools"):
        tool_config = _tool_config(chat["tools"], chat.get("tool_choice"), has_calls, cache)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    if dep.prompt_cache:
        cache_points.add_points(body, dep.upstream)
    reasoning.add_thinking(body, chat, dep)
    adapted = reasoning.fit(body)  # a tool turn another provider wrote, with thinking on
    guardrail = guardrail_config(dep, stream)
    if guardrail:
        body["guardrailConfig"] = guardrail
    performance = performance_config(dep)
    if performance:
        body["performanceConfig"] = performance
    metadata = request_metadata(chat)
    if metadata:
        body["requestMetadata"] = metadata
    data = encode(body)
    url = model_url(dep, "converse-stream" if stream else "converse")
    return UpstreamRequest(url, request_headers(dep, url, data, EVENT_STREAM if stream else "application/json"), data,
                           adapted=adapted)


# ----------------------------------------------------------------------------------------- errors

# Bedrock names its error in the `x-amzn-errortype` header ("ThrottlingException:http://...") and
# says what went wrong in the body's `message`. These are worth another try (or another deployment).
RETRYABLE_ERRORS = frozenset({
    "ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException", "ModelTimeoutException",
    "InternalServerException", "ModelStreamErrorException", "ServiceQuotaExceededException",
})


def error_type(headers: Mapping[str, str], doc: Any) -> str | None:
    """The error's name: the header's, else the body's `__type` (`com.amazon...#ThrottlingException`)."""
    name = headers.get("x-amzn-errortype") or (doc.get("__type") if isinstance(doc, dict) else None) or ""
    name = str(name).split(":", 1)[0].rsplit("#", 1)[-1]
    return name or None


def error_from_upstream(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """`{"message": ...}` (or `Message`) with the error type in `x-amzn-errortype`."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        message = str(doc.get("message") or doc.get("Message") or "upstream error")
    else:
        message = data[:300].decode(errors="replace").strip() or "upstream returned an empty error body"
    code = error_type(headers, doc)
    return upstream_error(status, message, code, headers, retryable=code in RETRYABLE_ERRORS)
