"""Azure OpenAI: the OpenAI body, but the deployment lives in the path and the key in `api-key`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.config import Deployment
from gateway.providers import UpstreamRequest, encode
from gateway.providers.openai import (
    StreamDecoder,
    apply_quirks,
    embeddings_from_upstream,
    error_from_upstream,
    from_upstream,
)

__all__ = ["to_upstream", "from_upstream", "StreamDecoder", "error_from_upstream", "embeddings_to_upstream",
           "embeddings_from_upstream"]


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body = dict(chat)
    body.pop("model", None)  # the deployment in the path names the model
    apply_quirks(body, dep.provider.quirks, stream)
    headers = {"content-type": "application/json"}
    if dep.provider.api_key:
        headers["api-key"] = dep.provider.api_key
    headers.update(dep.provider.headers)
    url = (f"{dep.provider.base_url}/openai/deployments/{quote(dep.upstream, safe='')}/chat/completions"
           f"?api-version={quote(dep.provider.api_version or '', safe='')}")
    return UpstreamRequest(url, headers, encode(body))


def _deployment_url(dep: Deployment, operation: str) -> str:
    return (f"{dep.provider.base_url}/openai/deployments/{quote(dep.upstream, safe='')}/{operation}"
            f"?api-version={quote(dep.provider.api_version or '', safe='')}")


def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    payload = dict(body)
    payload.pop("model", None)  # the deployment in the path names the model
    headers = {"content-type": "application/json"}
    if dep.provider.api_key:
        headers["api-key"] = dep.provider.api_key
    headers.update(dep.provider.headers)
    return UpstreamRequest(_deployment_url(dep, "embeddings"), headers, encode(payload))
