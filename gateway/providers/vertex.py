"""Google Vertex AI: Gemini (`vertex_gemini`) and Claude (`vertex_anthropic`) through a Google
Cloud project, built from the Gemini and Anthropic adapters (as `azure` is from `openai`).

Both post to `{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`
with `Authorization: Bearer <OAuth access token>`:
- Gemini: `:generateContent` / `:streamGenerateContent?alt=sse`, the Gemini API's body and answers.
- Gemini embeddings (text-embedding-005, gemini-embedding-001): `:predict` with `instances`.
- Claude: `:rawPredict` / `:streamRawPredict`, the Messages body without `model` (the path names it)
  and with `"anthropic_version": "vertex-2023-10-16"` in the body instead of a header; Anthropic's
  answers and SSE stream.
The token is the operator's (`api_key_env`) or the one the worker's refresher keeps in
`provider.vertex.token` (gateway/net/google_auth.py): reading it is a field access, no I/O.
Vertex answers platform errors (auth, quota, unknown model) in Google's error shape, also for
Claude, whose model errors come in Anthropic's.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import orjson

from gateway.config import Deployment, Provider
from gateway.pricing import Usage
from gateway.providers import openai_side
from gateway.providers.anthropic import adapter as anthropic_adapter
from gateway.providers.anthropic.request import message_body
from gateway.providers.base import (Capabilities, ChatAdapterFunctions, EmbeddingsAdapterFunctions, ProbeTarget,
                                    UpstreamError, UpstreamRequest, encode)
from gateway.providers.embeddings import embeddings_body, input_texts
from gateway.providers.gemini import adapter as gemini_adapter
from gateway.providers.gemini.request import EMBEDDING_FIELDS, generate_body

ANTHROPIC_VERSION = "vertex-2023-10-16"


def location_url(provider: Provider) -> str:
    """`{base}/v1/projects/{project}/locations/{location}`; a base URL that already names the API
    version keeps it."""
    vertex = provider.vertex
    assert vertex is not None, "a vertex_* provider always has its Vertex settings (config/vertex.py)"
    base = provider.base_url
    api = base if base.endswith(("/v1", "/v1beta1")) else base + "/v1"
    return f"{api}/projects/{quote(vertex.project, safe='')}/locations/{quote(vertex.location, safe='')}"


def model_url(dep: Deployment, publisher: str, method: str) -> str:
    """The model's method URL."""
    return f"{location_url(dep.provider)}/publishers/{publisher}/models/{quote(dep.upstream, safe='@')}:{method}"


def token_headers(provider: Provider, fixed: Mapping[str, str]) -> dict[str, str]:
    """`fixed`, the current access token (none yet: sent without, and Vertex's 401 says so), then
    the provider's configured headers, which win."""
    token = provider.api_key or (provider.vertex.token.value if provider.vertex else "")
    headers = dict(fixed)
    if token:
        headers["authorization"] = "Bearer " + token
    headers.update(provider.headers)
    return headers


def bearer_headers(dep: Deployment, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A JSON request's headers with the access token."""
    return token_headers(dep.provider, {"content-type": "application/json", **(extra or {})})


def health_probe(provider: Provider) -> ProbeTarget:
    """Vertex has no model listing per location; its free regional GET is the project's endpoint
    listing (one item), which answers 200 to a token with `aiplatform.endpoints.list` (the Vertex
    AI User role has it) and 403 without (neutral)."""
    return location_url(provider) + "/endpoints?pageSize=1", token_headers(provider, {})


def gemini_to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return UpstreamRequest(model_url(dep, "google", method), bearer_headers(dep), encode(generate_body(chat, dep)))


def anthropic_to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body, extra, adapted = message_body(chat, dep, stream)
    body.pop("model", None)  # the path names the model
    body["anthropic_version"] = ANTHROPIC_VERSION
    url = model_url(dep, "anthropic", "streamRawPredict" if stream else "rawPredict")
    return UpstreamRequest(url, bearer_headers(dep, extra), encode(body), adapted=adapted)


def anthropic_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Claude's own error shape (`{"type": "error", ...}`), else Vertex's Google one."""
    err = anthropic_adapter.error_from_upstream(status, data, headers)
    if err.code is None:
        return gemini_adapter.error_from_upstream(status, data, headers)
    return err


# --------------------------------------------------------------------------------- embeddings

def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    """`:predict` with one instance per input text (gemini-embedding-001 takes one per call,
    text-embedding-005 up to 250); `dimensions` → `outputDimensionality`."""
    openai_side.drop_unknown(body, EMBEDDING_FIELDS, "vertex_gemini")
    texts = input_texts(body.get("input"))
    payload: dict[str, Any] = {"instances": [{"content": t} for t in texts]}
    if body.get("dimensions"):
        payload["parameters"] = {"outputDimensionality": int(body["dimensions"])}
    return UpstreamRequest(model_url(dep, "google", "predict"), bearer_headers(dep), encode(payload))


def embeddings_from_upstream(data: bytes, dep: Deployment, encoding_format: str,
                             headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Usage]:
    """`{"predictions": [{"embeddings": {"values", "statistics": {"token_count"}}}]}` → the
    OpenAI list; usage is the token counts' sum when every prediction has one."""
    doc = orjson.loads(data)
    predictions = doc.get("predictions") if isinstance(doc, dict) else None
    if not isinstance(predictions, list) or not predictions:
        raise ValueError("upstream body has no predictions")
    vectors, counts = [], []
    for item in predictions:
        emb = item.get("embeddings") if isinstance(item, dict) else None
        if not isinstance(emb, dict) or not isinstance(emb.get("values"), list):
            raise ValueError("a prediction has no embedding values")
        vectors.append(emb["values"])
        stats = emb.get("statistics")
        counts.append(stats.get("token_count") if isinstance(stats, dict) else None)
    known = all(isinstance(c, (int, float)) for c in counts)
    usage = Usage(prompt_tokens=int(sum(counts)), reported=True) if known else Usage()
    return embeddings_body(vectors, dep.upstream, usage, encoding_format), usage


vertex_gemini = EmbeddingsAdapterFunctions("vertex_gemini", Capabilities(embeddings=True, n_choices=True),
                                           gemini_to_upstream, gemini_adapter.from_upstream,
                                           gemini_adapter.error_from_upstream, gemini_adapter.StreamDecoder,
                                           embeddings_to_upstream, embeddings_from_upstream, health_probe=health_probe,
                                           native_format="gemini")
vertex_anthropic = ChatAdapterFunctions("vertex_anthropic", anthropic_adapter.capabilities, anthropic_to_upstream,
                                        anthropic_adapter.from_upstream, anthropic_error,
                                        anthropic_adapter.StreamDecoder, native_format="anthropic",
                                        reads_hints=True, health_probe=health_probe)
