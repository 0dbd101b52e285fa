"""The Anthropic Messages adapter: `request` (OpenAI → Anthropic, and error answers), `response`
(message → chat completion) and `stream` (events → chunks), put together as `adapter`."""

from __future__ import annotations

from gateway.providers.anthropic.request import error_from_upstream, health_probe, to_upstream
from gateway.providers.anthropic.response import from_upstream
from gateway.providers.anthropic.stream import StreamDecoder
from gateway.providers.base import Capabilities, ChatAdapterFunctions

__all__ = ["adapter"]

adapter = ChatAdapterFunctions("anthropic", Capabilities(embeddings=False, n_choices=False), to_upstream, from_upstream,
                               error_from_upstream, StreamDecoder, native_format="anthropic",
                               reads_hints=True, health_probe=health_probe)
