"""Amazon Bedrock Converse API (`POST /model/{modelId}/converse` and `/converse-stream`), from the
public API reference, written apart from the gateway's adapter (it imports nothing of it); and
`GET /async-invoke` (ListAsyncInvokes, an empty page), which the gateway's health probe calls.

Auth is checked for its shape, as the other formats check for a key: either a Bedrock API key
(`Authorization: Bearer <non-empty>`) or an AWS SigV4 header, `AWS4-HMAC-SHA256
Credential=<key id>/<yyyymmdd>/<region>/bedrock/aws4_request, SignedHeaders=<…host…x-amz-date…>,
Signature=<64 hex>`, with an `x-amz-date` of the credential's day. (The signature itself is not
recomputed: the simulator knows no secret.) Errors are `{"message": ...}` with the error's name in
`x-amzn-errortype`, as Bedrock answers them.

Usage as Bedrock reports it: `inputTokens` leaves out the tokens read from the prompt cache
(`cacheReadInputTokens`, present only when some were; with cache points, the prompt-prefix cache
of `bedrock_extras.py`, which also checks Claude's thinking and reasoning blocks). The stream is AWS's binary event stream
(`application/vnd.amazon.eventstream`), framed by this module's own encoder: messageStart,
contentBlockStart (tool use only), contentBlockDelta..., contentBlockStop, messageStop, metadata.
Document blocks are checked by `bedrock_documents.py`, `guardrailConfig` and a guardrail that
intervenes (the `guardrail_word` knob) by `bedrock_guardrail.py`, `requestMetadata` and
`performanceConfig` by `bedrock_logging.py` (the answer names the latency it ran with).
"""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import bedrock_extras as extras
from . import bedrock_logging
from .bedrock_documents import document_text
from .bedrock_guardrail import blocked_body, blocked_events, guardrail_config, intervenes
from .anthropic_format import Thought, think
from .core import Outcome, answer, join_prompt
from .prompt_cache import cache_use
from .state import Fault, SimState
from .text import Ask, group
from .wire import BadRequest, json_response, non_stream_delay, read_json, retry_headers, stream_response

EVENT_STREAM = "application/vnd.amazon.eventstream"
STOP = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool": "tool_use"}
ERRORS = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
          429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException"}
SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9_-]+)/(\d{8})/([a-z0-9-]+)/bedrock/aws4_request, "
                   r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def error(status: int, message: str, headers: dict[str, str] | None = None, kind: str | None = None) -> Response:
    kind = kind or ERRORS.get(status, "InternalServerException")
    return json_response({"message": message}, status, {"x-amzn-errortype": kind, **(headers or {})})


def fault_response(fault: Fault) -> Response:
    if fault.status == 429:
        return error(429, "Too many requests, please wait before trying again (simulated).", retry_headers(fault))
    return error(fault.status, f"The service is unavailable ({fault.reason}, simulated).", retry_headers(fault))


def auth_problem(request: Request) -> str | None:
    """Why the request's credentials are refused, or None when they have the right shape."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return None if auth[7:].strip() else "Authorization header requires a non-empty bearer token."
    if not auth:
        return "Missing Authentication Token"
    found = SIGV4.match(auth)
    if found is None:
        return "Authorization header is not a valid AWS Signature Version 4 header."
    signed = found.group(4).split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "The request signature must sign the host and x-amz-date headers."
    if not request.headers.get("x-amz-date", "").startswith(found.group(2)):
        return "The credential's date does not match the x-amz-date header."
    return None


def refused(request: Request) -> Response | None:
    """Bedrock's 403 for credentials of the wrong shape (its error name says which), or None."""
    problem = auth_problem(request)
    if problem is None:
        return None
    kind = "MissingAuthenticationTokenException" if problem.startswith("Missing") else "UnrecognizedClientException"
    return error(403, problem, kind=kind)


TOOL_RESULT_MEMBERS = ("json", "text", "image", "document", "video", "searchResult")


