"""Anthropic Messages API (`POST /v1/messages`), non-stream and SSE, from the public docs.

Usage follows Anthropic's accounting: `input_tokens` excludes cached tokens,
which are reported in `cache_read_input_tokens` (OpenAI and Gemini include them
in the prompt count). The stream is the documented event sequence:
message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta (stop_reason, usage.output_tokens), message_stop.

Extended thinking (`thinking: {"type": "enabled", "budget_tokens": N}`) is checked as the API
documents it: N >= 1024 and below max_tokens, no temperature other than 1, no top_k, no
tool_choice forcing a tool (`adaptive`, which Claude Code sends, is taken as it comes). It is
answered with a signed `thinking` block ahead of the answer; its tokens count in output_tokens
(the `reasoning_tokens` knob's, else a few words, within the budget). A thinking block sent back
must carry the simulator's signature (its text's SHA-256), wherever it is; with `enabled`
thinking, the assistant turn a `tool_result` answers must start with one. The web search server tool
is answered with its blocks and citations (`anthropic_extras.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .anthropic_cache import block_texts, marked_prefixes
from .anthropic_extras import Search, custom, web_search
from .core import Outcome, answer, join_prompt
from .prompt_cache import cache_use
from .state import Fault, SimState
from .text import Ask, Reply, group, word_pieces
from .wire import BadRequest, json_response, non_stream_delay, read_json, retry_headers, sse_event, stream_response

STOP = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool": "tool_use"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    kind = ERROR_TYPES.get(status, "api_error")
    return json_response({"type": "error", "error": {"type": kind, "message": message}}, status, headers)


def fault_response(fault: Fault) -> Response:
    messages = {429: "Number of requests has exceeded your rate limit (simulated).", 529: "Overloaded (simulated)."}
    return error(fault.status, messages.get(fault.status, f"Internal server error ({fault.reason}, simulated)."), retry_headers(fault))


MIN_THINKING_BUDGET = 1024
DEFAULT_THINKING_TOKENS = 12


def thinking_budget(body: dict[str, Any], limit: int) -> int | None:
    """The request's thinking budget (None: no thinking), refused as the API refuses it."""
    thinking = body.get("thinking")
    if thinking is None or (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        return None
    if isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        return limit - 1  # the model picks its budget (newer models; Claude Code sends it)
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        raise BadRequest("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', "
                         "'adaptive'")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_THINKING_BUDGET:
        raise BadRequest("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if budget >= limit:
        raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature") not in (None, 1, 1.0):
        raise BadRequest("`temperature` may only be set to 1 when thinking is enabled.")
    if body.get("top_k") is not None:
        raise BadRequest("`top_k` may not be set when thinking is enabled.")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise BadRequest("Thinking may not be enabled when tool_choice forces tool use.")
    return budget


MID_CONVERSATION_SYSTEM = "mid-conversation-system-"  # the beta that allows system turns in `messages`


def parse(body: Any, betas: str = "") -> tuple[Ask, list[str], bool, int | None]:
    """Validate a Messages request; return (ask, prompt texts, stream, thinking budget). `betas` is
    the request's anthropic-beta header: with the mid-conversation-system beta, `messages` may hold
    system turns."""
    if not isinstance(body, dict):
        raise BadRequest("body: Input should be an object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    limit = body.get("max_tokens")
    if limit is None:
        raise BadRequest("max_tokens: Field required")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise BadRequest("max_tokens: Input should be a valid integer greater than or equal to 1")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: Field required" if messages is None else "messages: at least one message is required")
    texts: list[str] = []
    block_texts(body.get("system"), texts)
    roles = ("user", "assistant", "system") if MID_CONVERSATION_SYSTEM in betas else ("user", "assistant")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in roles:
            raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        block_texts(msg.get("content"), texts)
        if msg.get("role") == "assistant":
            check_signatures(msg.get("content"), i)
    last = messages[-1].get("content")
    results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(last, list) else []
    result_texts: list[str] = []
    block_texts(results, result_texts)
    tools = [(t["name"], t.get("input_schema")) for t in body.get("tools") or () if custom(t) and t.get("name")]
    choice_raw = body.get("tool_choice") or {}
    kind = choice_raw.get("type") if isinstance(choice_raw, dict) else None
    choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind or "auto")
    if kind == "tool":
        choice = choice_raw.get("name")
    stops = tuple(s for s in body.get("stop_sequences") or () if isinstance(s, str))
    ask = Ask(
        model=model,
        prompt=join_prompt(texts),
        max_tokens=limit,
        stop=stops,
        tools=tools,
        tool_choice=choice,
        last_is_tool_result=bool(results),
        tool_result="\n".join(result_texts),
    )
    budget = thinking_budget(body, limit)
    thinking = body.get("thinking")
    if budget is not None and results and isinstance(thinking, dict) and thinking.get("type") == "enabled":
        check_thinking_turn(messages)  # adaptive thinking may not have thought: no block to demand
    return ask, texts, bool(body.get("stream")), budget


def check_signatures(content: Any, i: int) -> None:
    """Every `thinking` block sent back, in any assistant turn and whether thinking is on or not,
    must carry the signature Claude gave it: an empty one or another provider's is refused, as
    the API refuses a block it did not sign."""
    for j, block in enumerate(content if isinstance(content, list) else ()):
        if isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature") != hashlib.sha256(
                str(block.get("thinking") or "").encode()).hexdigest():
            raise BadRequest(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")


def check_thinking_turn(messages: list[Any]) -> None:
    """With thinking on, the assistant turn whose tool calls the last turn answers must start with
    the thinking block Claude gave it, signature intact, as the API demands."""
    turn = messages[-2] if len(messages) > 1 and isinstance(messages[-2], dict) else {}
    content = turn.get("content")
    first = content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
    if first.get("type") not in ("thinking", "redacted_thinking"):
        raise BadRequest(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                         f"but found `{first.get('type') or 'text'}`. When `thinking` is enabled, a final `assistant` "
                         "message must start with a thinking block.")
    if first["type"] == "thinking" and first.get("signature") != hashlib.sha256(
            str(first.get("thinking") or "").encode()).hexdigest():
        raise BadRequest(f"messages.{len(messages) - 2}.content.0: Invalid `signature` in `thinking` block")


def usage(out: Outcome) -> dict[str, Any]:
    written = out.written_tokens
    return {
        "input_tokens": out.prompt_tokens - out.cached_tokens - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": out.cached_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": 0 if out.written_ttl == "1h" else written,
                           "ephemeral_1h_input_tokens": written if out.written_ttl == "1h" else 0},
        "output_tokens": out.output_tokens,
        "service_tier": "standard",
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Thought:
    """The thinking block ahead of the answer: its pieces and signature."""

    pieces: tuple[str, ...]
    signature: str

    @property
    def block(self) -> dict[str, Any]:
        return {"type": "thinking", "thinking": "".join(self.pieces), "signature": self.signature}


def think(ask: Ask, out: Outcome, budget: int | None, seed: int) -> tuple[Thought | None, Outcome]:
    """With thinking on: the thought, and the outcome with its tokens as the reasoning tokens."""
    if budget is None:
        return None, out
    count = min(budget, out.reasoning_tokens or DEFAULT_THINKING_TOKENS)
    pieces = word_pieces(seed, ask.model, ask.prompt, -1, count)
    signature = hashlib.sha256("".join(pieces).encode()).hexdigest()
    return Thought(pieces, signature), dataclasses.replace(out, reasoning_tokens=count)


def _content(reply: Reply, search: Search | None = None) -> list[dict[str, Any]]:
    call = reply.tool_call
    if call is None and search is not None:
        return [*search.blocks, {"type": "text", "text": reply.text, "citations": [search.citation(reply.text)]}]
    if call is None:
        return [{"type": "text", "text": reply.text}]
    try:
        args = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        args = {}  # cut by max_tokens: Anthropic still returns an (incomplete) object
    return [{"type": "tool_use", "id": call.call_id, "name": call.name, "input": args}]


def message_body(mid: str, ask: Ask, out: Outcome, thought: Thought | None = None,
                 search: Search | None = None) -> dict[str, Any]:
    reply = out.replies[0]
    spent = usage(out) if search is None else {**usage(out), "server_tool_use": search.usage()}
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": ask.model,
        "content": ([thought.block] if thought else []) + _content(reply, search),
        "stop_reason": STOP[reply.finish],
        "stop_sequence": reply.stop_sequence,
        "usage": spent,
    }


def _thinking_events(thought: Thought, seed: int) -> list[tuple[bytes, int]]:
    """Block 0: thinking_delta pieces, then the signature_delta."""
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                          "signature": ""}}
    events = [(sse_event("content_block_start", start), 0)]
    for piece, tokens in group(thought.pieces, seed):
        delta = {"type": "thinking_delta", "thinking": piece}
        events.append((sse_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}), tokens))
    signed = {"type": "signature_delta", "signature": thought.signature}
    events.append((sse_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": signed}), 0))
    events.append((sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}), 0))
    return events


