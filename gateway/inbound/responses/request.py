"""A Responses API request (`POST /v1/responses`) → the canonical chat-completions body.

Translated: `input` (a string, or items: messages, `function_call`, `function_call_output`,
`custom_tool_call` and `custom_tool_call_output`: an assistant tool call, a tool message),
`instructions` (a leading system message, not kept across `previous_response_id`, as OpenAI
does), function tools, custom (freeform) tools (`{"type": "custom"}` in the chat shape, which a
provider without them gets as functions: gateway.pipeline.custom_tools), `tool_choice`
(also naming a custom tool), the hosted web search tool → `web_search_options` (search.py),
`parallel_tool_calls`, `max_output_tokens`,
`temperature`, `top_p`, `reasoning.effort` → `reasoning_effort`, `text.format` →
`response_format`, `text.verbosity`, `user`, `safety_identifier`, `prompt_cache_key`, `seed`;
`metadata` (also echoed back) as a canonical hint that only Bedrock Converse reads, for its
`requestMetadata` (OpenAI's chat API refuses `metadata` without `store`, so an OpenAI-format
deployment never gets it: gateway.providers.base.TOP_HINTS);
`reasoning` items the gateway gave out (Claude's signed thinking, thinking.py) → the
`thinking_blocks` of the assistant message after them; (Gemini's thought signatures,
signatures.py) → the signature of the function call they name.

Dropped on purpose from the canonical body (a `format: openai_responses` deployment still gets
them: the client's body travels under NATIVE, see the package docstring): other `reasoning`
input items (OpenAI's encrypted content, which no other provider can read), tools the gateway
cannot run on every provider (`file_search`, `namespace`, ...: hosted tools),
the items of hosted tools whose work the provider did (HOSTED_RESULTS: a `web_search_call`
sent back with the conversation; the answer text that used it stays), `include`, `truncation`,
`reasoning.summary` (read by the answer: reply.Turn.summaries), `stream_options`. Refused with a
400 naming the field:
`background`, `conversation`, `prompt` (stored prompts), `item_reference` items, files and
images by `file_id`, and the other items of OpenAI's hosted tools (a computer or shell call and
its output, an MCP approval: turns a client takes part in, which no other provider could go on).
"""

from __future__ import annotations

from typing import Any

from gateway.errors import bad_request, shown
from gateway.inbound.responses import signatures, thinking
from gateway.inbound.responses.search import hosted_search, is_search

# Output items of hosted tools the provider ran by itself: a stateless client sends them back
# with the conversation (`input += response.output`), and they mean something to the Responses
# API only (the native body keeps them for a `format: openai_responses` deployment).
HOSTED_RESULTS = frozenset({"web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call",
                            "mcp_call", "mcp_list_tools"})
from gateway.pipeline.request import MAX_OUTPUT_TOKENS

PASSED = ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier", "prompt_cache_key",
          "seed", "service_tier")
REFUSED = {
    "background": "background responses are not supported by this gateway",
    "conversation": "conversations are not supported by this gateway; use previous_response_id",
    "prompt": "stored prompt templates are not supported by this gateway",
}
ROLES = frozenset({"user", "assistant", "system", "developer"})


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise bad_request(f"'{where}' must be {what}.", where)
    return value


