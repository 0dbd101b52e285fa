"""The Gemini adapter: `request` (OpenAI → generateContent and embedContent, error answers),
`response` (GenerateContentResponse → chat completion), `stream` (SSE chunks → chunks) and
`schema` (JSON schema → Gemini's Schema), put together as `adapter`."""

from __future__ import annotations

from gateway.providers.base import Capabilities, EmbeddingsAdapterFunctions
from gateway.providers.gemini.request import (
    embeddings_from_upstream,
    embeddings_to_upstream,
    error_from_upstream,
    health_probe,
    to_upstream,
)
from gateway.providers.gemini.response import from_upstream
from gateway.providers.gemini.stream import StreamDecoder

__all__ = ["adapter"]

# `n` becomes `candidateCount`, so several choices come from one call.
adapter = EmbeddingsAdapterFunctions("gemini", Capabilities(embeddings=True, n_choices=True),
                                     to_upstream, from_upstream, error_from_upstream, StreamDecoder,
                                     embeddings_to_upstream, embeddings_from_upstream, health_probe=health_probe,
                                     native_format="gemini")