def stream_events(mid: str, ask: Ask, out: Outcome, seed: int, thought: Thought | None = None,
                  search: Search | None = None) -> list[tuple[bytes, int]]:
    reply = out.replies[0]
    start_usage = {**usage(out), "output_tokens": 1}
    if search is not None:  # message_start counts the prompt before the search; message_delta after
        start_usage["input_tokens"] -= search.tokens
    message = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": ask.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [(sse_event("message_start", {"type": "message_start", "message": message}), 0)]
    at = 0
    if thought is not None:
        events.extend(_thinking_events(thought, seed))
        at = 1
    if search is not None:
        events.extend(search.events(at))
        at += 2
    call = reply.tool_call
    if call is None:
        block: dict[str, Any] = {"type": "text", "text": ""}
        parts = [(p, n, {"type": "text_delta", "text": p}) for p, n in group(reply.pieces, seed)]
        if search is not None:
            block = {"citations": [], "type": "text", "text": ""}
            parts.insert(0, ("", 0, {"type": "citations_delta", "citation": search.citation(reply.text)}))
    else:
        block = {"type": "tool_use", "id": call.call_id, "name": call.name, "input": {}}
        parts = [(p, n, {"type": "input_json_delta", "partial_json": p}) for p, n in group(call.pieces, seed)]
    events.append((sse_event("content_block_start", {"type": "content_block_start", "index": at, "content_block": block}), 0))
    events.append((sse_event("ping", {"type": "ping"}), 0))
    for _, tokens, delta in parts:
        events.append((sse_event("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta}), tokens))
    events.append((sse_event("content_block_stop", {"type": "content_block_stop", "index": at}), 0))
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": STOP[reply.finish], "stop_sequence": reply.stop_sequence},
        "usage": {"output_tokens": out.output_tokens} if search is None else
                 {**{k: v for k, v in usage(out).items() if k != "service_tier"}, "server_tool_use": search.usage()},
    }
    events.append((sse_event("message_delta", final), 0))
    events.append((sse_event("message_stop", {"type": "message_stop"}), 0))
    return events


def _key_check(request: Request) -> Response | None:
    """The Anthropic API's own door: a key and the `anthropic-version` header."""
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not request.headers.get("x-api-key") and not bearer:
        return error(401, "x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        return error(400, "anthropic-version: header is required")
    return None


async def messages(request: Request, state: SimState, reshape: Callable[[Any], Any] | None = None,
                   check: Callable[[Request], Response | None] = _key_check, fmt: str = "anthropic") -> Response:
    """POST /v1/messages. Claude on Vertex answers the same: its `reshape` checks and completes
    the body (model from the path), its `check` is Google's bearer token."""
    body: Any = None
    try:
        body = await read_json(request)
        if reshape is not None:
            body = reshape(body)
        ask, texts, stream, budget = parse(body, request.headers.get("anthropic-beta", ""))
        prefixes, hour = marked_prefixes(body, ask.model)
    except BadRequest as exc:
        state.record_rejected(body.get("model") if isinstance(body, dict) else None, fmt)
        return error(exc.status, exc.message)
    knobs, fault = state.record(ask.model, fmt, stream)
    denied = check(request)
    if denied is not None:
        return denied
    if fault is not None:
        return fault_response(fault)
    out = answer(ask, texts, knobs, state.seed, "toolu_")
    used = cache_use(prefixes, state.prompt_cache, out.prompt_tokens)
    if used is not None:
        out = dataclasses.replace(out, cached_tokens=used[0], written_tokens=used[1], written_ttl="1h" if hour else "5m")
    thought, out = think(ask, out, budget, state.seed)
    search, out = web_search(body, texts, out, state.seed)
    mid = "msg_" + state.next_id()
    if not stream:
        await non_stream_delay(knobs)
        return json_response(message_body(mid, ask, out, thought, search))
    garbage = b"event: content_block_delta\ndata: {not json at all\n\n"
    # The stream is cut before message_stop when stream_cut_after is set; no separate tail.
    return stream_response(stream_events(mid, ask, out, seed=state.seed, thought=thought, search=search), knobs,
                           garbage)


def models_list(request: Request, names: list[str]) -> Response:
    """GET /v1/models, behind the same door as the calls."""
    denied = _key_check(request)
    if denied is not None:
        return denied
    data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names]
    return json_response({"data": data, "has_more": False, "first_id": names[0] if names else None, "last_id": names[-1] if names else None})
