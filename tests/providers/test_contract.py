"""The adapter contract: every registered adapter satisfies its Protocol, declares what it can do
truthfully, and the registry and the config agree on the wire formats."""

from __future__ import annotations

import inspect

import pytest

from gateway.config import WIRE_FORMATS
from gateway.providers import ADAPTERS, ChatAdapter, EmbeddingsAdapter, StreamDecoder, adapter_for
from gateway.providers.base import Capabilities
from gateway.errors import GatewayError
from tests.providers.helpers import deployment

BASES = {"openai": "https://api.openai.com/v1", "openai_responses": "https://api.openai.com/v1", "azure": "https://res.openai.azure.com",
         "anthropic": "https://api.anthropic.com", "gemini": "https://generativelanguage.googleapis.com",
         "bedrock": "https://bedrock-runtime.us-east-1.amazonaws.com",
         "bedrock_anthropic": "https://bedrock-runtime.us-east-1.amazonaws.com",
         "vertex_gemini": "https://us-east5-aiplatform.googleapis.com",
         "vertex_anthropic": "https://us-east5-aiplatform.googleapis.com"}


def test_registry_names_are_the_config_wire_formats() -> None:
    assert sorted(ADAPTERS) == sorted(WIRE_FORMATS)
    assert set(BASES) == set(WIRE_FORMATS)  # this file's table covers every format too


@pytest.mark.parametrize("fmt", WIRE_FORMATS)
def test_adapter_satisfies_chat_protocol(fmt: str) -> None:
    adapter = adapter_for(fmt)
    assert isinstance(adapter, ChatAdapter)
    assert adapter.name == fmt
    assert isinstance(adapter.capabilities, Capabilities)
    params = {name: list(inspect.signature(getattr(adapter, name)).parameters)
              for name in ("to_upstream", "from_upstream", "error_from_upstream")}
    assert params == {"to_upstream": ["chat", "dep", "stream"], "from_upstream": ["data", "dep"],
                      "error_from_upstream": ["status", "data", "headers"]}
    decoder = adapter.StreamDecoder(deployment(fmt, "m", BASES[fmt]), False)
    assert isinstance(decoder, StreamDecoder)
    assert decoder.done is False and decoder.usage.reported is False


@pytest.mark.parametrize("fmt", WIRE_FORMATS)
def test_capabilities_are_what_the_adapter_does(fmt: str) -> None:
    """`embeddings` is declared exactly when the adapter has the embeddings half of the contract;
    `n_choices` exactly when `to_upstream` takes n > 1."""
    adapter = adapter_for(fmt)
    dep = deployment(fmt, "m", BASES[fmt])
    assert adapter.capabilities.embeddings == isinstance(adapter, EmbeddingsAdapter)
    if adapter.capabilities.embeddings:
        assert isinstance(adapter, EmbeddingsAdapter)
        # Bedrock picks the body by the model's vendor: an embedding model's id
        embedder = deployment(fmt, "amazon.titan-embed-text-v2:0", BASES[fmt]) if fmt == "bedrock" else dep
        req = adapter.embeddings_to_upstream({"model": "m", "input": "hello"}, embedder)
        assert req.url.startswith(BASES[fmt])
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    try:
        adapter.to_upstream(chat, dep, False)
        took_n = True
    except GatewayError as err:
        assert err.param == "n"
        took_n = False
    assert adapter.capabilities.n_choices == took_n


def test_unknown_format_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="vertex"):
        adapter_for("vertex")
