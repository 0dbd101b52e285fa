"""Amazon Bedrock InvokeModel (`POST /model/{modelId}/invoke`, `/invoke-with-response-stream`),
from the public API reference and model parameter pages; the body is the model vendor's own:

- Anthropic Claude (`anthropic.` in the model id): the Messages body without `model` and
  `stream`, with `anthropic_version` `bedrock-2023-05-31` (or a dated API version, which recent
  anthropic SDKs send) and the betas as an `anthropic_beta` list; the Messages answer (the
  Anthropic simulator's logic, `anthropic_format`). The stream is AWS's binary event stream whose
  `chunk` events carry `{"bytes": <base64 of one Messages stream event>}` (no `ping`), Bedrock's
  `amazon-bedrock-invocationMetrics` added to the last. A guardrail named by the
  `X-Amzn-Bedrock-Guardrail*` headers blocks a prompt holding the model's `guardrail_word`
  (`bedrock_guardrail.invoke_config`, as on Converse); the
  `X-Amzn-Bedrock-PerformanceConfig-Latency` header is checked and logged (`bedrock_logging`).
- Amazon Titan Text Embeddings (`amazon.titan-embed-text-v2:0`, `-v1`): `{"inputText",
  "dimensions" (256/512/1024, v2), "normalize"}` → `{"embedding", "inputTextTokenCount"}`.
- Cohere Embed (`cohere.embed-*`): `{"texts": [1..96], "input_type"}` (+ v4's `output_dimension`)
  → `{"embeddings": [[...]], "id", "response_type", "texts"}` (v4: `{"embeddings": {"float": ...}}`).
Every answer carries `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` headers, as Bedrock's
do (the only token count Cohere's answers have). Auth and errors are the Converse module's.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import anthropic_format, bedrock_logging
from .anthropic_extras import web_search
from .bedrock_format import EVENT_STREAM, error, event, fault_response, frame, refused
from .bedrock_guardrail import blocked_message, blocked_message_events, intervenes, invoke_config
from .core import answer
from .state import SimState
from .text import embedding, prompt_tokens
from .wire import BadRequest, json_response, non_stream_delay, read_json, stream_response

ANTHROPIC_VERSION = "bedrock-2023-05-31"
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TITAN = re.compile(r"(?:^|[./])amazon\.titan-embed-(?:g1-)?text")
COHERE = re.compile(r"(?:^|[./])cohere\.embed-")
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
CHUNK = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}


def malformed(detail: str) -> BadRequest:
    return BadRequest(f"Malformed input request: {detail}, please reformat your input and try again.")


def token_headers(inputs: int, outputs: int = 0) -> dict[str, str]:
    return {"x-amzn-bedrock-input-token-count": str(inputs), "x-amzn-bedrock-output-token-count": str(outputs),
            "x-amzn-bedrock-invocation-latency": "1"}


def claude_body(model: str, body: Any) -> tuple[dict[str, Any], str]:
    """The Bedrock Messages body checked, then as the Anthropic API takes it; and its betas."""
    if not isinstance(body, dict):
        raise malformed("#: expected type: JSONObject")
    version = body.get("anthropic_version")
    if version != ANTHROPIC_VERSION and not (isinstance(version, str) and DATED.match(version)):
        raise malformed(f"#: anthropic_version: {ANTHROPIC_VERSION} is required")
    for key in ("model", "stream"):
        if key in body:
            raise malformed(f"#: extraneous key [{key}] is not permitted")
    betas = body.get("anthropic_beta", [])
    if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
        raise malformed("#/anthropic_beta: expected type: JSONArray of strings")
    rest = {k: v for k, v in body.items() if k not in ("anthropic_version", "anthropic_beta")}
    return rest | {"model": model}, ",".join(betas)


def chunk(doc: dict[str, Any]) -> bytes:
    return frame(CHUNK, orjson.dumps({"bytes": base64.b64encode(orjson.dumps(doc)).decode()}))


def chunks(sse_events: list[tuple[bytes, int]], metrics: dict[str, int]) -> list[tuple[bytes, int]]:
    """The Messages SSE events as Bedrock streams them: each event's JSON in a chunk, no ping."""
    docs = [(orjson.loads(raw.split(b"\ndata: ", 1)[1]), tokens) for raw, tokens in sse_events]
    docs = [(doc, tokens) for doc, tokens in docs if doc.get("type") != "ping"]
    if docs and docs[-1][0].get("type") == "message_stop":
        docs[-1] = ({**docs[-1][0], "amazon-bedrock-invocationMetrics": metrics}, docs[-1][1])
    return [(chunk(doc), tokens) for doc, tokens in docs]


