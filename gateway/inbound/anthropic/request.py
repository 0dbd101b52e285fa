"""An Anthropic Messages request → the canonical (OpenAI chat-completions) body.

What maps one to one: `system` (a string or text blocks) → a system message; user, assistant and
mid-conversation system turns in order; `text`, `image` (base64 or URL) and `document` (PDF base64, plain text) blocks →
content parts; assistant `tool_use` → `tool_calls`; a user turn's `tool_result` blocks → `tool`
messages ahead of the turn's other content (`is_error` prefixes "Error: "; images in a result
follow as a user message, since OpenAI tool messages hold text only); custom `tools` → function
tools; `tool_choice` (auto, any, tool, none; `disable_parallel_tool_use`); `stop_sequences`,
`temperature`, `top_p`, `max_tokens` (→ `max_completion_tokens`), `metadata.user_id` → `user`;
`stream` (always asking for usage, so the answer's `message_delta` carries the real counts).

Gemini's thought signatures ride in thinking blocks of the gateway's own (signatures.py): they
go back on the canonical calls and out of everything else.

What the canonical form cannot say (`cache_control`, thinking blocks and their signatures,
`thinking`, `top_k`, server tools, any newer field) is kept under `NATIVE`: the client's body
minus what the gateway decides (`model`, `max_tokens`, `stream`), which the adapters that speak
Messages (`anthropic`, `vertex_anthropic`, `bedrock_anthropic`: `native_format` "anthropic") send as
they came and every other provider never sees (gateway.providers.base, NATIVE).

What the request names that lives at the provider (a Files API `file_id` source or a
`container_upload`, a `container`, `mcp_servers`) cannot be sent anywhere else: the native field's
`only` keeps the request on the Anthropic-format links of one provider (gateway.routing.plan.
native_links), and a 403/404 answered to it is the request's error, not a broken deployment
(gateway.pipeline.native.referenced_fault).
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import bad_request, shown
from gateway.inbound.anthropic import signatures
from gateway.inbound.base import NO_HEADERS
from gateway.pipeline.request import MAX_OUTPUT_TOKENS
from gateway.providers.base import NATIVE

GATEWAY_DECIDES = frozenset({"model", "max_tokens", "stream"})
AT_PROVIDER = ("container", "mcp_servers")  # top-level fields naming what the provider holds
FORWARD_HEADERS = ("anthropic-beta",)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{where}: Input should be an object.", where)
    return value


def _str(block: dict[str, Any], name: str, where: str) -> str:
    value = block.get(name)
    if not isinstance(value, str):
        raise bad_request(f"{where}.{name}: Input should be a string.", f"{where}.{name}")
    return value


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """`content` as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: Input should be a string or a list of content blocks.",
                          f"{where}.content")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):  # paths formatted only here
            _obj(block, f"{where}.content.{i}")
            raise bad_request(f"{where}.content.{i}.type: Field required.", f"{where}.content.{i}.type")
    return content