def _texts(blocks: Any, where: str, out: list[str], model: str = "", role: str = "user",
           names: set[str] | None = None) -> None:
    if not isinstance(blocks, list):
        raise BadRequest(f"{where}: expected a list of content blocks")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or len(block) != 1:
            raise BadRequest(f"{where}: a content block must have exactly one member set")
        (kind, value), = block.items()
        if kind == "cachePoint":
            extras.check_cache_point(value, model, f"{where}.{i}")
        elif kind == "reasoningContent":
            extras.check_reasoning(value, role, f"{where}.{i}")
        elif kind == "text":
            out.append(str(value))
        elif kind == "toolUse":
            if not isinstance(value, dict) or not value.get("toolUseId") or not value.get("name"):
                raise BadRequest(f"{where}: toolUse needs toolUseId and name")
            out.append(orjson.dumps(value.get("input") or {}).decode())
        elif kind == "toolResult":
            if not isinstance(value, dict) or not value.get("toolUseId"):
                raise BadRequest(f"{where}: toolResult needs toolUseId")
            for item in value.get("content") or ():
                if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in TOOL_RESULT_MEMBERS:
                    raise BadRequest(f"{where}: a toolResult content block must be one of "
                                     f"{', '.join(TOOL_RESULT_MEMBERS)}")
                out.append(str(item["text"]) if "text" in item else orjson.dumps(item.get("json")).decode())
        elif kind == "image":
            if not isinstance(value, dict) or value.get("format") not in ("png", "jpeg", "gif", "webp"):
                raise BadRequest(f"{where}: image.format must be one of png, jpeg, gif, webp")
        elif kind == "document":
            if role != "user":
                raise BadRequest(f"{where}.{i}: a document is allowed in user messages only")
            out.append(document_text(value, f"{where}.{i}", set() if names is None else names))
        elif kind not in ("video", "guardContent"):
            raise BadRequest(f"{where}: unknown content block member {kind!r}")


def _tools(config: Any, model: str) -> tuple[list[tuple[str, Any]], str | None]:
    if config is None:
        return [], None
    if not isinstance(config, dict) or not isinstance(config.get("tools"), list) or not config["tools"]:
        raise BadRequest("toolConfig.tools: at least one tool is required")
    tools = []
    for i, tool in enumerate(config["tools"]):
        if isinstance(tool, dict) and set(tool) == {"cachePoint"}:
            extras.check_cache_point(tool["cachePoint"], model, f"toolConfig.tools.{i}")
            continue
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not spec.get("name") or "json" not in (spec.get("inputSchema") or {}):
            raise BadRequest("toolConfig.tools: each toolSpec needs a name and inputSchema.json")
        tools.append((spec["name"], spec["inputSchema"]["json"]))
    choice = config.get("toolChoice") or {"auto": {}}
    if "any" in choice:
        return tools, "required"
    if "tool" in choice:
        return tools, str((choice["tool"] or {}).get("name"))
    return tools, "auto"


def parse(model: str, body: Any) -> tuple[Ask, list[str], int | None]:
    """Validate a Converse request; return (ask, prompt texts, thinking budget)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("A conversation must start with a user message.")
    texts: list[str] = []
    names: set[str] = set()  # document names: unique within the request
    _texts(body.get("system") or [], "system", texts, model, "system")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{i}.role: must be user or assistant")
        if i and messages[i - 1].get("role") == msg["role"]:
            raise BadRequest("A conversation must alternate between user and assistant roles.")
        _texts(msg.get("content"), f"messages.{i}.content", texts, model, msg["role"], names)
    if messages[0].get("role") != "user":
        raise BadRequest("A conversation must start with a user message.")
    config = body.get("inferenceConfig") or {}
    limit = config.get("maxTokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise BadRequest("inferenceConfig.maxTokens: must be an integer >= 1")
    last = messages[-1].get("content") or []
    results = [b["toolResult"] for b in last if isinstance(b, dict) and "toolResult" in b]
    result_texts: list[str] = []
    _texts([{"toolResult": r} for r in results], "toolResult", result_texts)
    tools, choice = _tools(body.get("toolConfig"), model)
    ask = Ask(model=model, prompt=join_prompt(texts), max_tokens=limit,
              stop=tuple(s for s in config.get("stopSequences") or () if isinstance(s, str)),
              tools=tools, tool_choice=choice, last_is_tool_result=bool(results), tool_result="\n".join(result_texts))
    return ask, texts, extras.thinking(body, model)


def usage(out: Outcome, written: int = 0) -> dict[str, Any]:
    doc = {"inputTokens": out.prompt_tokens - out.cached_tokens - written, "outputTokens": out.output_tokens,
           "totalTokens": out.prompt_tokens + out.output_tokens}
    if out.cached_tokens:
        doc["cacheReadInputTokens"] = out.cached_tokens
    if written:
        doc["cacheWriteInputTokens"] = written
    return doc


def converse_body(out: Outcome, thought: Thought | None = None, written: int = 0) -> dict[str, Any]:
    reply = out.replies[0]
    call = reply.tool_call
    content: list[dict[str, Any]] = []
    if thought is not None:
        content.append({"reasoningContent": {"reasoningText": {"text": thought.block["thinking"],
                                                               "signature": thought.signature}}})
    if call is None:
        content.append({"text": reply.text})
    else:
        try:
            args = orjson.loads(call.arguments)
        except orjson.JSONDecodeError:
            args = {}
        content.append({"toolUse": {"toolUseId": call.call_id, "name": call.name, "input": args}})
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": STOP[reply.finish],
            "usage": usage(out, written), "metrics": {"latencyMs": 1}}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude + its CRC32, string headers (type 7), payload, CRC32."""
    head = b""
    for name, value in headers.items():
        raw = value.encode()
        head += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    prelude = struct.pack(">II", len(head) + len(payload) + 16, len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 orjson.dumps(payload))


