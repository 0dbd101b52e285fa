"""OpenAI's audio, image and moderation endpoints on the wire formats that have them (the config's
MEDIA_FORMATS): the client's body goes on as it came (a JSON body, or the upload's form parts)
with only the model changed: named in the body for OpenAI, in the path for Azure OpenAI
(`/openai/deployments/{deployment}/audio/transcriptions?api-version=...`, `/audio/translations`,
`/audio/speech`, `/images/generations`; Azure has no moderations).

Answers and errors are OpenAI's on both, so the OpenAI adapter's error reading serves them.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

from gateway.config import Deployment
from gateway.providers.base import UpstreamError, UpstreamRequest, encode, key_headers
from gateway.providers.multipart import Part, encode_form
from gateway.providers.openai import error_from_upstream

__all__ = ["form_request", "json_request", "media_error"]


def _target(dep: Deployment, operation: str, content_type: str) -> tuple[str, dict[str, str]]:
    provider = dep.provider
    fixed = {"content-type": content_type}
    if provider.format == "azure":
        url = (f"{provider.base_url}/openai/deployments/{quote(dep.upstream, safe='')}/{operation}"
               f"?api-version={quote(provider.api_version or '', safe='')}")
        return url, key_headers(provider, "api-key", fixed=fixed)
    if provider.format == "openai":
        return f"{provider.base_url}/{operation}", key_headers(provider, "authorization", "Bearer ", fixed)
    raise LookupError(f"format {provider.format} has no {operation} endpoint")  # the config refuses it first


def json_request(body: dict[str, Any], dep: Deployment, operation: str) -> UpstreamRequest:
    """A JSON endpoint (speech, images, moderations): the body with the deployment's model."""
    payload = dict(body)
    if dep.provider.format == "azure":
        payload.pop("model", None)  # the deployment in the path names the model
    else:
        payload["model"] = dep.upstream
    url, headers = _target(dep, operation, "application/json")
    return UpstreamRequest(url, headers, encode(payload))


def form_request(parts: list[Part], dep: Deployment, operation: str) -> UpstreamRequest:
    """An upload (transcriptions, translations): the client's parts, the file's bytes untouched,
    with the deployment's model."""
    kept = [p for p in parts if p.name != "model"]
    if dep.provider.format != "azure":
        kept.insert(0, Part("model", dep.upstream.encode("utf-8")))
    body, content_type = encode_form(kept)
    url, headers = _target(dep, operation, content_type)
    return UpstreamRequest(url, headers, body)


def media_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """A provider's error answer, in the terms the fallback loop judges."""
    return error_from_upstream(status, data, headers)
