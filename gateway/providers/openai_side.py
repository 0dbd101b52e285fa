"""The OpenAI side of the translating adapters (anthropic, gemini): reading an OpenAI chat request,
writing OpenAI answers and chunks.

Each translating adapter maps the same OpenAI request onto its provider and the provider's answer
back onto the same OpenAI shapes; what does not depend on the provider is here, once, so a new
provider's adapter writes only its own side.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import orjson

from gateway.config import Deployment
from gateway.errors import bad_request, shown
from gateway.observe.log import get_logger
from gateway.pricing import Usage
from gateway.providers.base import as_count, as_item, as_list, as_object

log = get_logger("gateway.providers")

# ---------------------------------------------------------------------------------------- request


def drop_unknown(body: dict[str, Any], handled: frozenset[str], provider: str) -> None:
    """Fields the provider does not take are dropped: say which, at debug level (names, never values)."""
    dropped = sorted(k for k in body if k not in handled)
    if dropped:
        log.debug("request_fields_dropped", provider=provider, fields=dropped)


def requested_max_tokens(chat: dict[str, Any]) -> int | None:
    """`max_completion_tokens`, else `max_tokens` (a positive integer), else None."""
    name = "max_completion_tokens" if chat.get("max_completion_tokens") else "max_tokens"
    value = chat.get(name)
    return as_count(value, name) if value else None


# `reasoning_effort` → a thinking budget in tokens (Anthropic `budget_tokens`, Gemini `thinkingBudget`).
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}


def thinking_budget(chat: dict[str, Any]) -> int | None:
    """The budget for the request's `reasoning_effort`, None when it has none; an unknown effort is a 400."""
    effort = chat.get("reasoning_effort")
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise bad_request(f"reasoning_effort {shown(effort)} is not one of {', '.join(THINKING_BUDGETS)}.",
                          "reasoning_effort")
    return THINKING_BUDGETS[effort]


MIN_BUDGET = 1024  # Claude's smallest budget_tokens (Anthropic's API and Claude on Bedrock)


def thinking_plan(chat: dict[str, Any], max_tokens: int, client_max_tokens: bool, cap: int,
                  forced_tool: bool) -> tuple[int, int | None]:
    """(max_tokens, budget) for Claude's `thinking` from `reasoning_effort`: none/minimal (budget
    0), a forced tool, or too small a `max_tokens` give no budget. When the client set no
    max_tokens, it grows by the budget, up to `cap`; the budget stays under max_tokens (which it
    counts toward). Shared by the Anthropic and Bedrock Converse adapters."""
    budget = thinking_budget(chat)
    if not budget or forced_tool:
        return max_tokens, None
    if not client_max_tokens:
        max_tokens = min(cap, max_tokens + budget)
    budget = min(budget, max_tokens - 1)
    if budget < MIN_BUDGET:
        log.debug("reasoning_effort dropped", reason="max_tokens too small for thinking")
        return max_tokens, None
    return max_tokens, budget


def top_p_with_thinking(top_p: Any) -> bool:
    """Whether Claude takes this top_p with thinking on (only from 0.95; no temperature or top_k at all)."""
    return isinstance(top_p, (int, float)) and top_p >= 0.95


def plain_text(content: Any, where: str) -> str:
    """The text of a message that may hold only text (system, developer, a tool result), as one string."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        part = as_item(part, f"{where}.content[{i}]")
        if part.get("type") != "text":
            raise bad_request(f"{where}.content[{i}]: only text parts are allowed in this message.", where)
        texts.append(str(part.get("text") or ""))
    return "\n".join(texts)


def conversation(messages: Any, system: list[str],
                 marks: dict[int, Any] | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The user/assistant/tool messages as (where, role, message), in order; system and developer
    texts are appended to `system` on the way (no provider here has a system role in its turns).
    With `marks` (a provider that caches prompts), each text part is its own system text and
    `marks` maps the index of one with a `cache_control` hint (on it or its message) to the mark.
    Any other role is a 400, raised where it stands so errors come in message order."""
    for i, msg in enumerate(as_list(messages, "messages")):
        where = f"messages[{i}]"
        msg = as_item(msg, where)
        role = msg.get("role")
        if role in ("system", "developer"):
            content = msg.get("content")
            for part in content if marks is not None and isinstance(content, list) else (None,):
                text = plain_text(content if part is None else [part], where)
                if text:
                    system.append(text)
                    if marks is not None and isinstance(part, dict) and isinstance(part.get("cache_control"), dict):
                        marks[len(system) - 1] = part["cache_control"]
            if marks is not None and system and isinstance(msg.get("cache_control"), dict):
                marks[len(system) - 1] = msg["cache_control"]
        elif role in ("user", "assistant", "tool"):
            yield where, role, msg
        else:
            raise bad_request(f"{where}: role {shown(role)} is not supported by this model; use 'tool' messages "
                              "for tool results.", f"{where}.role")


def add_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[dict[str, Any]]) -> None:
    """Append `items` as a turn of `role`, merged into the last turn when it has the same role
    (both providers require user and assistant turns to alternate)."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def parse_data_url(url: str, where: str) -> tuple[str, str]:
    """`data:<media type>;base64,<data>` → (media type, base64 data); 400 for anything else."""
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise bad_request(f"{where}: a data: URL must be base64-encoded (data:<type>;base64,...).", where)
    return head[5:-7] or "application/octet-stream", data


def image_url(part: dict[str, Any], where: str) -> str:
    """The URL of an `image_url` part (`{"url": ...}` or a bare string); 400 when missing."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}: image_url.url is required.", where)
    return url