def _source_url(source: Any, where: str) -> str:
    source = _obj(source, f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        return f"data:{_str(source, 'media_type', where + '.source')};base64,{_str(source, 'data', where + '.source')}"
    if kind == "url":
        return _str(source, "url", f"{where}.source")
    raise bad_request(f"{where}.source.type: {shown(kind)} is not translated; use 'base64' or 'url'.",
                      f"{where}.source.type")


def _part(block: dict[str, Any], where: str) -> dict[str, Any] | None:
    """One user/assistant content block → a canonical content part, its `cache_control` kept (a
    hint: gateway.providers.base.HINTS); None when it has none."""
    part = _bare_part(block, where)
    if part is not None and isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def file_ref(block: dict[str, Any]) -> bool:
    """A block naming a file uploaded to the provider (Files API): a `file` source, a container upload."""
    source = block.get("source")
    return block["type"] == "container_upload" or (isinstance(source, dict) and source.get("type") == "file")


def _bare_part(block: dict[str, Any], where: str) -> dict[str, Any] | None:
    kind = block["type"]
    if kind in ("image", "document") and file_ref(block):
        return None  # the provider's file: native only, and the request is marked so
    if kind == "text":
        return {"type": "text", "text": _str(block, "text", where)}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _source_url(block.get("source"), where)}}
    if kind == "document":
        source = _obj(block.get("source"), f"{where}.source")
        if source.get("type") == "text":
            return {"type": "text", "text": _str(source, "data", f"{where}.source")}
        file: dict[str, Any] = {"file_data": _source_url(source, where)}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return {"type": "file", "file": file}
    return None  # thinking, redacted_thinking, server tool blocks, files...: native only


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text parts as one string, unless one carries a cache mark (kept in place)."""
    if all(p["type"] == "text" and "cache_control" not in p for p in parts):
        return "".join(p["text"] for p in parts) if len(parts) == 1 else "\n".join(p["text"] for p in parts)
    return parts


def _tool_result(block: dict[str, Any], where: str,
                 refs: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A `tool_result` block → a tool message, and the images it held (for a user message)."""
    call_id = _str(block, "tool_use_id", where)
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    content = block.get("content")
    if content is not None:
        for j, inner in enumerate(_blocks(content, where)):
            part = _part(inner, f"{where}.content.{j}")
            if part is None:
                if file_ref(inner):
                    refs.append("file_id")
                continue
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}"
    if isinstance(block.get("cache_control"), dict):  # Claude Code marks the last tool result
        return {"role": "tool", "tool_call_id": call_id,
                "content": [{"type": "text", "text": text, "cache_control": block["cache_control"]}]}, images
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    args = block.get("input")
    if not isinstance(args, dict):
        raise bad_request(f"{where}.input: Input should be an object.", f"{where}.input")
    return {"id": _str(block, "id", where), "type": "function",
            "function": {"name": _str(block, "name", where), "arguments": orjson.dumps(args).decode()}}


def _turn(message: Any, i: int, out: list[dict[str, Any]], refs: list[str]) -> None:
    """One message into `out`; what it names at the provider into `refs`."""
    where = f"messages.{i}"
    message = _obj(message, where)
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise bad_request(f"{where}.role: Input should be 'user', 'assistant' or 'system'; got {shown(role)}.",
                          f"{where}.role")
    if "content" not in message:
        raise bad_request(f"{where}.content: Field required.", f"{where}.content")
    if role == "system":  # a mid-conversation system message (Claude Code sends them)
        text = _system(message["content"], f"{where}.content")
        if text:
            out.append({"role": "system", "content": text})
        return
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    signed: dict[str, str] = {}  # call id → Gemini's thought signature, from our thinking blocks
    for j, block in enumerate(_blocks(message["content"], where)):
        here = f"{where}.content.{j}"
        kind = block["type"]
        if kind == "tool_result" and role == "user":
            result, images = _tool_result(block, here, refs)
            out.append(result)  # tool messages first: they must follow the assistant's tool_calls
            after.extend(images)
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_call(block, here))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            if not signatures.take(block, here, signed):
                thinking.append(block)
        else:
            part = _part(block, here)
            if part is not None:
                parts.append(part)
            elif file_ref(block):
                refs.append("file_id")
    parts = after + parts
    if role == "assistant":
        texts = [p for p in parts if p["type"] == "text"]
        text = "".join(p["text"] for p in texts)
        if text or calls:
            marked = any("cache_control" in p for p in texts)
            entry: dict[str, Any] = {"role": "assistant", "content": texts if marked else text or None}
            if calls:
                entry["tool_calls"] = signatures.sign(calls, signed)
            if thinking:  # a hint: the signed blocks, for a provider that takes them back
                entry["thinking_blocks"] = thinking
            out.append(entry)
    elif parts:
        out.append({"role": "user", "content": _content(parts)})


def _system(system: Any, where: str = "system") -> str | list[dict[str, Any]]:
    """The system text; text parts when a block carries a cache mark (kept on its part)."""
    if isinstance(system, str):
        return system
    parts = []
    for i, block in enumerate(_blocks(system, where)):
        if block["type"] != "text":
            raise bad_request(f"{where}.{i}.type: only text blocks are allowed in a system prompt.", where)
        parts.append(_part(block, f"{where}.{i}"))
    if any("cache_control" in p for p in parts):
        return [p for p in parts if p["text"] or "cache_control" in p]
    return "\n".join(p["text"] for p in parts)


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise bad_request("tools: Input should be a list.", "tools")
    out = []
    for i, tool in enumerate(tools):
        tool = _obj(tool, f"tools.{i}")
        if tool.get("type", "custom") != "custom":
            continue  # a server tool (web search, bash, text editor...): native only
        fn: dict[str, Any] = {"name": _str(tool, "name", f"tools.{i}"),
                              "parameters": _obj(tool.get("input_schema"), f"tools.{i}.input_schema")}
        if isinstance(tool.get("description"), str):
            fn["description"] = tool["description"]
        entry: dict[str, Any] = {"type": "function", "function": fn}
        if isinstance(tool.get("cache_control"), dict):
            entry["cache_control"] = tool["cache_control"]
        out.append(entry)
    return out


