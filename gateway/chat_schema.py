"""The shapes of the chat-request fields that the provider adapters read, checked once at parse
time so a malformed field is a 400 naming it (the OpenAI API refuses the same shapes), not a
failure inside an adapter.

Only types and structure are checked, as the OpenAI schema states them; values pass through
(a model name, a schema's contents, an unknown content part type: the provider decides). A body
nested deeper than `MAX_DEPTH` is refused too: `orjson` reads up to 1,024 levels but writes at
most 255, and an adapter re-encodes the body.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import bad_request

MAX_DEPTH = 128


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise bad_request(f"'{where}' must be {what}.", where)
    return value


def _optional(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    value = obj.get(name)
    return None if value is None else _expect(value, kind, f"{where}.{name}", what)


def check_depth(raw: bytes, body: dict[str, Any]) -> None:
    """400 if the body nests deeper than MAX_DEPTH; the walk runs only when the raw text holds
    enough brackets to be that deep (a C-speed count), so usual requests pay two scans."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    for name, value in body.items():
        stack = [(value, 2)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise bad_request(f"'{name}' is nested deeper than {MAX_DEPTH} levels.", name)
            if isinstance(node, dict):
                stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
            elif isinstance(node, list):
                stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))


def check_part(part: dict[str, Any], where: str) -> None:
    """A content part of the types the adapters translate; other types pass to the provider."""
    kind = part["type"]
    if kind == "text":
        _expect(part.get("text"), str, f"{where}.text", "a string")
    elif kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, dict):
            _expect(image.get("url"), str, f"{where}.image_url.url", "a string")
        else:
            _expect(image, (str, dict), f"{where}.image_url", "an object with a 'url'")
    elif kind == "input_audio":
        audio = _expect(part.get("input_audio"), dict, f"{where}.input_audio", "an object with 'data' and 'format'")
        _expect(audio.get("data"), str, f"{where}.input_audio.data", "a base64 string")
        _optional(audio, "format", str, f"{where}.input_audio", "a string")
    elif kind == "file":
        file = _expect(part.get("file"), dict, f"{where}.file", "an object")
        for name in ("file_data", "file_id", "filename"):
            _optional(file, name, str, f"{where}.file", "a string")


def check_tool_calls(calls: list[Any], where: str) -> None:
    for j, call in enumerate(calls):
        here = f"{where}.tool_calls[{j}]"
        _expect(call, dict, here, "an object")
        _optional(call, "id", str, here, "a string")
        _optional(call, "type", str, here, "a string")
        fn = _expect(call.get("function"), dict, f"{here}.function", "an object with a 'name'")
        _expect(fn.get("name"), str, f"{here}.function.name", "a string")
        _optional(fn, "arguments", (str, dict), f"{here}.function", "a JSON string")
        extra = _optional(call, "extra_content", dict, here, "an object")
        google = _optional(extra or {}, "google", dict, f"{here}.extra_content", "an object")
        _optional(google or {}, "thought_signature", str, f"{here}.extra_content.google", "a string")


def check_message(message: dict[str, Any], where: str) -> None:
    """The fields of a message besides `role` and `content` (checked by the caller)."""
    _optional(message, "name", str, where, "a string")
    _optional(message, "tool_call_id", str, where, "a string")
    calls = _optional(message, "tool_calls", list, where, "an array")
    if calls:
        check_tool_calls(calls, where)


def _check_tools(tools: list[Any]) -> None:
    for i, tool in enumerate(tools):
        here = f"tools[{i}]"
        _expect(tool, dict, here, "an object")
        kind = _optional(tool, "type", str, here, "a string")
        if kind in (None, "function"):
            fn = _expect(tool.get("function"), dict, f"{here}.function", "an object with a 'name'")
            _expect(fn.get("name"), str, f"{here}.function.name", "a string")
            _optional(fn, "description", str, f"{here}.function", "a string")
            _optional(fn, "parameters", dict, f"{here}.function", "a JSON schema object")
            _optional(fn, "strict", bool, f"{here}.function", "a boolean")


def _check_tool_choice(choice: Any) -> None:
    if choice is None or isinstance(choice, str):
        return
    _expect(choice, dict, "tool_choice", "a string or an object")
    _optional(choice, "type", str, "tool_choice", "a string")
    fn = _optional(choice, "function", dict, "tool_choice", "an object with a 'name'")
    if fn is not None:
        _expect(fn.get("name"), str, "tool_choice.function.name", "a string")


def _check_response_format(fmt: Any) -> None:
    if fmt is None:
        return
    _expect(fmt, dict, "response_format", "an object with a 'type'")
    kind = _expect(fmt.get("type"), str, "response_format.type", "a string")
    if kind == "json_schema":
        spec = _expect(fmt.get("json_schema"), dict, "response_format.json_schema", "an object")
        _optional(spec, "name", str, "response_format.json_schema", "a string")
        _optional(spec, "schema", dict, "response_format.json_schema", "a JSON schema object")


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    _expect(stop, list, "stop", "a string or an array of strings")
    for i, item in enumerate(stop):
        _expect(item, str, f"stop[{i}]", "a string")


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not low <= value <= high):
        raise bad_request(f"'{name}' must be a number between {low:g} and {high:g}.", name)


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise bad_request(f"'{name}' must be an integer between {low} and {high}.", name)


def check_fields(body: dict[str, Any]) -> None:
    """The top-level fields besides model, messages, stream, token limits, n, temperature, top_p
    (checked by `parse_chat`)."""
    tools = body.get("tools")
    if tools is not None:
        _check_tools(_expect(tools, list, "tools", "an array"))
    _check_tool_choice(body.get("tool_choice"))
    _check_response_format(body.get("response_format"))
    _check_stop(body.get("stop"))
    if body.get("user") is not None:
        _expect(body["user"], str, "user", "a string")
    if body.get("parallel_tool_calls") is not None:
        _expect(body["parallel_tool_calls"], bool, "parallel_tool_calls", "a boolean")
    _integer(body, "seed", -2**63, 2**63 - 1)
    _integer(body, "top_k", 0, 1_000_000)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
