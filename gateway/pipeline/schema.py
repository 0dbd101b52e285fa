"""The shapes of the chat-request fields that the provider adapters read, checked once at parse
time so a malformed field is a 400 naming it (the OpenAI API refuses the same shapes), not a
failure inside an adapter.

Only types and structure are checked, as the OpenAI schema states them; values pass through
(a model name, a schema's contents, an unknown content part type: the provider decides). A body
nested deeper than `MAX_DEPTH` is refused too: `orjson` reads up to 1,024 levels but writes at
most 255, and an adapter re-encodes the body.
"""

from __future__ import annotations

from typing import Any, Callable

from gateway.errors import bad_request

MAX_DEPTH = 128


_STR, _DICT, _LIST, _BOOL = (str,), (dict,), (list,), (bool,)


def _fail(where: str, what: str) -> None:
    raise bad_request(f"'{where}' must be {what}.", where)


def _field(obj: dict[str, Any], name: str, kinds: tuple[type, ...], where: str, what: str,
           required: bool = False) -> Any:
    """`obj[name]` if it is of `kinds` (absent is fine unless required); else a 400 naming
    `where.name`, a path formatted only then (these checks run on every request)."""
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        _fail(f"{where}.{name}", what)
    return value


def _expect(value: Any, kinds: tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        _fail(where, what)
    return value


def check_depth(raw: bytes, body: dict[str, Any]) -> None:
    """400 if the body nests deeper than MAX_DEPTH; the walk runs only when the raw text holds
    enough brackets to be that deep (a C-speed count), so usual requests pay two scans."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    for name, value in body.items():  # the body is level 1, its values level 2
        if type(value) in (dict, list) and _deeper(value, MAX_DEPTH - 2):
            raise bad_request(f"'{name}' is nested deeper than {MAX_DEPTH} levels.", name)


def _deeper(node: dict[str, Any] | list[Any], room: int) -> bool:
    """Whether a container (empty or not) sits more than `room` levels below `node`, in a body
    from orjson (exact dicts and lists). Recursive, at most `room` + 1 frames deep: a call per
    container is cheaper than a stack of (node, depth) tuples, which cost an agent's body
    (thousands of values) about 1 ms."""
    for value in node.values() if type(node) is dict else node:
        kind = type(value)
        if (kind is dict or kind is list) and (room == 0 or _deeper(value, room - 1)):
            return True
    return False


def check_part(part: dict[str, Any], where: str) -> None:
    """A content part of the types the adapters translate; other types pass to the provider."""
    kind = part["type"]
    if kind == "text":
        _field(part, "text", _STR, where, "a string", required=True)
    elif kind == "image_url":
        image = _field(part, "image_url", (str, dict), where, "an object with a 'url'", required=True)
        if isinstance(image, dict):
            _field(image, "url", _STR, f"{where}.image_url", "a string", required=True)
    elif kind == "input_audio":
        audio = _field(part, "input_audio", _DICT, where, "an object with 'data' and 'format'", required=True)
        _field(audio, "data", _STR, f"{where}.input_audio", "a base64 string", required=True)
        _field(audio, "format", _STR, f"{where}.input_audio", "a string")
    elif kind == "file":
        file = _field(part, "file", _DICT, where, "an object", required=True)
        for name in ("file_data", "file_id", "filename"):
            _field(file, name, _STR, f"{where}.file", "a string")


def check_tool_calls(calls: list[Any], where: str) -> None:
    for j, call in enumerate(calls):
        here = f"{where}.tool_calls[{j}]"
        _expect(call, _DICT, here, "an object")
        _field(call, "id", _STR, here, "a string")
        if _field(call, "type", _STR, here, "a string") == "custom":  # a custom (freeform) tool's call
            custom = _field(call, "custom", _DICT, here, "an object with a 'name'", required=True)
            _field(custom, "name", _STR, f"{here}.custom", "a string", required=True)
            _field(custom, "input", _STR, f"{here}.custom", "a string")
            continue
        fn = _field(call, "function", _DICT, here, "an object with a 'name'", required=True)
        _field(fn, "name", _STR, f"{here}.function", "a string", required=True)
        _field(fn, "arguments", (str, dict), f"{here}.function", "a JSON string")
        extra = _field(call, "extra_content", _DICT, here, "an object")
        if extra:
            google = _field(extra, "google", _DICT, f"{here}.extra_content", "an object")
            if google:
                _field(google, "thought_signature", _STR, f"{here}.extra_content.google", "a string")


def check_message(message: dict[str, Any], where: str) -> None:
    """The fields of a message besides `role` and `content` (checked by the caller)."""
    _field(message, "name", _STR, where, "a string")
    _field(message, "tool_call_id", _STR, where, "a string")
    calls = _field(message, "tool_calls", _LIST, where, "an array")
    if calls:
        check_tool_calls(calls, where)


# What may stand in for an assistant message's content: OpenAI's "required unless tool_calls or
# function_call is specified" (an `audio` reference is a previous answer's content too).
_INSTEAD_OF_CONTENT = ("tool_calls", "function_call", "audio")


def check_contents(messages: list[dict[str, Any]]) -> None:
    """A 400 for a message without content where the OpenAI API wants one: every role but an
    assistant turn that calls tools (and the deprecated `function`, whose content may be null).
    Only the OpenAI chat body is held to this: the translators' canonical bodies follow their own
    APIs' rules (an Anthropic turn of thinking blocks alone has no chat content)."""
    for i, message in enumerate(messages):
        if message.get("content") is not None:
            continue
        role = message["role"]
        if role == "function":
            continue
        where = f"messages[{i}].content"
        if role != "assistant":
            raise bad_request(f"Missing required parameter: '{where}' (a {role} message needs content).", where)
        if not any(message.get(name) for name in _INSTEAD_OF_CONTENT):
            raise bad_request(f"Missing required parameter: '{where}' (an assistant message needs content "
                              "unless it has tool_calls).", where)


def _check_tools(tools: Any) -> None:
    for i, tool in enumerate(_expect(tools, _LIST, "tools", "an array")):
        here = f"tools[{i}]"
        _expect(tool, _DICT, here, "an object")
        kind = _field(tool, "type", _STR, here, "a string")
        if kind in (None, "function"):
            fn = _field(tool, "function", _DICT, here, "an object with a 'name'", required=True)
            where = f"{here}.function"
            _field(fn, "name", _STR, where, "a string", required=True)
            _field(fn, "description", _STR, where, "a string")
            _field(fn, "parameters", _DICT, where, "a JSON schema object")
            _field(fn, "strict", _BOOL, where, "a boolean")
        elif kind == "custom":
            custom = _field(tool, "custom", _DICT, here, "an object with a 'name'", required=True)
            _field(custom, "name", _STR, f"{here}.custom", "a string", required=True)
            _field(custom, "description", _STR, f"{here}.custom", "a string")
            _field(custom, "format", _DICT, f"{here}.custom", "an object")


def _check_tool_choice(choice: Any) -> None:
    if isinstance(choice, str):
        return
    _expect(choice, _DICT, "tool_choice", "a string or an object")
    _field(choice, "type", _STR, "tool_choice", "a string")
    fn = _field(choice, "function", _DICT, "tool_choice", "an object with a 'name'")
    if fn is not None:
        _field(fn, "name", _STR, "tool_choice.function", "a string", required=True)


def _check_response_format(fmt: Any) -> None:
    _expect(fmt, _DICT, "response_format", "an object with a 'type'")
    kind = _field(fmt, "type", _STR, "response_format", "a string", required=True)
    if kind == "json_schema":
        spec = _field(fmt, "json_schema", _DICT, "response_format", "an object", required=True)
        _field(spec, "name", _STR, "response_format.json_schema", "a string")
        _field(spec, "schema", _DICT, "response_format.json_schema", "a JSON schema object")


def _check_stop(stop: Any) -> None:
    if isinstance(stop, str):
        return
    for i, item in enumerate(_expect(stop, _LIST, "stop", "a string or an array of strings")):
        _expect(item, _STR, f"stop[{i}]", "a string")


def _number(name: str, low: float, high: float) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise bad_request(f"'{name}' must be a number between {low:g} and {high:g}.", name)
    return check


def _integer(name: str, low: int, high: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad_request(f"'{name}' must be an integer between {low} and {high}.", name)
    return check


def _of_type(name: str, kinds: tuple[type, ...], what: str) -> Callable[[Any], None]:
    return lambda value: _expect(value, kinds, name, what)


# Top-level fields besides model, messages, stream, token limits, n, temperature and top_p
# (checked by `parse_chat`): one check per field present, none for those absent.
_FIELDS: dict[str, Callable[[Any], Any]] = {
    "tools": _check_tools, "tool_choice": _check_tool_choice, "response_format": _check_response_format,
    "stop": _check_stop, "user": _of_type("user", _STR, "a string"),
    "parallel_tool_calls": _of_type("parallel_tool_calls", _BOOL, "a boolean"),
    "seed": _integer("seed", -2**63, 2**63 - 1), "top_k": _integer("top_k", 0, 1_000_000),
    "presence_penalty": _number("presence_penalty", -2, 2),
    "frequency_penalty": _number("frequency_penalty", -2, 2),
}


def check_fields(body: dict[str, Any]) -> None:
    for name, value in body.items():
        check = _FIELDS.get(name)
        if check is not None and value is not None:
            check(value)
