"""The Amazon Bedrock adapter (Converse API): `request` (OpenAI → Converse, error answers),
`response` (Converse answer → chat completion), `stream` (ConverseStream events → chunks),
`eventstream` (AWS's binary event-stream framing) and `auth` (bearer key or SigV4), put together
as `adapter`."""

from __future__ import annotations

from gateway.providers.base import Capabilities, ChatAdapterFunctions
from gateway.providers.bedrock.eventstream import EventStreamParser
from gateway.providers.bedrock.request import error_from_upstream, health_probe, to_upstream
from gateway.providers.bedrock.response import from_upstream
from gateway.providers.bedrock.stream import StreamDecoder

__all__ = ["adapter"]

adapter = ChatAdapterFunctions("bedrock", Capabilities(embeddings=False, n_choices=False), to_upstream,
                               from_upstream, error_from_upstream, StreamDecoder, stream_framing=EventStreamParser,
                               health_probe=health_probe)
