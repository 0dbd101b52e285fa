"""OpenAI Responses API (`POST {base}/responses`) behind the OpenAI chat-completions format.

Request (chat → Responses):
- messages become `input` items in their order. System and developer messages stay items with
  their own role where they stand (not `instructions`): the API reads them the same way, and
  several of them, or one in the middle of a conversation, keep their place and role.
- user content: a string stays a string; `text` → `input_text`, `image_url` → `input_image`
  (URL or data: URL, with `detail`), `file` with inline data → `input_file`.
- assistant messages: their text as `output_text` parts of an assistant message, then one
  `function_call` item per tool call (its `id` is the `call_id`). Reasoning items the gateway
  gave out with an earlier answer (`reasoning_items`, below) go back first, whole, so an
  encrypted reasoning item continues the model's thinking. `tool` messages → `function_call_output`.
- function tools in Responses' flat shape (`strict: false` unless asked: the Responses API's
  default is strict, chat's is not), custom tools (`custom`, their grammar flat), `tool_choice`,
  `parallel_tool_calls`; custom tool calls → `custom_tool_call` items, the tool messages that
  answer them → `custom_tool_call_output`;
  `web_search_options` → a hosted `web_search` tool after them (`search_context_size` and the
  approximate `user_location` flat, as the tool takes them; its citations come back as chat
  annotations, `citations.py`);
  `max_completion_tokens` / `max_tokens` → `max_output_tokens`; `reasoning_effort` →
  `reasoning.effort`; `verbosity` → `text.verbosity`; `response_format` → `text.format`;
  `temperature`, `top_p`, `user`, `safety_identifier`, `prompt_cache_key`,
  `prompt_cache_retention`, `service_tier`, `metadata` pass.
- always `store: false`: the gateway keeps no state at the provider.
- refused with a 400: `n` > 1, `stop`, `logprobs`, audio output (the Responses API has none of
  them); other fields it does not take (`seed`, penalties, `logit_bias`...) are dropped with a
  debug log line naming them.
- `x_gateway_native` (gateway.providers.base.NATIVE) from the gateway's own Responses inbound:
  the client's body is sent as it came (reasoning items, `include`, hosted tools...), with the
  gateway's `model`, output cap, `stream` and `store: false` (`native_body`).
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.config import Deployment, Provider
from gateway.errors import bad_request, shown
from gateway.providers import openai_side, search_options
from gateway.providers.base import (
    NATIVE, ProbeTarget, UpstreamError, UpstreamRequest, as_item, as_list, as_object, encode, error_message,
    json_headers, key_headers, upstream_error,
)

PASSED = ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention",
          "service_tier", "metadata", "parallel_tool_calls")
HANDLED = frozenset({*PASSED, "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                     "n", "stop", "logprobs", "top_logprobs", "modalities", "tools", "tool_choice",
                     "response_format", "reasoning_effort", "verbosity", "web_search_options", NATIVE})
REASONING = search_options.ITEMS
"""The assistant message's extension field: the Responses API's reasoning items of that answer,
whole (id, summary, encrypted_content), so a client that sends them back continues the thinking;
hosted tools' items of the answer (`web_search_call`...) ride along, whole, in their order (also
the search items other adapters write for the searches their provider ran, which are not sent:
`_unusable`)."""


def health_probe(provider: Provider) -> ProbeTarget:
    """The model listing, `GET {base}/models`, as for `format: openai`."""
    return provider.base_url + "/models", key_headers(provider, "authorization", "Bearer ")


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    native = chat.get(NATIVE)
    body = native_body(chat, native["body"] or {}) if native is not None else responses_body(chat)
    body["model"] = dep.upstream
    body["store"] = False
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return UpstreamRequest(dep.provider.base_url + "/responses", json_headers(dep, "authorization", "Bearer "),
                           encode(body))


def native_body(chat: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """A Responses client's own body with the output cap the gateway reserved for; without
    `previous_response_id` (the gateway's inbound already put the stored conversation in `input`)
    and without the items it cannot take back (`_unusable`: reasoning items that have no encrypted
    content, with `store: false` the provider kept none it could find by id and answers such an
    item with a 400; the search items the gateway wrote for another provider's search)."""
    body = {k: v for k, v in own.items() if k not in ("previous_response_id", "max_output_tokens")}
    if isinstance(body.get("input"), list):
        body["input"] = [i for i in body["input"] if not _unusable(i)]
    cap = openai_side.requested_max_tokens(chat)
    if cap is not None:
        body["max_output_tokens"] = cap
    return body


def responses_body(chat: dict[str, Any]) -> dict[str, Any]:
    """The Responses request for a chat-completions body."""
    n = chat.get("n")
    if n is not None and n != 1:
        raise bad_request("n > 1 is not supported by this model (the Responses API returns one answer per "
                          "request); send n=1 or omit it.", "n", "unsupported_parameter")
    for name, what in (("stop", "stop sequences"), ("logprobs", "logprobs")):
        if chat.get(name):
            raise bad_request(f"'{name}' is not supported by this model (the Responses API has no {what}).",
                              name, "unsupported_parameter")
    if "audio" in (chat.get("modalities") or ()):
        raise bad_request("Audio output is not supported by this model.", "modalities", "unsupported_parameter")
    openai_side.drop_unknown(chat, HANDLED, "openai_responses")
    body: dict[str, Any] = {"input": input_items(chat.get("messages"))}
    for name in PASSED:
        if chat.get(name) is not None:
            body[name] = chat[name]
    cap = openai_side.requested_max_tokens(chat)
    if cap is not None:
        body["max_output_tokens"] = cap
    if chat.get("tools"):
        custom = [t for t in as_list(chat["tools"], "tools") if isinstance(t, dict) and t.get("type") == "custom"]
        plain = [t for t in chat["tools"] if not (isinstance(t, dict) and t.get("type") == "custom")]
        body["tools"] = [*(_tool(fn) for fn in openai_side.function_tools(plain)), *map(_custom_tool, custom)]
        choice = chat.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "custom":
            body["tool_choice"] = {"type": "custom", "name": as_object(choice.get("custom"), "tool_choice.custom").get("name")}
        elif choice is not None:
            mode, name = openai_side.tool_choice_mode(choice)
            body["tool_choice"] = {"type": "function", "name": name} if name else mode
    elif chat.get("tool_choice") in ("none", "auto"):
        body["tool_choice"] = chat["tool_choice"]
    searching = search_options.read(chat)
    if searching is not None:
        body.setdefault("tools", []).append(_search_tool(searching))
    if chat.get("reasoning_effort") is not None:
        body["reasoning"] = {"effort": chat["reasoning_effort"]}
    text = _text_format(chat.get("response_format"))
    if chat.get("verbosity") is not None:
        text["verbosity"] = chat["verbosity"]
    if text:
        body["text"] = text
    return body


def input_items(messages: Any) -> list[dict[str, Any]]:
    """Chat messages → Responses input items, in order."""
    items: list[dict[str, Any]] = []
    custom: set[str] = set()  # ids of custom tool calls: their results are custom_tool_call_output
    for i, msg in enumerate(as_list(messages, "messages")):
        where = f"messages[{i}]"
        msg = as_item(msg, where)
        role = msg.get("role")
        if role in ("system", "developer"):
            items.append({"role": role, "content": openai_side.plain_text(msg.get("content"), where)})
        elif role == "user":
            content = msg.get("content")
            parts = content if isinstance(content, str) else [
                _user_part(as_item(p, f"{where}.content[{j}]"), f"{where}.content[{j}]")
                for j, p in enumerate(as_list(content, f"{where}.content"))]
            items.append({"role": "user", "content": parts})
        elif role == "assistant":
            _assistant(msg, where, items, custom)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_request(f"{where}: tool_call_id is required.", f"{where}.tool_call_id")
            items.append({"type": "custom_tool_call_output" if call_id in custom else "function_call_output",
                          "call_id": call_id, "output": openai_side.plain_text(msg.get("content"), where)})
        else:
            raise bad_request(f"{where}: role {shown(role)} is not supported by this model; use 'tool' messages "
                              "for tool results.", f"{where}.role")
    return items


def _unusable(item: Any) -> bool:
    """An item the Responses API cannot take back with `store: false`: a reasoning item without its
    encrypted content (it kept none to find by id), or a search item the gateway wrote for another
    provider's search (search_options.is_ours: this API ran no such search)."""
    return (isinstance(item, dict) and item.get("type") == "reasoning" and not item.get("encrypted_content")
            or search_options.is_ours(item))


def _assistant(msg: dict[str, Any], where: str, items: list[dict[str, Any]], custom: set[str]) -> None:
    for j, reasoning in enumerate(as_list(msg.get(REASONING), f"{where}.{REASONING}")):
        reasoning = as_item(reasoning, f"{where}.{REASONING}[{j}]")
        if not _unusable(reasoning):
            items.append(reasoning)
    content = msg.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        parts = [{"type": "output_text", "text": content}] if content else []
    else:
        for j, part in enumerate(as_list(content, f"{where}.content")):
            part = as_item(part, f"{where}.content[{j}]")
            if part.get("type") == "refusal":
                parts.append({"type": "refusal", "refusal": str(part.get("refusal") or "")})
            elif part.get("type") == "text":
                parts.append({"type": "output_text", "text": str(part.get("text") or "")})
            else:
                raise bad_request(f"{where}.content[{j}]: only text and refusal parts are allowed in an "
                                  "assistant message.", where)
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    calls = as_list(msg.get("tool_calls"), f"{where}.tool_calls")
    for j, call in enumerate(calls):
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise bad_request(f"{where}: every tool call needs an id.", f"{where}.tool_calls")
        if call.get("type") == "custom":  # a custom tool's call: its input as it came
            spec = as_object(call.get("custom"), f"{where}.tool_calls[{j}].custom")
            items.append({"type": "custom_tool_call", "call_id": call_id, "name": str(spec.get("name") or ""),
                          "input": str(spec.get("input") or "")})
            custom.add(call_id)
            continue
        _, name, args = openai_side.tool_call_arguments(call, f"{where}.tool_calls[{j}]")
        items.append({"type": "function_call", "call_id": call_id, "name": name,
                      "arguments": orjson.dumps(args).decode()})


def _user_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": str(part.get("text") or "")}
    if kind == "image_url":
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, dict) else None
        return {"type": "input_image", "image_url": openai_side.image_url(part, where), "detail": detail or "auto"}
    if kind == "file":
        file = as_object(part.get("file"), f"{where}.file")
        media, data = openai_side.file_data(part, where, " by this model")
        out = {"type": "input_file", "file_data": f"data:{media};base64,{data}"}
        if isinstance(file.get("filename"), str):
            out["filename"] = file["filename"]
        return out
    raise bad_request(f"{where}: content parts of type {shown(kind)} are not supported by this model.", where)


def _tool(fn: dict[str, Any]) -> dict[str, Any]:
    """A chat function → the Responses function tool (flat; not strict unless it says so)."""
    tool: dict[str, Any] = {"type": "function", "name": fn["name"],
                            "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
                            "strict": bool(fn.get("strict"))}
    if fn.get("description") is not None:
        tool["description"] = fn["description"]
    return tool


def _search_tool(options: search_options.SearchOptions) -> dict[str, Any]:
    """The hosted web search tool for a chat request's `web_search_options`."""
    tool: dict[str, Any] = {"type": "web_search"}
    if options.context_size is not None:
        tool["search_context_size"] = options.context_size
    if options.location:
        tool["user_location"] = {"type": "approximate", **options.location}
    return tool


def _custom_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat custom tool → the Responses custom tool (flat; its grammar beside `type`)."""
    spec = as_object(tool.get("custom"), "tools[].custom")
    out: dict[str, Any] = {"type": "custom", "name": spec.get("name")}
    if spec.get("description") is not None:
        out["description"] = spec["description"]
    fmt = spec.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        grammar = as_object(fmt.get("grammar"), "tools[].custom.format.grammar")
        out["format"] = {"type": "grammar", "syntax": grammar.get("syntax"), "definition": grammar.get("definition")}
    elif isinstance(fmt, dict):
        out["format"] = {"type": "text"}
    return out


def _text_format(fmt: Any) -> dict[str, Any]:
    """`response_format` → `{"format": ...}` for the request's `text`; {} when there is none."""
    if fmt is None:
        return {}
    kind = as_object(fmt, "response_format").get("type")
    if kind in ("text", "json_object"):
        return {"format": {"type": kind}}
    if kind == "json_schema":
        spec = as_object(fmt.get("json_schema"), "response_format.json_schema")
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
            raise bad_request("response_format.json_schema needs a name and a schema object.", "response_format")
        out = {"type": "json_schema", "name": spec["name"], "schema": spec["schema"]}
        for name in ("strict", "description"):
            if spec.get(name) is not None:
                out[name] = spec[name]
        return {"format": out}
    raise bad_request(f"response_format type {shown(kind)} is not supported.", "response_format")


def error_from_upstream(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """OpenAI's error shape, as for `format: openai`."""
    message, code = error_message(data)
    return upstream_error(status, message, code, headers)
