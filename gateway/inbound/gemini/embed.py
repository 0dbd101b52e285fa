"""`:embedContent` and `:batchEmbedContents` → the embeddings pipeline (`POST /v1/embeddings`'s), and
the OpenAI list answer back as `{"embedding": {...}}` / `{"embeddings": [...]}`.

A request's `content` must be text parts (joined by newlines), as most embedding models take
text only; `outputDimensionality` → `dimensions` (one value for the whole batch). Each batch
request's `model`, when given, must be the path's. `taskType` and `title` (Gemini-only hints)
are dropped with a debug line. google-genai's `embed_content` always sends batchEmbedContents.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from gateway.errors import bad_request, shown
from gateway.inbound.gemini import fields as f
from gateway.inbound.gemini.reply import error_body
from gateway.pipeline.embeddings import EmbeddingsApi
from gateway.pipeline.request import parse_json

HINTS = ("taskType", "title", "task_type")


def _text(request: dict[str, Any], where: str) -> str:
    content = f.obj(request.get("content"), f"{where}.content")
    texts = []
    for j, part in enumerate(f.items(content.get("parts") or [], f"{where}.content.parts")):
        part = f.obj(part, f"{where}.content.parts[{j}]")
        if part.get("text") is None:
            raise bad_request(f"Invalid value at '{where}.content.parts[{j}]': only text parts can be embedded here.",
                              f"{where}.content.parts")
        texts.append(f.text(part["text"], f"{where}.content.parts[{j}].text"))
    text = "\n".join(texts)
    if not text:
        raise bad_request(f"* {where}.content.parts: contents must not be empty", f"{where}.content")
    return text


def _dims(request: dict[str, Any], where: str) -> int | None:
    value = f.get(request, "outputDimensionality")
    return None if value is None else f.integer(value, f"{where}.outputDimensionality", 1, 65536)


def to_canonical(raw: bytes, model: str, batch: bool) -> dict[str, Any]:
    body = parse_json(raw)
    if not batch:
        requests, where = [body], "EmbedContentRequest"
    else:
        requests = f.items(body.get("requests"), "requests")
        if not requests:
            raise bad_request("* BatchEmbedContentsRequest.requests: requests is not specified", "requests")
        where = "requests"
    inputs: list[str] = []
    dims: set[int | None] = set()
    hints: list[str] = []
    for i, request in enumerate(requests):
        here = f"{where}[{i}]" if batch else where
        request = f.obj(request, here)
        named = request.get("model")
        if batch and named is not None and str(named).removeprefix("models/") != model:
            raise bad_request(f"Invalid value at '{here}.model': {shown(named)} is not the model of the path "
                              f"({shown('models/' + model)}).", f"{here}.model")
        inputs.append(_text(request, here))
        dims.add(_dims(request, here))
        hints.extend(k for k in HINTS if k in request)
    if len(dims) > 1:
        raise bad_request("Invalid value at 'requests': every request of a batch must ask for the same "
                          "outputDimensionality.", "requests")
    f.dropped("embedContent", hints)
    canonical: dict[str, Any] = {"model": model, "input": inputs if batch else inputs[0]}
    size = dims.pop()
    if size is not None:
        canonical["dimensions"] = size
    return canonical


def _render(out: dict[str, Any], batch: bool) -> bytes:
    vectors = [{"values": item["embedding"]} for item in out.get("data") or ()]
    tokens = int((out.get("usage") or {}).get("prompt_tokens") or 0)
    usage = {"promptTokenCount": tokens, "totalTokenCount": tokens}
    if batch:
        return orjson.dumps({"embeddings": vectors, "usageMetadata": usage})
    return orjson.dumps({"embedding": vectors[0] if vectors else {"values": []}, "usageMetadata": usage})


def embeddings_api(model: str, batch: bool) -> EmbeddingsApi:
    """The embeddings pipeline's view of one Gemini embedding request."""
    return EmbeddingsApi("gemini.embed_content", partial(to_canonical, model=model, batch=batch),
                         partial(_render, batch=batch), error_body)
