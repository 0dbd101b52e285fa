"""OpenAI (and Azure OpenAI) chat completions and embeddings, written from the public API docs.

Custom (freeform) tools (`{"type": "custom", "custom": {...}}`) are called with plain text:
`tool_calls[].type == "custom"` with `custom.name` / `custom.input` (streamed as `custom.input`
fragments); earlier custom calls in `messages` must carry their input.

Quirks kept on purpose because real clients and translators must cope with them:
a tool call forced by name ends with finish_reason "stop" (not "tool_calls");
Azure streams open with a chunk whose `choices` is empty and which carries
`prompt_filter_results`; `usage` is null on every stream chunk but the last
when `stream_options.include_usage` is set; OpenAI (not Azure here) refuses `metadata` without
`store: true`, as its API does.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .core import Outcome, answer, join_prompt
from .knobs import ModelKnobs
from .state import Fault, SimState
from .text import Ask, Reply, embedding, group, prompt_tokens
from .wire import BadRequest, json_response, non_stream_delay, read_json, retry_headers, sse_data, stream_response

FINISH = {"stop": "stop", "length": "length", "stop_sequence": "stop", "tool": "tool_calls"}
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
FILTER_OK = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


def error(status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None) -> Response:
    kind, code = ERROR_TYPES.get(status, ("server_error", None))
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return json_response(body, status, headers)


def fault_response(fault: Fault, model: str) -> Response:
    messages = {
        429: f"Rate limit reached for {model} (simulated). Please try again in {fault.retry_after_s}s.",
        503: "The server is overloaded or not ready yet (simulated).",
    }
    message = messages.get(fault.status, f"The server had an error while processing your request ({fault.reason}, simulated).")
    return error(fault.status, message, headers=retry_headers(fault))


def check_auth(request: Request, azure: bool) -> Response | None:
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if bearer or (azure and request.headers.get("api-key")):
        return None
    if azure:
        body = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}}
        return json_response(body, 401)
    return error(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.")


def record_call(request: Request, state: SimState, model: str, azure: bool,
                stream: bool = False, fmt: str = "") -> tuple[ModelKnobs, Response | None]:
    """Count the call (a refused one too; under `fmt` when given: the Responses API's own), then
    what ends it early: the 401 without a key, else the fault the knobs schedule. (knobs, None): answer it."""
    knobs, fault = state.record(model, fmt or ("azure" if azure else "openai"), stream)
    denied = check_auth(request, azure)
    if denied is not None:
        return knobs, denied
    return knobs, None if fault is None else fault_response(fault, model)


def _content_texts(content: Any, out: list[str]) -> None:
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])


def _trailing_results(messages: list[Any]) -> str:
    """The text of the tool messages that end the conversation."""
    texts: list[str] = []
    for msg in reversed(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("tool", "function"):
            break
        part: list[str] = []
        _content_texts(msg.get("content"), part)
        texts[:0] = part
    return "\n".join(texts)


def _model_of(body: Any) -> Any:
    return body.get("model") if isinstance(body, dict) else None


# The fields a chat message may carry (OpenAI's request schema, plus what its SDK sends back
# when a client appends an answer's message as it came: `annotations`). The API refuses any
# other, so a gateway that forwards its own answers' fields (thinking blocks, Responses items)
# to an OpenAI-format deployment is caught here.
MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal",
                            "audio", "annotations"})
# DeepSeek's thinking models take their `reasoning_content` back (asked for on tool-call turns).
DEEPSEEK_MESSAGE_FIELDS = MESSAGE_FIELDS | {"reasoning_content"}
# A tool call's fields; Google's OpenAI-compatible API (a `gemini-*` model here) also takes the
# call's `extra_content`, where its Gemini 3 answers put the thought signature.
CALL_FIELDS = frozenset({"id", "type", "function", "custom"})
GEMINI_CALL_FIELDS = CALL_FIELDS | {"extra_content"}


def shown_keys(keys: Any) -> str:
    return ", ".join(repr(k) for k in sorted(keys))


def parse_chat(body: Any, model: str | None) -> tuple[Ask, list[str], bool, bool]:
    """Validate a chat request; return (ask, prompt texts, stream, include_usage)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if model is None and body.get("metadata") is not None and body.get("store") is not True:
        raise BadRequest("The 'metadata' parameter is only allowed when 'store' is enabled.", "metadata")
    model = model or body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array.", "messages")
    texts: list[str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "developer", "user", "assistant", "tool", "function"):
            raise BadRequest(f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role")
        unknown = msg.keys() - (DEEPSEEK_MESSAGE_FIELDS if model.startswith("deepseek") else MESSAGE_FIELDS)
        if unknown:
            raise BadRequest(f"Additional properties are not allowed ({shown_keys(unknown)} was unexpected) - "
                             f"'messages.{i}'", f"messages[{i}]")
        _content_texts(msg.get("content"), texts)
        for j, call in enumerate(msg.get("tool_calls") or ()):
            extra = call.keys() - (GEMINI_CALL_FIELDS if model.startswith("gemini") else CALL_FIELDS) \
                if isinstance(call, dict) else ()
            if extra:
                raise BadRequest(f"Additional properties are not allowed ({shown_keys(extra)} was unexpected) - "
                                 f"'messages.{i}.tool_calls.{j}'", f"messages[{i}].tool_calls[{j}]")
            if isinstance(call, dict) and call.get("type") == "custom":  # a custom tool's call: plain text
                text = (call.get("custom") or {}).get("input")
                if not isinstance(text, str):
                    raise BadRequest(f"Missing required parameter: 'messages[{i}].tool_calls[{j}].custom.input'.",
                                     f"messages[{i}].tool_calls[{j}].custom.input")
                texts.append(text)
                continue
            args = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(args, str):
                texts.append(args)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise BadRequest("max_tokens must be a positive integer.", "max_tokens")
    n = body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise BadRequest("n must be an integer between 1 and 128.", "n")
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(s for s in (stop or ()) if isinstance(s, str))
    tools, custom = [], set()
    for t in body.get("tools") or ():
        kind = t.get("type", "function") if isinstance(t, dict) else None
        spec = t.get(kind) if kind in ("function", "custom") else None
        if isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"]:
            tools.append((spec["name"], spec.get("parameters")))
            if kind == "custom":
                custom.add(spec["name"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get(choice.get("type") or "function") or {}).get("name")
    fmt = body.get("response_format") or {}
    schema: Any = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        schema = True
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or True
    ask = Ask(
        model=model,
        prompt=join_prompt(texts),
        max_tokens=limit,
        stop=stops,
        n=n,
        json_schema=schema,
        tools=tools,
        tool_choice=choice if isinstance(choice, str) else None,
        last_is_tool_result=messages[-1].get("role") in ("tool", "function"),
        tool_result=_trailing_results(messages),
        custom=frozenset(custom),
    )
    options = body.get("stream_options") or {}
    return ask, texts, bool(body.get("stream")), bool(options.get("include_usage"))


def usage(out: Outcome) -> dict[str, Any]:
    return {
        "prompt_tokens": out.prompt_tokens,
        "completion_tokens": out.output_tokens,
        "total_tokens": out.prompt_tokens + out.output_tokens,
        "prompt_tokens_details": {"cached_tokens": out.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": out.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(reply: Reply, ask: Ask) -> str:
    if reply.finish == "tool" and ask.tool_choice not in (None, "auto", "required"):
        return "stop"  # documented OpenAI behaviour for a tool forced by name
    return FINISH[reply.finish]


def _message(reply: Reply) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_call else reply.text, "refusal": None, "annotations": []}
    call = reply.tool_call
    if call and call.custom:
        msg["tool_calls"] = [{"id": call.call_id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}]
    elif call:
        msg["tool_calls"] = [{"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]
    return msg


def completion_body(cid: str, ask: Ask, out: Outcome, azure: bool) -> dict[str, Any]:
    choices = []
    for i, reply in enumerate(out.replies):
        choice: dict[str, Any] = {"index": i, "message": _message(reply), "logprobs": None, "finish_reason": _finish(reply, ask)}
        if azure:
            choice["content_filter_results"] = FILTER_OK
        choices.append(choice)
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ask.model,
        "choices": choices,
        "usage": usage(out),
        "system_fingerprint": "fp_sim",
    }
    if azure:
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": FILTER_OK}]
    else:
        body["service_tier"] = "default"
    return body


def stream_events(cid: str, ask: Ask, out: Outcome, include_usage: bool, azure: bool, seed: int) -> list[tuple[bytes, int]]:
    """Every chunk of the stream except `[DONE]`, with the tokens each carries."""
    created = int(time.time())
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": ask.model, "system_fingerprint": "fp_sim"}
    if include_usage:
        base["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse_data({**base, "choices": [choice]})

    events: list[tuple[bytes, int]] = []
    if azure:
        first = {**base, "choices": [], "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTER_OK}]}
        events.append((sse_data(first), 0))
    for i, reply in enumerate(out.replies):
        call = reply.tool_call
        if call is None:
            events.append((chunk(i, {"role": "assistant", "content": "", "refusal": None}), 0))
            for part, tokens in group(reply.pieces, seed):
                events.append((chunk(i, {"content": part}), tokens))
        else:  # a custom tool's call streams its input under `custom`, as a function's arguments
            kind, field = ("custom", "input") if call.custom else ("function", "arguments")
            head = {"index": 0, "id": call.call_id, "type": kind, kind: {"name": call.name, field: ""}}
            events.append((chunk(i, {"role": "assistant", "content": None, "tool_calls": [head]}), 0))
            for part, tokens in group(call.pieces, seed):
                delta = {"tool_calls": [{"index": 0, kind: {field: part}}]}
                events.append((chunk(i, delta), tokens))
        events.append((chunk(i, {}, _finish(reply, ask)), 0))
    if include_usage:
        events.append((sse_data({**base, "choices": [], "usage": usage(out)}), 0))
    return events


async def chat(request: Request, state: SimState, deployment: str | None = None) -> Response:
    """POST /v1/chat/completions and Azure's /openai/deployments/{d}/chat/completions."""
    azure = deployment is not None
    if azure and not request.query_params.get("api-version"):
        return json_response({"error": {"code": "404", "message": "Resource not found"}}, 404)
    body: Any = None
    try:
        body = await read_json(request)
        ask, texts, stream, include_usage = parse_chat(body, deployment)
    except BadRequest as exc:
        state.record_rejected(deployment or _model_of(body), "azure" if azure else "openai")
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, ask.model, azure, stream)
    if early is not None:
        return early
    out = answer(ask, texts, knobs, state.seed, "call_")
    cid = "chatcmpl-" + state.next_id()
    if not stream:
        await non_stream_delay(knobs)
        return json_response(completion_body(cid, ask, out, azure))
    events = stream_events(cid, ask, out, include_usage, azure, state.seed)
    return stream_response(events, knobs, b"data: {not json at all\n\n", b"data: [DONE]\n\n")


def _embed_inputs(raw: Any) -> list[tuple[str, int]]:
    """(text key, tokens) per input; token-id arrays count one token per id."""
    if isinstance(raw, str):
        return [(raw, prompt_tokens(len(raw)))]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, int) for x in raw):
            return [(repr(raw), len(raw))]
        if all(isinstance(x, str) for x in raw):
            return [(x, prompt_tokens(len(x))) for x in raw]
        if all(isinstance(x, list) and x and all(isinstance(t, int) for t in x) for x in raw):
            return [(repr(x), len(x)) for x in raw]
    raise BadRequest("'input' must be a non-empty string, array of strings, or array of token arrays.", "input")


async def embeddings(request: Request, state: SimState, deployment: str | None = None) -> Response:
    """POST /v1/embeddings and Azure's /openai/deployments/{d}/embeddings."""
    azure = deployment is not None
    body: Any = None
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = deployment or body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("you must provide a model parameter", "model")
        inputs = _embed_inputs(body.get("input"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise BadRequest("encoding_format must be 'float' or 'base64'.", "encoding_format")
        dims = body.get("dimensions")
        if dims is not None and (not isinstance(dims, int) or dims < 1):
            raise BadRequest("dimensions must be a positive integer.", "dimensions")
    except BadRequest as exc:
        state.record_rejected(deployment or _model_of(body), "azure" if azure else "openai")
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, model, azure)
    if early is not None:
        return early
    size = dims or knobs.embedding_dim or (3072 if "large" in model else 1536)
    data = []
    for i, (text, _) in enumerate(inputs):
        vec = embedding(state.seed, model, text, size)
        value: Any = base64.b64encode(struct.pack(f"<{size}f", *vec)).decode() if encoding == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = sum(t for _, t in inputs)
    await non_stream_delay(knobs)
    return json_response({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def models_list(request: Request, names: list[str], azure: bool = False) -> Response:
    """GET /v1/models, or Azure's GET /openai/models?api-version=…, behind the calls' door."""
    denied = check_auth(request, azure)
    if denied is not None:
        return denied
    created = 1_700_000_000
    if azure:
        if not request.query_params.get("api-version"):
            return json_response({"error": {"code": "404", "message": "Resource not found"}}, 404)
        data = [{"id": n, "object": "model", "created_at": created, "status": "succeeded",
                 "lifecycle_status": "generally-available"} for n in names]
    else:
        data = [{"id": n, "object": "model", "created": created, "owned_by": "simulator"} for n in names]
    return json_response({"object": "list", "data": data})
