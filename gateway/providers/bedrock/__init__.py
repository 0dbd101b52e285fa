"""Amazon Bedrock: the Converse adapter (`format: bedrock`) — `request` (OpenAI → Converse, error
answers), `response` (Converse answer → chat completion), `stream` (ConverseStream events →
chunks), `eventstream` (AWS's binary event-stream framing), `auth` (bearer key or SigV4) and
`embeddings` (Titan and Cohere through InvokeModel), put together as `adapter` — and Claude
through InvokeModel with the Anthropic Messages body (`format: bedrock_anthropic`, `invoke`)."""

from __future__ import annotations

from gateway.providers.base import Capabilities, EmbeddingsAdapterFunctions
from gateway.providers.bedrock.embeddings import embeddings_from_upstream, embeddings_to_upstream
from gateway.providers.bedrock.eventstream import EventStreamParser
from gateway.providers.bedrock.invoke import adapter as bedrock_anthropic
from gateway.providers.bedrock.request import error_from_upstream, health_probe, to_upstream
from gateway.providers.bedrock.response import from_upstream
from gateway.providers.bedrock.stream import StreamDecoder

__all__ = ["adapter", "bedrock_anthropic"]

# Converse has no server-side web search tool (config NO_WEB_SEARCH)
adapter = EmbeddingsAdapterFunctions("bedrock", Capabilities(embeddings=True, n_choices=False, web_search=False),
                                     to_upstream, from_upstream, error_from_upstream, StreamDecoder, embeddings_to_upstream,
                                     embeddings_from_upstream, stream_framing=EventStreamParser,
                                     health_probe=health_probe, reads_hints=True)
