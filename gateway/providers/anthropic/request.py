"""Anthropic Messages API (`POST {base}/v1/messages`) behind the OpenAI chat-completions format.

Request (OpenAI → Anthropic):
- `system` / `developer` messages, wherever they are, become the top-level `system` text (joined
  by blank lines, in order); Anthropic has no system role inside `messages`.
- user/assistant turns keep their order; consecutive turns of one role are merged into one turn,
  as the API requires alternation. `tool` messages become `tool_result` blocks in a user turn
  (several results in a row share one turn); assistant `tool_calls` become `tool_use` blocks with
  the JSON arguments parsed into `input`.
- content parts: `text` → text block, `image_url` https → `{"type":"image","source":{"type":"url"}}`,
  `data:` URL → base64 source, `file` with a `data:application/pdf` URL → a base64 document block.
- `max_tokens` is required by Anthropic: `max_completion_tokens`, else `max_tokens`, else
  min(deployment max output tokens, 4096). `stop` → `stop_sequences`; `temperature` (clamped to
  Anthropic's 0..1), `top_p`, `top_k`; `user` → `metadata.user_id`; `tools`, `tool_choice`
  (`parallel_tool_calls: false` → `disable_parallel_tool_use`).
- `response_format`: Anthropic has no JSON mode switch, so `json_object` (and `json_schema`, with
  its schema) adds a system instruction asking for a single JSON value and nothing else.
- `x_gateway_native` (gateway.inbound.base.NATIVE), set for a request that came in as Anthropic
  Messages: its own fields replace their translation (`cache_control`, thinking blocks and
  signatures, `thinking`, server tools pass through) and its `anthropic-beta` header is added.
- `n` other than 1 is refused with a 400 (Anthropic returns one answer per request). Any other
  field Anthropic does not take is dropped, with a debug log line naming it.

Response and stream: text blocks joined into `content`, `tool_use` → `tool_calls` (JSON-string
arguments), `stop_reason` mapped to `finish_reason`, usage with prompt tokens counted as
input + cache reads + cache writes (cached = cache reads).

The response side is in `anthropic_response` and the stream decoder in `anthropic_stream`; this
module re-exports them, so it stays the whole adapter.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.errors import bad_request, shown
from gateway.inbound.base import NATIVE
from gateway.observe.log import get_logger
from gateway.providers import (
    RETRYABLE_STATUSES,
    UpstreamError,
    UpstreamRequest,
    as_count,
    as_item,
    as_list,
    as_number,
    as_object,
    as_strings,
    client_status,
    encode,
    retry_after_seconds,
)
from gateway.providers.anthropic.response import from_upstream
from gateway.providers.anthropic.stream import StreamDecoder
from gateway.providers.openai import StreamError

__all__ = ["to_upstream", "from_upstream", "StreamDecoder", "error_from_upstream", "StreamError"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_INSTRUCTION = ("Respond with a single valid JSON value only: no prose before or after it and no "
                    "Markdown code fences.")

# Fields of an OpenAI request this module reads; every other field is dropped (and logged).
HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "top_k", "n", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "user", NATIVE,
})

log = get_logger("gateway.providers.anthropic.request")


# ---------------------------------------------------------------------------------------- request

def _url(base: str) -> str:
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def _headers(dep: Deployment) -> dict[str, str]:
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
    if dep.provider.api_key:
        headers["x-api-key"] = dep.provider.api_key
    headers.update(dep.provider.headers)
    return headers


def parse_data_url(url: str, where: str) -> tuple[str, str]:
    """`data:<media type>;base64,<data>` → (media type, base64 data); 400 for anything else."""
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise bad_request(f"{where}: a data: URL must be base64-encoded (data:<type>;base64,...).", where)
    media_type = head[5:-7] or "application/octet-stream"
    return media_type, data


def _text_of(content: Any, where: str) -> str:
    """The text of a system/developer message (string or text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        part = as_item(part, f"{where}.content[{i}]")
        if part.get("type") != "text":
            raise bad_request(f"{where}.content[{i}]: only text parts are allowed in this message.", where)
        texts.append(str(part.get("text") or ""))
    return "\n".join(texts)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}: image_url.url is required.", where)
    if url.startswith("data:"):
        media_type, data = parse_data_url(url, where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad_request(f"{where}: image URLs must be https:// or data: URLs.", where)


def _file_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    data_url = as_object(part.get("file"), f"{where}.file").get("file_data")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise bad_request(f"{where}: only inline files (file.file_data as a data: URL) are supported "
                          "for this model.", where)
    media_type, data = parse_data_url(data_url, where)
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """OpenAI message content → Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        here = f"{where}.content[{i}]"
        part = as_item(part, here)
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not text:
                continue
            block: dict[str, Any] = {"type": "text", "text": str(text)}
        elif kind == "image_url":
            block = _image_block(part, here)
        elif kind == "file":
            block = _file_block(part, here)
        else:
            raise bad_request(f"{here}: content part type {shown(kind)} is not supported by this model.", here)
        if isinstance(part.get("cache_control"), dict):
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    call = as_item(call, where)
    fn = as_object(call.get("function"), f"{where}.function")
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}: function.name is required.", where)
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise bad_request(f"{where}: function.arguments is not valid JSON.", where) from None
    if not isinstance(args, dict):
        raise bad_request(f"{where}: function.arguments must be a JSON object.", where)
    return {"type": "tool_use", "id": str(call.get("id") or ""), "name": name, "input": args}


def _messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for i, msg in enumerate(as_list(messages, "messages")):
        where = f"messages[{i}]"
        msg = as_item(msg, where)
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"), where)
            if text:
                system.append(text)
        elif role == "user":
            add("user", _blocks(msg.get("content"), where))
        elif role == "assistant":
            blocks = _blocks(msg.get("content"), where)
            for j, call in enumerate(as_list(msg.get("tool_calls"), f"{where}.tool_calls")):
                blocks.append(_tool_use(call, f"{where}.tool_calls[{j}]"))
            add("assistant", blocks)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_request(f"{where}: tool messages need a tool_call_id.", f"{where}.tool_call_id")
            content = msg.get("content")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
            if isinstance(content, str):
                result["content"] = content
            elif content:
                result["content"] = _blocks(content, where)
            add("user", [result])  # results in a row share one user turn, ahead of any text
        else:
            raise bad_request(f"{where}: role {shown(role)} is not supported by this model; use 'tool' messages "
                              "for tool results.", f"{where}.role")
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(as_list(tools, "tools")):
        tool = as_item(tool, f"tools[{i}]")
        if tool.get("type", "function") != "function":
            raise bad_request(f"tools[{i}]: only function tools are supported by this model.", "tools")
        fn = as_object(tool.get("function"), f"tools[{i}].function")
        if not fn.get("name"):
            raise bad_request(f"tools[{i}]: function.name is required.", "tools")
        entry: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            entry["description"] = fn["description"]
        out.append(entry)
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice in (None, "auto"):
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        name = as_object(choice.get("function"), "tool_choice.function").get("name")
        if name:
            return {"type": "tool", "name": name}
    raise bad_request("tool_choice must be 'auto', 'required', 'none' or {'type': 'function', "
                      "'function': {'name': ...}}.", "tool_choice")


def _json_instruction(fmt: Any) -> str | None:
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return JSON_INSTRUCTION
    if kind == "json_schema":
        schema = as_object(fmt.get("json_schema"), "response_format.json_schema").get("schema")
        if schema is not None:
            return f"{JSON_INSTRUCTION} It must conform to this JSON schema: {encode(schema).decode()}"
        return JSON_INSTRUCTION
    return None


def max_tokens_for(chat: dict[str, Any], dep: Deployment) -> int:
    name = "max_completion_tokens" if chat.get("max_completion_tokens") else "max_tokens"
    value = chat.get(name)
    if value:
        return as_count(value, name)
    return min(dep.max_output_tokens, DEFAULT_MAX_TOKENS) if dep.max_output_tokens else DEFAULT_MAX_TOKENS


def drop_unknown(chat: dict[str, Any], handled: frozenset[str], provider: str) -> None:
    dropped = sorted(k for k in chat if k not in handled)
    if dropped:
        log.debug("request_fields_dropped", provider=provider, fields=dropped)


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    n = chat.get("n")
    if n is not None and n != 1:
        raise bad_request("n > 1 is not supported by this model (Anthropic returns one completion per "
                          "request); send n=1 or omit it.", "n", "unsupported_parameter")
    drop_unknown(chat, HANDLED, "anthropic")
    system, messages = _messages(chat.get("messages") or [])
    instruction = _json_instruction(chat.get("response_format"))
    if instruction:
        system.append(instruction)
    body: dict[str, Any] = {"model": dep.upstream, "max_tokens": max_tokens_for(chat, dep), "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    stop = chat.get("stop")
    if stop:
        body["stop_sequences"] = as_strings(stop, "stop")
    if chat.get("temperature") is not None:
        body["temperature"] = min(1.0, max(0.0, float(as_number(chat["temperature"], "temperature"))))
    if chat.get("top_p") is not None:
        body["top_p"] = chat["top_p"]
    if chat.get("top_k") is not None:
        body["top_k"] = chat["top_k"]
    tools = chat.get("tools")
    choice = chat.get("tool_choice")
    if tools:
        body["tools"] = _tools(tools)
        tc = _tool_choice(choice)
        if chat.get("parallel_tool_calls") is False and tc["type"] != "none":
            tc["disable_parallel_tool_use"] = True
        if choice is not None or "disable_parallel_tool_use" in tc:
            body["tool_choice"] = tc
    if isinstance(chat.get("user"), str) and chat["user"]:
        body["metadata"] = {"user_id": chat["user"]}
    if stream:
        body["stream"] = True
    headers = _headers(dep)
    native = chat.get(NATIVE)
    if native is not None:  # an Anthropic client's own fields, sent as they came
        body.update(native.get("body") or {})
        beta = (native.get("headers") or {}).get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = f"{headers['anthropic-beta']},{beta}" if "anthropic-beta" in headers else beta
    return UpstreamRequest(_url(dep.provider.base_url), headers, encode(body))


# ----------------------------------------------------------------------------------------- errors

def error_from_upstream(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """`{"type":"error","error":{"type","message"}}`; 529 overloaded_error and 429 are retryable."""
    message, code = "upstream error", None
    try:
        doc = orjson.loads(data)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = err.get("type")
    except orjson.JSONDecodeError:
        message = data[:300].decode(errors="replace").strip() or "upstream returned an empty error body"
    client, type_ = client_status(status)
    if status == 529:
        code = code or "overloaded_error"
    return UpstreamError(status=client, message=message, type=type_, code=code,
                         retryable=status in RETRYABLE_STATUSES or code == "overloaded_error",
                         retry_after_s=retry_after_seconds(headers), upstream_status=status)
