"""Azure OpenAI: the OpenAI body, but the deployment lives in the path and the key in `api-key`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from gateway.config import Deployment, Provider
from gateway.providers.base import ProbeTarget, UpstreamRequest, encode, json_headers, key_headers
from gateway.providers.openai import adapter as openai_adapter
from gateway.providers.openai import apply_quirks


def _deployment_url(dep: Deployment, operation: str) -> str:
    return (f"{dep.provider.base_url}/openai/deployments/{quote(dep.upstream, safe='')}/{operation}"
            f"?api-version={quote(dep.provider.api_version or '', safe='')}")


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body = dict(chat)
    body.pop("model", None)  # the deployment in the path names the model
    apply_quirks(body, dep.provider.quirks, stream)
    return UpstreamRequest(_deployment_url(dep, "chat/completions"), json_headers(dep, "api-key"), encode(body))


def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    payload = dict(body)
    payload.pop("model", None)  # the deployment in the path names the model
    return UpstreamRequest(_deployment_url(dep, "embeddings"), json_headers(dep, "api-key"), encode(payload))


def health_probe(provider: Provider) -> ProbeTarget:
    """The resource's model listing."""
    return (f"{provider.base_url}/openai/models?api-version={quote(provider.api_version or '', safe='')}",
            key_headers(provider, "api-key"))


# OpenAI's answers, errors and stream; its own URLs, key header and listing.
adapter = replace(openai_adapter, name="azure", to_upstream=to_upstream, embeddings_to_upstream=embeddings_to_upstream,
                  health_probe=health_probe)
