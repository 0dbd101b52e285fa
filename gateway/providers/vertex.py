"""Google Vertex AI: Gemini (`vertex_gemini`) and Claude (`vertex_anthropic`) through a Google
Cloud project, built from the Gemini and Anthropic adapters (as `azure` is from `openai`).

Both post to `{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`
with `Authorization: Bearer <OAuth access token>`:
- Gemini: `:generateContent` / `:streamGenerateContent?alt=sse`, the Gemini API's body and answers.
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

from gateway.config import Deployment
from gateway.providers.anthropic import adapter as anthropic_adapter
from gateway.providers.anthropic.request import message_body
from gateway.providers.base import Capabilities, ChatAdapterFunctions, UpstreamError, UpstreamRequest, encode
from gateway.providers.gemini import adapter as gemini_adapter
from gateway.providers.gemini.request import generate_body

ANTHROPIC_VERSION = "vertex-2023-10-16"


def model_url(dep: Deployment, publisher: str, method: str) -> str:
    """The model's method URL; a base URL that already names the API version keeps it."""
    vertex = dep.provider.vertex
    assert vertex is not None, "a vertex_* provider always has its Vertex settings (config/vertex.py)"
    base = dep.provider.base_url
    api = base if base.endswith(("/v1", "/v1beta1")) else base + "/v1"
    return (f"{api}/projects/{quote(vertex.project, safe='')}/locations/{quote(vertex.location, safe='')}"
            f"/publishers/{publisher}/models/{quote(dep.upstream, safe='@')}:{method}")


def bearer_headers(dep: Deployment, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """JSON headers with the current access token (none yet: sent without, and Vertex's 401 says
    so), then the provider's configured headers, which win."""
    provider = dep.provider
    token = provider.api_key or (provider.vertex.token.value if provider.vertex else "")
    headers = {"content-type": "application/json", **(extra or {})}
    if token:
        headers["authorization"] = "Bearer " + token
    headers.update(provider.headers)
    return headers


def gemini_to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return UpstreamRequest(model_url(dep, "google", method), bearer_headers(dep), encode(generate_body(chat, dep)))


def anthropic_to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body, extra = message_body(chat, dep, stream)
    body.pop("model", None)  # the path names the model
    body["anthropic_version"] = ANTHROPIC_VERSION
    url = model_url(dep, "anthropic", "streamRawPredict" if stream else "rawPredict")
    return UpstreamRequest(url, bearer_headers(dep, extra), encode(body))


def anthropic_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Claude's own error shape (`{"type": "error", ...}`), else Vertex's Google one."""
    err = anthropic_adapter.error_from_upstream(status, data, headers)
    if err.code is None:
        return gemini_adapter.error_from_upstream(status, data, headers)
    return err


# Chat only: Vertex embeddings are another API (`:predict`), not translated yet.
vertex_gemini = ChatAdapterFunctions("vertex_gemini", Capabilities(embeddings=False, n_choices=True),
                                     gemini_to_upstream, gemini_adapter.from_upstream,
                                     gemini_adapter.error_from_upstream, gemini_adapter.StreamDecoder)
vertex_anthropic = ChatAdapterFunctions("vertex_anthropic", anthropic_adapter.capabilities, anthropic_to_upstream,
                                        anthropic_adapter.from_upstream, anthropic_error,
                                        anthropic_adapter.StreamDecoder)
