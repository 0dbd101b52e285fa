"""Anthropic Messages API (`POST {base}/v1/messages`) behind the OpenAI chat-completions format.

Request (OpenAI → Anthropic):
- `system` / `developer` messages, wherever they are, become the top-level `system` text (joined
  by blank lines, in order); Anthropic has no system role inside `messages`.
- an assistant message's `thinking_blocks` (Claude's own, signed, carried by an earlier answer and
  sent back by the client) open its turn: Claude refuses a tool turn with thinking on without them.
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
- `response_format` `json_object` / `json_schema` → a forced tool whose input schema is the wanted
  JSON (a system instruction when the client sends tools of its own); `reasoning_effort` →
  `thinking.budget_tokens`. Both are in `structured.py`.
- `x_gateway_native` (gateway.providers.base.NATIVE), set for a request that came in as Anthropic
  Messages: its own fields replace their translation (`cache_control`, thinking blocks and
  signatures, `thinking`, server tools pass through) and its `anthropic-beta` header is added.
- turns another provider wrote (a fallback mid tool loop): thinking blocks Claude cannot have
  signed are left out, and `enabled` thinking goes when the final tool turn has no thinking
  block left (`thinking.py`), as `UpstreamRequest.adapted` says.
- `web_search_options` → Anthropic's web search tool (`search.py`), after any function tools; with
  it JSON mode is a system instruction, as with tools of the client's own (a forced tool would
  answer before any search).
- `prompt_cache: auto` on the deployment: cache breakpoints where the client set none
  (`cache_marks.py`).
- `n` other than 1 is refused with a 400 (Anthropic returns one answer per request). Any other
  field Anthropic does not take is dropped, with a debug log line naming it.

Response and stream: text blocks joined into `content`, `tool_use` → `tool_calls` (JSON-string
arguments), `stop_reason` mapped to `finish_reason`, usage with prompt tokens counted as
input + cache reads + cache writes (cached = cache reads).

The response side is in `response.py`, the stream decoder in `stream.py`; the package's `adapter`
puts the three together. What every translating adapter does on the OpenAI side is in
`gateway.providers.openai_side`.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.config import Deployment, Provider
from gateway.errors import bad_request, shown
from gateway.providers import openai_side
from gateway.providers import search_options
from gateway.providers.anthropic import cache_marks, search, structured, thinking
from gateway.providers.base import (
    NATIVE,
    ProbeTarget,
    UpstreamError,
    UpstreamRequest,
    as_item,
    as_list,
    as_number,
    as_strings,
    encode,
    json_headers,
    key_headers,
    upstream_error,
)
from gateway.providers.json_mode import json_instruction

API_VERSION = "2023-06-01"
VERSION_HEADER = {"anthropic-version": API_VERSION}
DEFAULT_MAX_TOKENS = 4096

# Fields of an OpenAI request this module reads; every other field is dropped (and logged).
HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "top_k", "n", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "reasoning_effort", "user", "web_search_options", NATIVE,
})


def _url(base: str) -> str:
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def health_probe(provider: Provider) -> ProbeTarget:
    """The model listing, `GET /v1/models`."""
    base = provider.base_url
    return base + ("/models" if base.endswith("/v1") else "/v1/models"), key_headers(provider, "x-api-key",
                                                                                      fixed=VERSION_HEADER)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    url = openai_side.image_url(part, where)
    if url.startswith("data:"):
        media_type, data = openai_side.parse_data_url(url, where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad_request(f"{where}: image URLs must be https:// or data: URLs.", where)


def _file_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    media_type, data = openai_side.file_data(part, where, " for this model")
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


def _messages(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for where, role, msg in openai_side.conversation(messages, system):
        if role == "user":
            openai_side.add_turn(turns, "user", "content", _blocks(msg.get("content"), where))
        elif role == "assistant":  # Claude's signed thinking first, as it answered it (needed with tools)
            blocks = openai_side.signed_thinking(msg.get("thinking_blocks")) + _blocks(msg.get("content"), where)
            blocks += [{"type": "tool_use", "id": str(call.get("id") or ""), "name": name, "input": args}
                       for call, name, args, _ in openai_side.tool_calls(msg, where)]
            openai_side.add_turn(turns, "assistant", "content", blocks)
        else:  # tool
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_request(f"{where}: tool messages need a tool_call_id.", f"{where}.tool_call_id")
            content = msg.get("content")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
            if isinstance(content, str):
                result["content"] = content
            elif content:
                result["content"] = _blocks(content, where)
            # results in a row share one user turn, ahead of any text
            openai_side.add_turn(turns, "user", "content", [result])
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for fn in openai_side.function_tools(tools):
        entry: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            entry["description"] = fn["description"]
        out.append(entry)
    return out


TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none", "function": "tool"}


def _tool_choice(choice: Any) -> dict[str, Any]:
    mode, name = openai_side.tool_choice_mode(choice)
    return {"type": TOOL_CHOICES[mode], "name": name} if name else {"type": TOOL_CHOICES[mode]}


def max_tokens_for(chat: dict[str, Any], dep: Deployment) -> int:
    """Anthropic requires `max_tokens`: the client's, else the model's cap up to DEFAULT_MAX_TOKENS."""
    value = openai_side.requested_max_tokens(chat)
    if value:
        return value
    return min(dep.max_output_tokens, DEFAULT_MAX_TOKENS) if dep.max_output_tokens else DEFAULT_MAX_TOKENS


def message_body(chat: dict[str, Any], dep: Deployment,
                 stream: bool) -> tuple[dict[str, Any], dict[str, str], tuple[str, ...]]:
    """The Messages body, the headers it needs (`anthropic-beta`), without the key's, and what
    was changed for Claude to take it (`thinking.fit`): Claude on Vertex and Bedrock sends the
    same body, reshaped (gateway/providers/vertex.py, gateway/providers/bedrock/invoke.py)."""
    n = chat.get("n")
    if n is not None and n != 1:
        raise bad_request("n > 1 is not supported by this model (Anthropic returns one completion per "
                          "request); send n=1 or omit it.", "n", "unsupported_parameter")
    openai_side.drop_unknown(chat, HANDLED, "anthropic")
    system, messages = _messages(chat.get("messages") or [])
    tools = chat.get("tools")
    searching = search_options.read(chat)
    forced = None if tools or searching is not None else structured.json_tool(chat.get("response_format"))
    instruction = None if forced else json_instruction(chat.get("response_format"))
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
    choice = chat.get("tool_choice")
    if forced:
        body["tools"] = [forced]
        body["tool_choice"] = {"type": "tool", "name": forced["name"]}
    elif tools:
        body["tools"] = _tools(tools)
        tc = _tool_choice(choice)
        if chat.get("parallel_tool_calls") is False and tc["type"] != "none":
            tc["disable_parallel_tool_use"] = True
        if choice is not None or "disable_parallel_tool_use" in tc:
            body["tool_choice"] = tc
    if searching is not None:
        body.setdefault("tools", []).append(search.search_tool(searching))
    structured.add_thinking(body, chat, openai_side.requested_max_tokens(chat) is not None,
                            dep.max_output_tokens or body["max_tokens"])
    if isinstance(chat.get("user"), str) and chat["user"]:
        body["metadata"] = {"user_id": chat["user"]}
    if stream:
        body["stream"] = True
    headers: dict[str, str] = {}
    native = chat.get(NATIVE)
    if native is not None:  # an Anthropic client's own fields, sent as they came
        body.update(native.get("body") or {})
        beta = (native.get("headers") or {}).get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
    if dep.prompt_cache:
        cache_marks.mark(body)
    return body, headers, thinking.fit(body)  # turns another provider wrote, made fit for Claude


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body, extra, adapted = message_body(chat, dep, stream)
    headers = json_headers(dep, "x-api-key", fixed=VERSION_HEADER)
    beta = extra.get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = f"{headers['anthropic-beta']},{beta}" if "anthropic-beta" in headers else beta
    return UpstreamRequest(_url(dep.provider.base_url), headers, encode(body), adapted=adapted)


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
    if status == 529:
        code = code or "overloaded_error"
    return upstream_error(status, message, code, headers, retryable=code == "overloaded_error")
