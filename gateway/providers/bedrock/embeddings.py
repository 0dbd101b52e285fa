"""Embeddings on Amazon Bedrock (`format: bedrock`, a `kind: embedding` model) through InvokeModel,
`POST {base}/model/{modelId}/invoke`, whose body is the model vendor's own: the vendor is read from
the model id (a base model id, a cross-region profile such as `us.cohere.embed-v4:0`, or an ARN
ending in one).

- Amazon Titan Text Embeddings (`amazon.titan-embed-text-v2:0`, `-v1`): ONE text a call,
  `{"inputText", "dimensions", "normalize": true}` → `{"embedding": [...], "inputTextTokenCount": N}`.
  A list of more than one input is a 400 naming the limit (the gateway makes one upstream call per
  request), so a route falls back to a model that takes lists. `dimensions`: 256, 512 or 1024, v2 only.
- Cohere Embed (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`, `cohere.embed-v4:0`): up
  to 96 texts, `{"texts": [...], "input_type": "search_document"}` (the client may send its own
  `input_type`: search_query, classification, clustering) → `{"embeddings": [[...]]}` (v4:
  `{"embeddings": {"float": [[...]]}}`); `dimensions` → v4's `output_dimension` (v3's size is fixed).
  The body reports no tokens: Bedrock's `X-Amzn-Bedrock-Input-Token-Count` header does, for every
  InvokeModel answer, and is the usage here (Titan's body count first).
Token-id inputs are a 400: these models embed text.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.errors import bad_request, shown
from gateway.pricing import Usage
from gateway.providers import openai_side
from gateway.providers.base import UpstreamRequest, encode
from gateway.providers.bedrock.auth import request_headers
from gateway.providers.bedrock.request import model_url
from gateway.providers.embeddings import embeddings_body, input_texts

FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "input_type"})
TITAN = re.compile(r"(?:^|[./])amazon\.titan-embed-(?:g1-)?text")
COHERE = re.compile(r"(?:^|[./])cohere\.embed-")
TITAN_DIMENSIONS = (256, 512, 1024)
COHERE_MAX_TEXTS = 96
COHERE_V4_DIMENSIONS = (256, 512, 1024, 1536)
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
TOKEN_COUNT = "x-amzn-bedrock-input-token-count"


def vendor(model_id: str) -> str:
    """"titan" or "cohere" from the model id; a 400 for a model these bodies are not for."""
    if TITAN.search(model_id):
        return "titan"
    if COHERE.search(model_id):
        return "cohere"
    raise bad_request(f"Bedrock embedding model {shown(model_id)} is neither Amazon Titan Text Embeddings "
                      "(amazon.titan-embed-text-*) nor Cohere Embed (cohere.embed-*): the gateway cannot tell "
                      "which body it takes.", "model")


def _titan(texts: list[str], dims: Any, model_id: str) -> dict[str, Any]:
    if len(texts) > 1:
        raise bad_request(f"This model (Amazon Titan Text Embeddings) embeds one text per request; got "
                          f"{len(texts)}. Send them one by one, or use a model that takes a list.", "input",
                          "unsupported_parameter")
    body: dict[str, Any] = {"inputText": texts[0]}
    if "-v2" in model_id:
        body["normalize"] = True  # as OpenAI's vectors are: unit length
        if dims is not None:
            if dims not in TITAN_DIMENSIONS:
                raise bad_request(f"dimensions must be one of {', '.join(map(str, TITAN_DIMENSIONS))} for "
                                  "Amazon Titan Text Embeddings v2.", "dimensions")
            body["dimensions"] = dims
    elif dims is not None:
        raise bad_request("This Amazon Titan model has a fixed size; omit dimensions.", "dimensions")
    return body


def _cohere(texts: list[str], dims: Any, input_type: Any, model_id: str) -> dict[str, Any]:
    if len(texts) > COHERE_MAX_TEXTS:
        raise bad_request(f"Cohere Embed takes at most {COHERE_MAX_TEXTS} texts per request; got {len(texts)}.",
                          "input")
    if input_type is not None and input_type not in INPUT_TYPES:
        raise bad_request(f"input_type must be one of {', '.join(INPUT_TYPES)}.", "input_type")
    body: dict[str, Any] = {"texts": texts, "input_type": input_type or "search_document"}
    if dims is not None:
        if "embed-v4" not in model_id or dims not in COHERE_V4_DIMENSIONS:
            raise bad_request("dimensions: Cohere Embed v3 has a fixed size (omit it); v4 takes "
                              f"{', '.join(map(str, COHERE_V4_DIMENSIONS))}.", "dimensions")
        body["output_dimension"] = dims
    return body


def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    openai_side.drop_unknown(body, FIELDS, "bedrock")
    texts, dims = input_texts(body.get("input")), body.get("dimensions")
    if vendor(dep.upstream) == "titan":
        payload = _titan(texts, dims, dep.upstream)
    else:
        payload = _cohere(texts, dims, body.get("input_type"), dep.upstream)
    data = encode(payload)
    url = model_url(dep, "invoke")
    return UpstreamRequest(url, request_headers(dep, url, data, "application/json"), data)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def embeddings_from_upstream(data: bytes, dep: Deployment, encoding_format: str,
                             headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("upstream body is not a Bedrock embeddings answer")
    if vendor(dep.upstream) == "titan":
        if not isinstance(doc.get("embedding"), list):
            raise ValueError("upstream body has no embedding")
        vectors = [doc["embedding"]]
        tokens = _count(doc.get("inputTextTokenCount"))
    else:
        found = doc.get("embeddings")
        vectors = found.get("float") if isinstance(found, dict) else found
        if not isinstance(vectors, list) or not vectors or not all(isinstance(v, list) for v in vectors):
            raise ValueError("upstream body has no float embeddings")
        tokens = None
    if tokens is None:
        tokens = _count((headers or {}).get(TOKEN_COUNT))
    usage = Usage(prompt_tokens=tokens, reported=True) if tokens is not None else Usage()
    return embeddings_body(vectors, dep.upstream, usage, encoding_format), usage