def stream_events(out: Outcome, seed: int, thought: Thought | None = None,
                  written: int = 0) -> list[tuple[bytes, int]]:
    reply = out.replies[0]
    events = [(event("messageStart", {"role": "assistant"}), 0)]
    at = 0
    if thought is not None:  # block 0: the reasoning text in pieces, then its signature
        for piece, tokens in group(thought.pieces, seed):
            delta = {"reasoningContent": {"text": piece}}
            events.append((event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}), tokens))
        signed = {"reasoningContent": {"signature": thought.signature}}
        events.append((event("contentBlockDelta", {"contentBlockIndex": 0, "delta": signed}), 0))
        events.append((event("contentBlockStop", {"contentBlockIndex": 0}), 0))
        at = 1
    call = reply.tool_call
    if call is None:
        deltas = [({"text": p}, n) for p, n in group(reply.pieces, seed)]
    else:
        start = {"toolUse": {"toolUseId": call.call_id, "name": call.name}}
        events.append((event("contentBlockStart", {"contentBlockIndex": at, "start": start}), 0))
        deltas = [({"toolUse": {"input": p}}, n) for p, n in group(call.pieces, seed)]
    for delta, tokens in deltas:
        events.append((event("contentBlockDelta", {"contentBlockIndex": at, "delta": delta}), tokens))
    events.append((event("contentBlockStop", {"contentBlockIndex": at}), 0))
    events.append((event("messageStop", {"stopReason": STOP[reply.finish]}), 0))
    events.append((event("metadata", {"usage": usage(out, written), "metrics": {"latencyMs": 1}}), 0))
    return events


async def converse(request: Request, state: SimState, stream: bool) -> Response:
    """POST /model/{modelId}/converse and /converse-stream."""
    model = request.path_params["model"]
    try:
        body = await read_json(request)
        ask, texts, budget = parse(model, body)
        points = extras.prefix_points(body, model)
        guard = guardrail_config(body, stream)
        metadata, latency = bedrock_logging.request_metadata(body), bedrock_logging.converse_latency(body)
    except BadRequest as exc:
        state.record_rejected(model, "bedrock")
        return error(exc.status, exc.message)
    knobs, fault = state.record(model, "bedrock", stream)
    denied = refused(request)
    if denied is not None:
        return denied
    if fault is not None:
        return fault_response(fault)
    bedrock_logging.log(state.invocation_log, model, metadata, latency)
    blocked = intervenes(guard, knobs.guardrail_word, texts)
    if blocked is not None:  # the guardrail's answer, before the model runs
        if not stream:
            return json_response(blocked_body(*blocked))
        events = [(event(kind, payload), 0) for kind, payload in blocked_events(*blocked)]
        return stream_response(events, knobs, b"", media_type=EVENT_STREAM)
    out = answer(ask, texts, knobs, state.seed, "tooluse_")
    written = 0
    cached = cache_use(points, state.prompt_cache, out.prompt_tokens)
    if cached is not None:
        out = dataclasses.replace(out, cached_tokens=cached[0])
        written = cached[1]
    thought, out = think(ask, out, budget, state.seed)
    if not stream:
        await non_stream_delay(knobs)
        return json_response({**converse_body(out, thought, written),
                              "performanceConfig": {"latency": latency or "standard"}})
    corrupt = bytearray(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    corrupt[-1] ^= 0xFF  # garbage_stream: a message whose CRC is wrong
    return stream_response(stream_events(out, state.seed, thought, written), knobs, bytes(corrupt), media_type=EVENT_STREAM)


async def list_async_invokes(request: Request) -> Response:
    """GET /async-invoke (ListAsyncInvokes): bedrock-runtime's one free listing, which the
    gateway's health probe calls. The simulator runs no async jobs: an empty page."""
    denied = refused(request)
    if denied is not None:
        return denied
    size = request.query_params.get("maxResults", "10")
    if not size.isdigit() or not 1 <= int(size) <= 1000:
        return error(400, "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: "
                          "Member must have value between 1 and 1000")
    return json_response({"asyncInvokeSummaries": []})