def canonical_body(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The chat-completions body for `body`; `history` (a stored conversation) goes between the
    instructions and the new input."""
    for name, why in REFUSED.items():
        if body.get(name) not in (None, False):
            raise bad_request(f"'{name}': {why}.", name, "unsupported_parameter")
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        messages.append({"role": "system", "content": _expect(instructions, str, "instructions", "a string")})
    messages += history or ()
    messages += input_messages(body.get("input"))
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in PASSED:
        if body.get(name) is not None:
            chat[name] = body[name]
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_OUTPUT_TOKENS:
            raise bad_request(f"'max_output_tokens' must be an integer between 1 and {MAX_OUTPUT_TOKENS}.",
                              "max_output_tokens")
        chat["max_completion_tokens"] = limit
    if body.get("stream") is not None:
        chat["stream"] = body["stream"]
        if body["stream"] is True:
            chat["stream_options"] = {"include_usage": True}  # the usage is part of response.completed
    given = _expect(body.get("tools") or [], list, "tools", "an array")
    choice = body.get("tool_choice")
    searching = hosted_search(given, choice)
    if searching is not None:
        chat["web_search_options"] = searching
    if is_search(choice):  # offered as `auto` does: no other provider can be made to search
        choice = None
    tools = [_tool(t, i) for i, t in enumerate(given)]
    if any(tools):
        chat["tools"] = [t for t in tools if t]
        if choice is not None:
            chat["tool_choice"] = _tool_choice(choice)
    elif choice not in (None, "auto", "none") and not (choice == "required" and searching is not None):
        raise bad_request("'tool_choice' names a tool, but no function or custom tool is given.", "tool_choice")
    reasoning = _expect(body.get("reasoning") or {}, dict, "reasoning", "an object")
    if reasoning.get("effort") is not None:
        chat["reasoning_effort"] = _expect(reasoning["effort"], str, "reasoning.effort", "a string")
    _text(_expect(body.get("text") or {}, dict, "text", "an object"), chat)
    metadata = _expect(body.get("metadata") or {}, dict, "metadata", "an object")
    if metadata:
        chat["metadata"] = metadata  # a hint: only Bedrock Converse reads it (gateway.providers.base.TOP_HINTS)
    return chat


def input_messages(value: Any) -> list[dict[str, Any]]:
    """`input` as chat messages: a string is one user message; items keep their order, and
    function calls join the assistant message before them (one turn, as chat has it). The
    thinking blocks of the gateway's reasoning items open the assistant message that follows
    them (Claude's turn began with them); before any other message they are dropped. The
    thought signatures of the gateway's other reasoning items go back on the calls they name."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    items = _expect(value, list, "input", "a string or an array of input items")
    out: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []  # thinking not yet in its assistant message
    signed: dict[str, str] = {}  # call id → Gemini's thought signature
    for i, item in enumerate(items):
        where = f"input[{i}]"
        item = _expect(item, dict, where, "an object")
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = {"id": _expect(item.get("call_id"), str, f"{where}.call_id", "a string"), "type": "function",
                    "function": {"name": _expect(item.get("name"), str, f"{where}.name", "a string"),
                                 "arguments": _expect(item.get("arguments", "{}"), str, f"{where}.arguments",
                                                      "a JSON string")}}
            _call(out, call)
        elif kind == "custom_tool_call":
            _call(out, {"id": _expect(item.get("call_id"), str, f"{where}.call_id", "a string"), "type": "custom",
                        "custom": {"name": _expect(item.get("name"), str, f"{where}.name", "a string"),
                                   "input": _expect(item.get("input"), str, f"{where}.input", "a string")}})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append({"role": "tool", "tool_call_id": _expect(item.get("call_id"), str, f"{where}.call_id", "a string"),
                        "content": _tool_output(item.get("output"), f"{where}.output")})
        elif isinstance(kind, str) and kind in HOSTED_RESULTS:  # the provider ran it and holds its result: for its own API only
            continue
        elif kind == "reasoning":  # the gateway's envelopes, else OpenAI's (dropped)
            signature = signatures.unseal(item, where)
            if signature is not None:
                signed[signature[0]] = signature[1]
            else:
                blocks += thinking.unseal(item, where) or ()
        else:
            raise bad_request(f"'{where}.type': items of type {shown(kind)} are not supported by this gateway "
                              "(messages, function and custom tool calls, their outputs, and reasoning are).",
                              f"{where}.type", "unsupported_value")
        if blocks and kind != "reasoning":
            if out[-1]["role"] == "assistant":
                out[-1].setdefault("thinking_blocks", []).extend(blocks)
            blocks = []
    if not out:
        raise bad_request("'input' must hold at least one message.", "input")
    signatures.restore(out, signed)
    return out


def _call(out: list[dict[str, Any]], call: dict[str, Any]) -> None:
    """A tool call joins the assistant message before it (one turn, as chat has it)."""
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
        last.setdefault("tool_calls", []).append(call)
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad_request(f"'{where}.role' must be one of {sorted(ROLES)}; got {shown(role)}.", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [_part(p, f"{where}.content[{j}]")
             for j, p in enumerate(_expect(content, list, f"{where}.content", "a string or an array of parts"))]
    if role != "user" and all(p["type"] == "text" for p in parts):
        return {"role": role, "content": "".join(p["text"] for p in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    part = _expect(part, dict, where, "an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _expect(part.get("text"), str, f"{where}.text", "a string")}
    if kind == "refusal":
        return {"type": "text", "text": _expect(part.get("refusal"), str, f"{where}.refusal", "a string")}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail") or "auto"}}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        file = {"file_data": part["file_data"]}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind in ("input_image", "input_file"):
        raise bad_request(f"'{where}': files by file_id or URL are not supported by this gateway; send "
                          "images as image_url and files as base64 file_data.", where, "unsupported_value")
    raise bad_request(f"'{where}.type': content parts of type {shown(kind)} are not supported.", f"{where}.type",
                      "unsupported_value")


def _tool_output(output: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(output, str):
        return output
    parts = [_part(p, f"{where}[{j}]") for j, p in enumerate(_expect(output, list, where, "a string or an array"))]
    if any(p["type"] != "text" for p in parts):
        raise bad_request(f"'{where}': only text is supported in a function call's output.", where)
    return "".join(p["text"] for p in parts)


def _tool(tool: Any, i: int) -> dict[str, Any] | None:
    """A function or custom tool in the chat shape; None for a tool the gateway drops (hosted tools)."""
    where = f"tools[{i}]"
    tool = _expect(tool, dict, where, "an object")
    if tool.get("type") == "custom":
        return _custom(tool, where)
    if tool.get("type") != "function":
        return None
    fn: dict[str, Any] = {"name": _expect(tool.get("name"), str, f"{where}.name", "a string")}
    for name, kind, what in (("description", str, "a string"), ("parameters", dict, "a JSON schema object"),
                             ("strict", bool, "a boolean")):
        if tool.get(name) is not None:
            fn[name] = _expect(tool[name], kind, f"{where}.{name}", what)
    return {"type": "function", "function": fn}


def _custom(tool: dict[str, Any], where: str) -> dict[str, Any]:
    """A custom (freeform) tool in the chat shape: its format's grammar moves under `grammar`."""
    custom: dict[str, Any] = {"name": _expect(tool.get("name"), str, f"{where}.name", "a string")}
    if tool.get("description") is not None:
        custom["description"] = _expect(tool["description"], str, f"{where}.description", "a string")
    fmt = _expect(tool.get("format") or {"type": "text"}, dict, f"{where}.format", "an object with a 'type'")
    if fmt.get("type") == "grammar":
        custom["format"] = {"type": "grammar", "grammar": {
            "definition": _expect(fmt.get("definition"), str, f"{where}.format.definition", "a string"),
            "syntax": _expect(fmt.get("syntax"), str, f"{where}.format.syntax", "'lark' or 'regex'")}}
    elif fmt.get("type") == "text":
        custom["format"] = {"type": "text"}
    else:
        raise bad_request(f"'{where}.format.type' must be 'text' or 'grammar'; got {shown(fmt.get('type'))}.",
                          f"{where}.format.type", "unsupported_value")
    return {"type": "custom", "custom": custom}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str):
        return {"type": choice["type"], choice["type"]: {"name": choice["name"]}}
    raise bad_request(f"'tool_choice' must be 'auto', 'none', 'required', a function, a custom tool or the web "
                      f"search tool; got {shown(choice)}.", "tool_choice", "unsupported_value")


def _text(text: dict[str, Any], chat: dict[str, Any]) -> None:
    """`text.format` → `response_format`; `text.verbosity` passes."""
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    fmt = _expect(text.get("format") or {"type": "text"}, dict, "text.format", "an object with a 'type'")
    kind = fmt.get("type")
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        spec = {"name": _expect(fmt.get("name"), str, "text.format.name", "a string"),
                "schema": _expect(fmt.get("schema"), dict, "text.format.schema", "a JSON schema object")}
        for name in ("strict", "description"):
            if fmt.get(name) is not None:
                spec[name] = fmt[name]
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif kind != "text":
        raise bad_request(f"'text.format.type' must be 'text', 'json_object' or 'json_schema'; got {shown(kind)}.",
                          "text.format.type", "unsupported_value")