async def claude(request: Request, state: SimState, model: str, stream: bool) -> Response:
    try:
        raw = await read_json(request)
        guard = invoke_config(request.headers, raw)
        latency = bedrock_logging.invoke_latency(request.headers)
        body, betas = claude_body(model, raw)
        ask, texts, _, budget = anthropic_format.parse(body, betas)
    except BadRequest as exc:
        state.record_rejected(model, "bedrock_anthropic")
        return error(exc.status, exc.message)
    knobs, fault = state.record(model, "bedrock_anthropic", stream)
    denied = refused(request)
    if denied is not None:
        return denied
    if fault is not None:
        return fault_response(fault)
    bedrock_logging.log(state.invocation_log, model, None, latency)
    blocked = intervenes(guard, knobs.guardrail_word, texts)
    if blocked is not None:  # the guardrail's answer, before the model runs
        mid = "msg_bdrk_" + state.next_id()
        if not stream:
            return json_response(blocked_message(mid, model, *blocked), 200, token_headers(0))
        return stream_response([(chunk(doc), 0) for doc in blocked_message_events(mid, model, *blocked)], knobs, b"",
                               media_type=EVENT_STREAM, headers={"x-amzn-bedrock-content-type": "application/json"})
    thought, out = anthropic_format.think(ask, answer(ask, texts, knobs, state.seed, "toolu_bdrk_"), budget,
                                          state.seed)
    search, out = web_search(body, texts, out, state.seed)
    mid = "msg_bdrk_" + state.next_id()
    inputs = out.prompt_tokens - out.cached_tokens
    if not stream:
        await non_stream_delay(knobs)
        return json_response(anthropic_format.message_body(mid, ask, out, thought, search), 200,
                             token_headers(inputs, out.output_tokens))
    metrics = {"inputTokenCount": inputs, "outputTokenCount": out.output_tokens, "invocationLatency": 1,
               "firstByteLatency": 1}
    events = chunks(anthropic_format.stream_events(mid, ask, out, state.seed, thought, search), metrics)
    corrupt = bytearray(event("chunk", {"bytes": ""}))
    corrupt[-1] ^= 0xFF  # garbage_stream: a message whose CRC is wrong
    return stream_response(events, knobs, bytes(corrupt), media_type=EVENT_STREAM,
                           headers={"x-amzn-bedrock-content-type": "application/json"})


def _titan(model: str, body: dict[str, Any]) -> tuple[list[str], int | None, str]:
    allowed = {"inputText", "dimensions", "normalize", "embeddingTypes"} if "-v2" in model else {"inputText"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise malformed(f"#: extraneous key [{extra[0]}] is not permitted")
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise malformed("#: required key [inputText] not found")
    dims = body.get("dimensions")
    if dims is not None and dims not in (256, 512, 1024):
        raise malformed("#/dimensions: 256, 512 or 1024 expected")
    return [text], dims, "titan"


def _cohere(model: str, body: dict[str, Any]) -> tuple[list[str], int | None, str]:
    allowed = {"texts", "input_type", "truncate", "embedding_types", "images"}
    allowed |= {"output_dimension", "max_tokens", "inputs"} if "embed-v4" in model else set()
    extra = sorted(set(body) - allowed)
    if extra:
        raise malformed(f"#: extraneous key [{extra[0]}] is not permitted")
    texts = body.get("texts")
    if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
        raise malformed("#/texts: between 1 and 96 texts expected")
    if not all(isinstance(t, str) and t and len(t) <= 2048 for t in texts):
        raise malformed("#/texts: each text must be a non-empty string of at most 2048 characters")
    if body.get("input_type") not in INPUT_TYPES:
        raise malformed("#: required key [input_type] not found or not one of " + ", ".join(INPUT_TYPES))
    dims = body.get("output_dimension")
    if dims is not None and dims not in (256, 512, 1024, 1536):
        raise malformed("#/output_dimension: 256, 512, 1024 or 1536 expected")
    return texts, dims, "cohere"


async def embed(request: Request, state: SimState, model: str) -> Response:
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise malformed("#: expected type: JSONObject")
        texts, dims, kind = (_titan if TITAN.search(model) else _cohere)(model, body)
    except BadRequest as exc:
        state.record_rejected(model, "bedrock")
        return error(exc.status, exc.message)
    knobs, fault = state.record(model, "bedrock")
    denied = refused(request)
    if denied is not None:
        return denied
    if fault is not None:
        return fault_response(fault)
    default = (1024 if "-v2" in model else 1536) if kind == "titan" else (1536 if "embed-v4" in model else 1024)
    size = dims or knobs.embedding_dim or default
    vectors = [list(embedding(state.seed, model, t, size)) for t in texts]
    tokens = sum(prompt_tokens(len(t)) for t in texts)
    await non_stream_delay(knobs)
    if kind == "titan":
        doc: dict[str, Any] = {"embedding": vectors[0], "inputTextTokenCount": tokens}
        if "-v2" in model:
            doc["embeddingsByType"] = {"float": vectors[0]}
    elif "embed-v4" in model:
        doc = {"id": state.next_id(), "embeddings": {"float": vectors}, "response_type": "embeddings_by_type",
               "texts": texts}
    else:
        doc = {"id": state.next_id(), "embeddings": vectors, "response_type": "embeddings_floats", "texts": texts}
    return json_response(doc, 200, token_headers(tokens))


async def invoke(request: Request, state: SimState, stream: bool) -> Response:
    """POST /model/{modelId}/invoke and /invoke-with-response-stream."""
    model = request.path_params["model"]
    if "anthropic." in model:
        return await claude(request, state, model, stream)
    if not stream and (TITAN.search(model) or COHERE.search(model)):
        return await embed(request, state, model)
    state.record_rejected(model, "bedrock")
    return error(400, f"The simulator's InvokeModel speaks Anthropic Claude, Amazon Titan Text Embeddings and "
                      f"Cohere Embed; {model} is none of them (or does not stream).")
