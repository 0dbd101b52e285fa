"""Wire format → adapter: the one table the pipeline looks adapters up in.

The config's `format` choices (`gateway.config.WIRE_FORMATS`) and this table are checked against
each other on import, so a format cannot be allowed without an adapter nor an adapter go unreachable.
"""

from __future__ import annotations

from gateway.config import NO_EMBEDDINGS, NO_WEB_SEARCH, WIRE_FORMATS
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.azure import adapter as azure
from gateway.providers.base import ChatAdapter
from gateway.providers.bedrock import adapter as bedrock, bedrock_anthropic
from gateway.providers.gemini import adapter as gemini
from gateway.providers.openai import adapter as openai
from gateway.providers.openai_responses import adapter as openai_responses
from gateway.providers.vertex import vertex_anthropic, vertex_gemini

_ALL: tuple[ChatAdapter, ...] = (openai, openai_responses, azure, anthropic, gemini, bedrock, bedrock_anthropic, vertex_gemini,
                                 vertex_anthropic)

ADAPTERS: dict[str, ChatAdapter] = {a.name: a for a in _ALL}

if sorted(ADAPTERS) != sorted(WIRE_FORMATS):
    raise ImportError(f"adapters {sorted(ADAPTERS)} do not match the config's wire formats {sorted(WIRE_FORMATS)}")
if {a.name for a in _ALL if not a.capabilities.embeddings} != set(NO_EMBEDDINGS):
    raise ImportError("the config's NO_EMBEDDINGS does not match the adapters' capabilities")
if {a.name for a in _ALL if not a.capabilities.web_search} != set(NO_WEB_SEARCH):
    raise ImportError("the config's NO_WEB_SEARCH does not match the adapters' capabilities")


def adapter_for(wire_format: str) -> ChatAdapter:
    """The adapter of a wire format (a dict lookup: it is on every request's path)."""
    try:
        return ADAPTERS[wire_format]
    except KeyError:
        raise LookupError(f"no adapter for wire format {wire_format!r}") from None
