"""Gemini API (`/v1beta/models/{model}:method`), from the public REST docs.

generateContent, streamGenerateContent (`?alt=sse` → `data:` chunks, else one
JSON array), embedContent and batchEmbedContents. Like the real API (proto3
JSON), zero-valued usage fields such as `cachedContentTokenCount` and
`thoughtsTokenCount` are omitted, and `totalTokenCount` includes thoughts.
Grounding, safety ratings, citations, thought parts and context caches
(`cachedContents`): `gemini_extras.py`.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import gemini_extras
from .core import Outcome, answer, join_prompt
from .gemini_extras import Extras
from .state import Fault, SimState
from .text import Ask, Reply, billed_prompt_tokens, embedding, group
from .wire import BadRequest, json_response, non_stream_delay, read_json, retry_headers, sse_data, stream_response

FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "stop_sequence": "STOP", "tool": "STOP"}
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error(status: int, message: str, headers: dict[str, str] | None = None, details: list[Any] | None = None) -> Response:
    err: dict[str, Any] = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
    if details:
        err["details"] = details
    return json_response({"error": err}, status, headers)


def fault_response(fault: Fault) -> Response:
    if fault.status == 429:
        retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{fault.retry_after_s:g}s"}]
        return error(429, "Resource has been exhausted (e.g. check quota). (simulated)", retry_headers(fault), retry)
    if fault.status == 503:
        return error(503, "The model is overloaded. Please try again later. (simulated)")
    return error(fault.status, f"An internal error has occurred ({fault.reason}, simulated).")


def _part_texts(parts: Any, out: list[str]) -> None:
    for part in parts or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            out.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            out.append(orjson.dumps(part["functionCall"].get("args") or {}).decode())
        elif isinstance(part.get("functionResponse"), dict):
            out.append(orjson.dumps(part["functionResponse"].get("response") or {}).decode())


def _tools(body: dict[str, Any]) -> list[tuple[str, Any]]:
    found = []
    for tool in body.get("tools") or ():
        for decl in (tool or {}).get("functionDeclarations") or ():
            if isinstance(decl, dict) and decl.get("name"):
                found.append((decl["name"], decl.get("parametersJsonSchema") or decl.get("parameters")))
    return found


def parse(body: Any, model: str) -> tuple[Ask, list[str]]:
    """Validate a GenerateContentRequest; return (ask, prompt texts)."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received. Expected an object.")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    texts: list[str] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        _part_texts(system.get("parts"), texts)
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model", "function"):
            raise BadRequest(f"* GenerateContentRequest.contents[{i}].role: Please use a valid role: user, model.")
        _part_texts(content.get("parts"), texts)
    gemini_extras.check_signatures(contents, model)
    config = body.get("generationConfig") or {}
    limit = config.get("maxOutputTokens")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise BadRequest("* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
    count = config.get("candidateCount") or 1
    if not isinstance(count, int) or not 1 <= count <= 8:
        raise BadRequest("* GenerateContentRequest.generation_config.candidate_count: must be 1..8")
    schema: Any = None
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema") or True
    calling = ((body.get("toolConfig") or {}).get("functionCallingConfig")) or {}
    mode = str(calling.get("mode", "AUTO")).upper()
    choice = {"ANY": "required", "NONE": "none"}.get(mode, "auto")
    allowed = calling.get("allowedFunctionNames") or []
    if mode == "ANY" and len(allowed) == 1:
        choice = allowed[0]
    last_parts = contents[-1].get("parts") or ()
    ask = Ask(
        model=model,
        prompt=join_prompt(texts),
        max_tokens=limit,
        stop=tuple(s for s in config.get("stopSequences") or () if isinstance(s, str)),
        n=count,
        json_schema=schema,
        tools=_tools(body),
        tool_choice=choice,
        last_is_tool_result=any(isinstance(p, dict) and "functionResponse" in p for p in last_parts),
        tool_result="\n".join(orjson.dumps(p["functionResponse"].get("response")).decode() for p in last_parts
                               if isinstance(p, dict) and isinstance(p.get("functionResponse"), dict)),
    )
    return ask, texts


def usage(out: Outcome, visible: int | None = None) -> dict[str, Any]:
    shown = out.visible_tokens if visible is None else visible
    meta: dict[str, Any] = {
        "promptTokenCount": out.prompt_tokens,
        "candidatesTokenCount": shown,
        "totalTokenCount": out.prompt_tokens + shown + out.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": out.prompt_tokens}],
    }
    if out.cached_tokens:
        meta["cachedContentTokenCount"] = out.cached_tokens
    if out.reasoning_tokens:
        meta["thoughtsTokenCount"] = out.reasoning_tokens
    return meta


def _parts(reply: Reply) -> list[dict[str, Any]]:
    call = reply.tool_call
    if call is None:
        return [{"text": reply.text}]
    try:
        args = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        args = {}
    return [{"functionCall": {"name": call.name, "args": args}}]


def response_body(rid: str, ask: Ask, out: Outcome, extras: Extras = Extras()) -> dict[str, Any]:
    candidates = [
        {"content": {"parts": _parts(r), "role": "model"}, "finishReason": FINISH[r.finish], "index": i}
        for i, r in enumerate(out.replies)
    ]
    for cand, reply in zip(candidates, out.replies):
        gemini_extras.decorate(cand, extras, reply.text, first=True, last=True)
    doc = {"candidates": candidates, "usageMetadata": gemini_extras.usage_with_cache(usage(out), extras),
           "modelVersion": gemini_extras.version_of(ask.model), "responseId": rid}
    if extras.safety:
        doc["promptFeedback"] = {"safetyRatings": gemini_extras.ratings()}
    return doc


def stream_bodies(rid: str, ask: Ask, out: Outcome, seed: int,
                  extras: Extras = Extras()) -> list[tuple[dict[str, Any], int]]:
    """GenerateContentResponse chunks; usage is cumulative, finishReason on each candidate's last."""
    per_choice: list[list[tuple[dict[str, Any], int]]] = []
    for reply in out.replies:
        if reply.tool_call is not None:
            per_choice.append([(p, reply.output_tokens) for p in _parts(reply)])
        else:
            per_choice.append([({"text": t}, n) for t, n in group(reply.pieces, seed)] or [({"text": ""}, 0)])
    steps = max(len(p) for p in per_choice)
    bodies: list[tuple[dict[str, Any], int]] = []
    shown = 0
    for step in range(steps):
        candidates, tokens = [], 0
        for i, parts in enumerate(per_choice):
            if step >= len(parts):
                continue
            part, count = parts[step]
            tokens += count
            cand: dict[str, Any] = {"content": {"parts": [dict(part)], "role": "model"}, "index": i}
            if step == len(parts) - 1:
                cand["finishReason"] = FINISH[out.replies[i].finish]
            gemini_extras.decorate(cand, extras, out.replies[i].text, step == 0, step == len(parts) - 1)
            candidates.append(cand)
        shown += tokens
        last = step == steps - 1
        body = {
            "candidates": candidates,
            "usageMetadata": gemini_extras.usage_with_cache(usage(out, None if last else shown), extras),
            "modelVersion": gemini_extras.version_of(ask.model),
            "responseId": rid,
        }
        if extras.safety and step == 0:
            body["promptFeedback"] = {"safetyRatings": gemini_extras.ratings()}
        bodies.append((body, tokens))
    return bodies


def _api_key(request: Request) -> str:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""


def _denied() -> Response:
    return error(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


async def generate(request: Request, state: SimState, model: str, stream: bool,
                   check: Callable[[Request], Response | None] | None = None, fmt: str = "gemini") -> Response:
    """:generateContent and :streamGenerateContent; `check` refuses a caller (default: an API key
    is required), `fmt` names the format in the stats (Vertex serves the same API)."""
    try:
        body = await read_json(request)
        ask, texts = parse(body, model)
    except BadRequest as exc:
        state.record_rejected(model, fmt)
        return error(exc.status, exc.message)
    knobs, fault = state.record(model, fmt, stream)
    denied = check(request) if check else (None if _api_key(request) else _denied())
    if denied is not None:
        return denied
    if fault is not None:
        return fault_response(fault)
    try:
        extras = gemini_extras.read(body, knobs, ask.prompt, model, state.gemini_caches)
    except BadRequest as exc:
        return error(exc.status, exc.message)
    out = answer(ask, texts, knobs, state.seed, "")
    rid = state.next_id()
    if not stream:
        await non_stream_delay(knobs)
        return json_response(response_body(rid, ask, out, extras))
    bodies = stream_bodies(rid, ask, out, state.seed, extras)
    if request.query_params.get("alt") == "sse":
        events = [(sse_data(b), t) for b, t in bodies]
        return stream_response(events, knobs, b"data: {not json at all\r\n\r\n")
    await non_stream_delay(knobs)  # without alt=sse the API sends one JSON array
    return json_response([b for b, _ in bodies])


def _embed_one(req: Any, state: SimState, model: str, default_dims: int) -> dict[str, Any]:
    if not isinstance(req, dict) or not isinstance(req.get("content"), dict):
        raise BadRequest("* EmbedContentRequest.content: content is not specified")
    texts: list[str] = []
    _part_texts(req["content"].get("parts"), texts)
    if not texts:
        raise BadRequest("* EmbedContentRequest.content.parts: contents must not be empty")
    dims = req.get("outputDimensionality") or default_dims
    values = embedding(state.seed, model, join_prompt(texts), int(dims))
    return {"values": list(values)}


async def embed(request: Request, state: SimState, model: str, batch: bool) -> Response:
    """:embedContent and :batchEmbedContents."""
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("Invalid JSON payload received. Expected an object.")
    except BadRequest as exc:
        state.record_rejected(model, "gemini")
        return error(exc.status, exc.message)
    knobs, fault = state.record(model, "gemini")
    if not _api_key(request):
        return _denied()
    if fault is not None:
        return fault_response(fault)
    dims = knobs.embedding_dim or (3072 if "gemini-embedding" in model else 768)
    try:
        if batch:
            reqs = body.get("requests")
            if not isinstance(reqs, list) or not reqs:
                raise BadRequest("* BatchEmbedContentsRequest.requests: requests is not specified")
            result: Any = {"embeddings": [_embed_one(r, state, model, dims) for r in reqs]}
        else:
            result = {"embedding": _embed_one(body, state, model, dims)}
    except BadRequest as exc:
        return error(exc.status, exc.message)
    await non_stream_delay(knobs)
    return json_response(result)


async def dispatch(request: Request, state: SimState) -> Response:
    """Route `models/{model}:{method}` (the model name may itself contain '/')."""
    target = request.path_params["target"]
    model, _, method = target.rpartition(":")
    if not model:
        return error(404, f"Method not found: {target}")
    if method == "generateContent":
        return await generate(request, state, model, stream=False)
    if method == "streamGenerateContent":
        return await generate(request, state, model, stream=True)
    if method == "embedContent":
        return await embed(request, state, model, batch=False)
    if method == "batchEmbedContents":
        return await embed(request, state, model, batch=True)
    if method == "countTokens":
        try:
            texts: list[str] = []
            body = await read_json(request)
            for content in (body or {}).get("contents") or ():
                _part_texts((content or {}).get("parts"), texts)
        except BadRequest as exc:
            return error(exc.status, exc.message)
        return json_response({"totalTokens": billed_prompt_tokens(texts)})
    return error(404, f"Method not found: {method}")


async def create_cache(request: Request, state: SimState) -> Response:
    """POST /v1beta/cachedContents (and /v1/, where google-genai sends it)."""
    if not _api_key(request):
        return _denied()
    try:
        return json_response(gemini_extras.create_cache(await read_json(request), state.next_id(),
                                                        state.gemini_caches))
    except BadRequest as exc:
        return error(exc.status, exc.message)


def models_list(request: Request, names: list[str]) -> Response:
    """GET /v1beta/models, with a key as the calls need one."""
    if not _api_key(request):
        return _denied()
    models = [{"name": f"models/{n}", "displayName": n, "supportedGenerationMethods": ["generateContent"]} for n in names]
    return json_response({"models": models})