def file_data(part: dict[str, Any], where: str, suffix: str = "") -> tuple[str, str]:
    """A `file` part's inline data URL as (media type, base64 data); other files are a 400."""
    url = as_object(part.get("file"), f"{where}.file").get("file_data")
    if not isinstance(url, str) or not url.startswith("data:"):
        raise bad_request(f"{where}: only inline files (file.file_data as a data: URL) are supported{suffix}.",
                          where)
    return parse_data_url(url, where)


def tool_calls(msg: dict[str, Any], where: str) -> Iterator[tuple[dict[str, Any], str, dict[str, Any], str]]:
    """An assistant message's tool calls, each as (the call, function name, arguments parsed into
    an object, where it stands), in order."""
    for j, call in enumerate(as_list(msg.get("tool_calls"), f"{where}.tool_calls")):
        here = f"{where}.tool_calls[{j}]"
        yield (*tool_call_arguments(call, here), here)


def tool_call_arguments(call: Any, where: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
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
    return call, name, args


def function_tools(tools: Any) -> list[dict[str, Any]]:
    """The `function` objects of `tools` (each with a name); other tool types are a 400."""
    out = []
    for i, tool in enumerate(as_list(tools, "tools")):
        tool = as_item(tool, f"tools[{i}]")
        if tool.get("type", "function") != "function":
            raise bad_request(f"tools[{i}]: only function tools are supported by this model.", "tools")
        fn = as_object(tool.get("function"), f"tools[{i}].function")
        if not fn.get("name"):
            raise bad_request(f"tools[{i}]: function.name is required.", "tools")
        out.append(fn)
    return out


def tool_choice_mode(choice: Any) -> tuple[str, str | None]:
    """`tool_choice` as (mode, function name): auto (also when absent), required, none, or
    ("function", name) for a named function; a 400 for anything else."""
    if choice in (None, "auto", "required", "none"):
        return choice or "auto", None
    if isinstance(choice, dict):
        name = as_object(choice.get("function"), "tool_choice.function").get("name")
        if name:
            return "function", name
    raise bad_request("tool_choice must be 'auto', 'required', 'none' or {'type': 'function', "
                      "'function': {'name': ...}}.", "tool_choice")


def signed_thinking(blocks: Any) -> list[dict[str, Any]]:
    """An assistant message's `thinking_blocks` (Claude's, carried by the canonical answer and
    sent back by the client) that Claude takes back: signed thinking and redacted thinking, in
    Anthropic's block shape; unsigned ones (thought summaries of other providers) are left out."""
    out: list[dict[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and block.get("signature"):
            out.append({"type": "thinking", "thinking": str(block.get("thinking") or ""),
                        "signature": str(block["signature"])})
        elif block.get("type") == "redacted_thinking" and block.get("data"):
            out.append({"type": "redacted_thinking", "data": str(block["data"])})
    return out


# --------------------------------------------------------------------------------------- response

def usage_body(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage block; tokens written to a provider's cache (Anthropic, Bedrock), which
    OpenAI has no field for, as `prompt_tokens_details.cache_write_tokens` when there are some
    (the Responses API's name for them), so the Messages and Responses replies can say so."""
    details: dict[str, int] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def tool_call(call_id: Any, name: Any, args: Any) -> dict[str, Any]:
    """An OpenAI tool call, the arguments object written as the JSON string OpenAI sends."""
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(args or {}).decode()}}


def assistant_message(texts: list[str], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer's message: content null only when the answer is tool calls and nothing else."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def choice(index: int, message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def completion(completion_id: str, model: str, choices: list[dict[str, Any]], usage: Usage) -> dict[str, Any]:
    """The `chat.completion` body."""
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage_body(usage)}


# ----------------------------------------------------------------------------------------- stream

def stream_object(data: bytes, what: str) -> dict[str, Any]:
    """One SSE event's data as a JSON object; ValueError (a malformed stream) otherwise."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ValueError(f"{what} is not JSON: {data[:80]!r}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is not a JSON object")
    return doc


class ChunkWriter:
    """The OpenAI `chat.completion.chunk` framing a translating stream decoder writes with: the
    decoder's public state (`usage`, `done`) plus one role chunk per choice, deltas, usage chunk."""

    def __init__(self, dep: Deployment, include_usage: bool, completion_id: str | None) -> None:
        self.include_usage = include_usage
        self.model = dep.upstream
        self.usage = Usage()
        self.done = False
        self.id = completion_id
        self.created = int(time.time())
        self._started: set[int] = set()
        self._chars = 0  # content seen, for an estimate when the provider never reports usage

    def _frame(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage_body(usage)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._frame([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def _start(self, index: int, out: list[bytes]) -> None:
        """The role chunk, once per choice, before its first delta."""
        if index not in self._started:
            self._started.add(index)
            out.append(self._delta(index, {"role": "assistant", "content": ""}))

    def _usage_chunk(self, out: list[bytes]) -> None:
        """The closing chunk with usage and no choices, when the client asked for it."""
        if self.include_usage:
            out.append(self._frame([], self.usage))
