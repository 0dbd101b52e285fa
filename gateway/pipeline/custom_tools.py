"""Custom (freeform) tools on providers that take only function tools.

A custom tool (OpenAI's `{"type": "custom", "custom": {"name", "description", "format"}}`)
is called with one plain string, not JSON arguments, often one a grammar constrains (Codex's
`apply_patch` is a Lark grammar). The canonical body keeps custom tools, calls (`{"type":
"custom", "custom": {"name", "input"}}`) and `tool_choice` as OpenAI's chat API has them, and an
adapter whose `Capabilities.custom_tools` says so sends them as they are (OpenAI chat, the
Responses API). For every other provider the relay sends `as_functions(body)`: each custom tool
becomes a function with one string parameter, `input`, whose description carries the tool's
grammar so the model knows the syntax, and earlier custom calls become calls of that function.
The answer's calls of such a function come back as custom calls (`restore` for a whole answer,
`CustomCallStream` for a stream). Which tools are custom is read from the request itself: no
state is kept between turns. A call's `extra_content` (Gemini's thought signature) stays on it
both ways: Gemini 3 refuses a tool turn whose signed call comes back without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from gateway.inbound.frames import chunks

if TYPE_CHECKING:
    from gateway.errors import GatewayError
    from gateway.inbound.base import StreamEncoder

PARAMETERS = {"type": "object", "properties": {"input": {"type": "string", "description": "The tool's whole input."}},
              "required": ["input"], "additionalProperties": False}


def described(custom: dict[str, Any]) -> str:
    """A custom tool's description for a function-only model: its own words, then how to call it."""
    text = custom.get("description") if isinstance(custom.get("description"), str) else ""
    fmt = custom.get("format") if isinstance(custom.get("format"), dict) else {}
    grammar = fmt.get("grammar") if isinstance(fmt.get("grammar"), dict) else {}
    how = ("Call this tool with one argument, `input`: a plain string (not JSON) that is the tool's whole input")
    if fmt.get("type") == "grammar" and isinstance(grammar.get("definition"), str):
        syntax = grammar.get("syntax") if grammar.get("syntax") in ("lark", "regex") else "lark"
        kind = "Lark grammar" if syntax == "lark" else "regular expression"
        how += f", which must match this {kind}:\n{grammar['definition']}"
    else:
        how += " (free-form text)."
    return f"{text}\n\n{how}" if text else how


