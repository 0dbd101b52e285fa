"""The OpenAI Responses API adapter (`format: openai_responses`): `request` (chat → Responses,
a Responses client's own body as it came, errors) and `response` (Response objects and their
stream events → chat completions and chunks), put together as `adapter`."""

from __future__ import annotations

from gateway.providers.base import Capabilities, ChatAdapterFunctions
from gateway.providers.openai_responses.request import error_from_upstream, health_probe, to_upstream
from gateway.providers.openai_responses.response import StreamDecoder, from_upstream

__all__ = ["adapter"]

adapter = ChatAdapterFunctions("openai_responses", Capabilities(embeddings=False, n_choices=False, custom_tools=True), to_upstream,
                               from_upstream, error_from_upstream, StreamDecoder, native_format="openai_responses",
                               health_probe=health_probe)