def _tool_choice(choice: Any, canonical: dict[str, Any]) -> None:
    choice = _obj(choice, "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        canonical["tool_choice"] = "auto"
    elif kind == "any":
        canonical["tool_choice"] = "required"
    elif kind == "none":
        canonical["tool_choice"] = "none"
    elif kind == "tool":
        canonical["tool_choice"] = {"type": "function", "function": {"name": _str(choice, "name", "tool_choice")}}
    else:
        raise bad_request(f"tool_choice.type: {shown(kind)} is not one of 'auto', 'any', 'tool', 'none'.",
                          "tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        canonical["parallel_tool_calls"] = False


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"{name}: Input should be a number between {low:g} and {high:g}.", name)
    return value


def to_canonical(body: dict[str, Any], headers: Mapping[str, str] = NO_HEADERS, counting: bool = False) -> dict[str, Any]:
    """The canonical body of a Messages request (`counting`: a count_tokens body, no max_tokens);
    the client headers an Anthropic deployment may receive travel with the native body."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required (a model name, a route, or 'auto').", "model")
    canonical: dict[str, Any] = {"model": model}
    if not counting:
        limit = body.get("max_tokens")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_OUTPUT_TOKENS:
            raise bad_request(f"max_tokens: Field required, an integer from 1 to {MAX_OUTPUT_TOKENS}.", "max_tokens")
        canonical["max_completion_tokens"] = limit
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise bad_request("messages: Field required, a non-empty list.", "messages")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        text = _system(system)
        if text:
            messages.append({"role": "system", "content": text})
    refs = [name for name in AT_PROVIDER if body.get(name) is not None]
    for i, message in enumerate(raw_messages):
        _turn(message, i, messages, refs)
    if not any(m["role"] != "system" for m in messages):
        raise bad_request("messages: no user or assistant content the gateway can send (system turns alone, or "
                          "only thinking, server-tool or file blocks).", "messages")
    canonical["messages"] = messages
    if body.get("tools") is not None:
        tools = _tools(body["tools"])
        if tools:
            canonical["tools"] = tools
            if body.get("tool_choice") is not None:
                _tool_choice(body["tool_choice"], canonical)
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise bad_request("stop_sequences: Input should be a list of strings.", "stop_sequences")
        if stops:
            canonical["stop"] = stops
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = _number(body, name, 0, high)
        if value is not None:
            canonical[name] = value
    metadata = body.get("metadata")
    if metadata is not None:
        user = _obj(metadata, "metadata").get("user_id")
        if isinstance(user, str) and user:
            canonical["user"] = user
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream: Input should be a boolean.", "stream")
    if stream:
        canonical["stream"] = True
        canonical["stream_options"] = {"include_usage": True}
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        canonical["thinking"] = thinking  # a hint, as are cache marks and thinking blocks
    hints = "thinking" in canonical or _has_hints(canonical)
    own = {k: v for k, v in body.items() if k not in GATEWAY_DECIDES}
    own["messages"] = signatures.without_ours(raw_messages)  # Claude refuses a block it did not sign
    native = canonical[NATIVE] = {"format": "anthropic",
                                  "headers": {h: headers[h] for h in FORWARD_HEADERS if h in headers},
                                  "body": own, "hints": hints, "signatures": signatures.signed(messages)}
    if refs:  # held by one provider: only its Anthropic links may serve it (gateway.providers.base.native_only)
        native["only"] = refs[0]
    return canonical


def _has_hints(canonical: dict[str, Any]) -> bool:
    """Whether a message, a part or a tool carries a hint (gateway.providers.base.HINTS)."""
    for item in (*canonical["messages"], *canonical.get("tools", ())):
        if "cache_control" in item or "thinking_blocks" in item:
            return True
        content = item.get("content")
        if isinstance(content, list) and any("cache_control" in p for p in content):
            return True
    return False
