"""Reading a chat-completions request: size limit, JSON, and the fields the gateway relies on.

Only what the gateway itself uses is checked strictly; every other field passes through to
OpenAI-compatible providers untouched, as a client of OpenAI would expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from gateway.pipeline.schema import check_contents, check_depth, check_fields, check_message, check_part
from gateway.net.deadlines import within
from gateway.errors import GatewayError, bad_request, shown, too_large

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def custom_names(tools: Any) -> frozenset[str]:
    """The names of the custom tools in a canonical `tools` array."""
    if not isinstance(tools, list):
        return frozenset()
    return frozenset(t["custom"]["name"] for t in tools if isinstance(t, dict) and t.get("type") == "custom"
                     and isinstance(t.get("custom"), dict) and isinstance(t["custom"].get("name"), str))


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    prompt_chars: int
    user: str | None
    n: int = 1
    prompt_tokens: int = 0       # the prompt bound (gateway.pipeline.tokens), set once the chain is known
    custom_tools: frozenset[str] = frozenset()  # names of the custom (freeform) tools it offers


async def read_body(request: Request, limit: int, timeout_s: float = 30.0,
                    content_length: str | None = None) -> bytes:
    """Read the body, refusing with 413 as soon as it passes the limit (never read whole first),
    and with 408 when it trickles in slower than the read timeout allows (slowloris). Reads the
    ASGI messages directly (no async generator) under a coarse deadline (see deadlines.py)."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise bad_request("Invalid Content-Length header.") from None
        if declared > limit:
            raise too_large(limit)
    try:
        with within(timeout_s):
            return await _read_body(request.receive, limit)
    except TimeoutError:
        raise GatewayError(408, f"The request body did not arrive within {timeout_s:g} s.",
                           "invalid_request_error", "request_timeout") from None


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):  # usually the first message: the whole body
            return chunk if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise bad_request("Request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if raw[:2] == b"\x1f\x8b":  # gzip's magic bytes: looked at only once the JSON has failed
            raise bad_request("Request body is gzip-compressed; send it uncompressed, without a "
                              "Content-Encoding header.", code="unsupported_content_encoding") from None
        raise bad_request(f"Request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    return body


def _content_chars(content: Any, where: str) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for i, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise bad_request(f"{where}.content[{i}] must be an object with a 'type'.", f"{where}.content")
            check_part(part, f"{where}.content[{i}]")
            text = part.get("text")
            if isinstance(text, str):
                total += len(text)
            elif part["type"] in ("image_url", "input_image", "image"):
                total += 3000  # an image costs roughly a thousand tokens upstream
        return total
    raise bad_request(f"{where}.content must be a string, a list of content parts, or null.", f"{where}.content")


MAX_OUTPUT_TOKENS = 10_000_000  # the largest output cap any request may ask for (each API names it its own way)


def _optional_int(body: dict[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise bad_request(f"'{name}' must be an integer between {minimum} and {maximum}.", name)
    return value


def _optional_number(body: dict[str, Any], name: str, minimum: float, maximum: float) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not minimum <= value <= maximum):
        raise bad_request(f"'{name}' must be a number between {minimum} and {maximum}.", name)


def parse_chat(raw: bytes) -> ChatRequest:
    """An OpenAI chat-completions body, read and validated."""
    body = parse_json(raw)
    check_depth(raw, body)
    chat = chat_request(body)
    check_contents(chat.messages)
    return chat


def chat_request(body: dict[str, Any]) -> ChatRequest:
    """A canonical (OpenAI chat-completions) body, validated: what every inbound translator
    produces, so the gateway's own checks run once whatever API the client spoke. The caller has
    already bounded its nesting (`check_depth` on the client's raw body)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: a model name, a route, or 'auto'.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", "messages")
    chars = 0
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object.", "messages")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise bad_request(f"{where}.role must be one of {sorted(ROLES)}; got {shown(role)}.", f"{where}.role")
        chars += _content_chars(message.get("content"), where)
        if len(message) > 2 or "content" not in message:  # more than role and content
            check_message(message, where)
        calls = message.get("tool_calls")
        if calls:
            chars += len(orjson.dumps(calls))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", "stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise bad_request("'stream_options' is only allowed, as an object, when 'stream' is true.", "stream_options")
    max_tokens = _optional_int(body, "max_completion_tokens", 1, MAX_OUTPUT_TOKENS)
    if max_tokens is None:
        max_tokens = _optional_int(body, "max_tokens", 1, MAX_OUTPUT_TOKENS)
    n = _optional_int(body, "n", 1, 128) or 1
    _optional_number(body, "temperature", 0, 2)
    _optional_number(body, "top_p", 0, 1)
    check_fields(body)
    tools = body.get("tools")
    if tools:
        chars += len(orjson.dumps(tools))
    user = body.get("user")
    return ChatRequest(
        body=body, model=model, messages=messages, stream=stream,
        include_usage=bool(options and options.get("include_usage")), max_tokens=max_tokens,
        prompt_chars=chars, user=user if isinstance(user, str) else None, n=n,
        custom_tools=custom_names(tools) if tools else frozenset(),
    )


def check_header_task(value: str | None, tasks: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in tasks:
        raise GatewayError(400, f"x-gateway-task must be one of {list(tasks)}; got {shown(value)}.",
                           "invalid_request_error", "invalid_task", "x-gateway-task")
    return value