def _extra(call: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """`out` with `call`'s `extra_content` (Gemini's thought signature), when it has one."""
    return {**out, "extra_content": call["extra_content"]} if "extra_content" in call else out


def _function_call(call: dict[str, Any]) -> dict[str, Any]:
    custom = call.get("custom") if isinstance(call.get("custom"), dict) else {}
    arguments = orjson.dumps({"input": custom.get("input") if isinstance(custom.get("input"), str) else ""}).decode()
    return _extra(call, {"id": call.get("id"), "type": "function",
                         "function": {"name": custom.get("name"), "arguments": arguments}})


def as_functions(body: dict[str, Any]) -> dict[str, Any]:
    """The canonical body for a provider without custom tools: custom tools, calls and a
    `tool_choice` naming one, as functions (a new body; the client's is left as it came)."""
    tools = []
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") == "custom" and isinstance(tool.get("custom"), dict):
            custom = tool["custom"]
            tool = {"type": "function", "function": {"name": custom.get("name"), "description": described(custom),
                                                     "parameters": PARAMETERS}}
        tools.append(tool)
    out = {**body, "tools": tools}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "custom":
        out["tool_choice"] = {"type": "function", "function": {"name": (choice.get("custom") or {}).get("name")}}
    messages = []
    for message in body.get("messages") or ():
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        if isinstance(calls, list) and any(isinstance(c, dict) and c.get("type") == "custom" for c in calls):
            message = {**message, "tool_calls": [_function_call(c) if isinstance(c, dict) and c.get("type") == "custom"
                                                 else c for c in calls]}
        messages.append(message)
    out["messages"] = messages
    return out


def input_of(arguments: Any) -> str:
    """The string a function call of a custom tool carried: `{"input": "..."}` as asked (or an
    object's one string, where a model named it otherwise); the raw text when it is not JSON."""
    if not isinstance(arguments, str):
        return ""
    try:
        args = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(args, dict):
        if isinstance(args.get("input"), str):
            return args["input"]
        strings = [v for v in args.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
    return arguments


def restore(answer: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """A whole canonical answer with its calls of custom tools as custom calls (in place)."""
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        for j, call in enumerate((message or {}).get("tool_calls") or ()):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and fn.get("name") in names:
                message["tool_calls"][j] = _extra(call, {"id": call.get("id"), "type": "custom", "custom": {
                    "name": fn["name"], "input": input_of(fn.get("arguments"))}})
    return answer


class CustomCallStream:
    """A `StreamEncoder` in front of the client's: a streamed call of a custom tool's function
    becomes a custom call. Its JSON arguments are held until the call's choice finishes (the
    string inside is only known whole), then go on as one `custom.input` delta; frames without
    such a call pass untouched."""

    def __init__(self, inner: "StreamEncoder", names: frozenset[str]) -> None:
        self.inner, self.names = inner, names
        self.open: dict[tuple[int, int], tuple[list[str], bool]] = {}  # (choice, call) → arguments, closed
        self.envelope: dict[str, Any] = {}

    def feed(self, frames: bytes) -> bytes:
        out: list[bytes] = []
        for frame in frames.split(b"\n\n"):
            if not frame:
                continue
            if b'"tool_calls"' in frame or (self.open and b'"finish_reason":"' in frame):
                chunk = next(chunks(frame + b"\n\n"), None)
                if chunk is not None:
                    frame = b"data: " + orjson.dumps(self._chunk(chunk))
            out.append(frame + b"\n\n")
        return self.inner.feed(b"".join(out))

    def _chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        self.envelope = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
        for choice in chunk.get("choices") or ():
            at = choice.get("index", 0)
            delta = choice.get("delta") or {}
            calls = [kept for call in delta.get("tool_calls") or () if (kept := self._call(at, call)) is not None]
            if choice.get("finish_reason"):
                calls += self._flush(at)
            if "tool_calls" in delta or calls:
                choice["delta"] = {**delta, "tool_calls": calls}
                if not calls:
                    del choice["delta"]["tool_calls"]
        return chunk

    def _call(self, at: int, call: dict[str, Any]) -> dict[str, Any] | None:
        key = (at, call.get("index", 0))
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        held = self.open.get(key)
        if held is None and fn.get("name") in self.names:
            self.open[key] = held = ([], False)
            call = _extra(call, {"index": key[1], "id": call.get("id"), "type": "custom",
                                 "custom": {"name": fn["name"], "input": ""}})
        elif held is None:
            return call
        else:
            call = None
        if isinstance(fn.get("arguments"), str):
            held[0].append(fn["arguments"])
        return call

    def _flush(self, at: int) -> list[dict[str, Any]]:
        out = []
        for key, (args, closed) in sorted(self.open.items()):
            if key[0] == at and not closed:
                out.append({"index": key[1], "custom": {"input": input_of("".join(args))}})
                self.open[key] = (args, True)
        return out

    def _pending(self) -> bytes:
        """Calls whose choice never said it finished (a stream cut short): their input now."""
        choices = sorted({at for (at, _), (_, closed) in self.open.items() if not closed})
        if not choices:
            return b""
        chunk = {**self.envelope, "choices": [{"index": at, "delta": {"tool_calls": self._flush(at)}, "finish_reason": None}
                                              for at in choices]}
        return self.inner.feed(b"data: " + orjson.dumps(chunk) + b"\n\n")

    def finish(self) -> bytes:
        return self._pending() + self.inner.finish()

    def error(self, err: "GatewayError") -> bytes:
        return self.inner.error(err)
