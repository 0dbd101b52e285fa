"""Embeddings both ways for OpenAI(-compatible), Azure OpenAI and Gemini, float and base64."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.providers.azure import adapter as azure
from gateway.providers.openai import adapter as openai
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.gemini import adapter as gemini
from gateway.providers.embeddings import decode_base64, encode_base64
from tests.providers.helpers import deployment, golden_bytes

OPENAI = deployment("openai", "text-embedding-3-small", "https://api.openai.com/v1")
AZURE = deployment("azure", "my-embed-deployment", "https://res.openai.azure.com", api_version="2024-10-21")
GEMINI = deployment("gemini", "gemini-embedding-001", "https://generativelanguage.googleapis.com", api_key="AIza-k")

# The documented OpenAI embeddings response shape, with short vectors.
OPENAI_FLOAT = {"object": "list", "data": [
    {"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, -0.0028842222]},
    {"object": "embedding", "index": 1, "embedding": [0.5, -0.25, 1.0]}],
    "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}


def test_base64_is_little_endian_float32() -> None:
    text = encode_base64([1.0, -2.5])
    assert base64.b64decode(text) == struct.pack("<ff", 1.0, -2.5) == b"\x00\x00\x80?\x00\x00 \xc0"
    assert decode_base64(text) == [1.0, -2.5]


def test_openai_request_passthrough() -> None:
    body = {"model": "auto", "input": ["a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u"}
    req = openai.embeddings_to_upstream(body, OPENAI)
    assert req.url == "https://api.openai.com/v1/embeddings"
    assert req.headers["authorization"] == "Bearer sk-test-key"
    assert orjson.loads(req.body) == {**body, "model": "text-embedding-3-small"}


def test_azure_request() -> None:
    req = azure.embeddings_to_upstream({"model": "auto", "input": "hello", "dimensions": 64}, AZURE)
    assert req.url == "https://res.openai.azure.com/openai/deployments/my-embed-deployment/embeddings?api-version=2024-10-21"
    assert req.headers["api-key"] == "sk-test-key" and "authorization" not in req.headers
    assert orjson.loads(req.body) == {"input": "hello", "dimensions": 64}


@pytest.mark.parametrize("adapter,dep", [(openai, OPENAI), (azure, AZURE)])
def test_openai_response_float_and_base64(adapter, dep) -> None:
    body, usage = adapter.embeddings_from_upstream(orjson.dumps(OPENAI_FLOAT), dep, "float")
    assert body == OPENAI_FLOAT
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reported) == (8, 0, True)
    # the provider ignored encoding_format=base64: the gateway encodes
    body, _ = adapter.embeddings_from_upstream(orjson.dumps(OPENAI_FLOAT), dep, "base64")
    assert [decode_base64(d["embedding"]) for d in body["data"]] == \
        [pytest.approx(d["embedding"], rel=1e-6) for d in OPENAI_FLOAT["data"]]
    # the provider sent base64 and the client wants it: unchanged
    b64 = {**OPENAI_FLOAT, "data": [{**d, "embedding": encode_base64(d["embedding"])} for d in OPENAI_FLOAT["data"]]}
    body, _ = adapter.embeddings_from_upstream(orjson.dumps(b64), dep, "base64")
    assert body["data"] == b64["data"]


def test_openai_malformed() -> None:
    with pytest.raises(ValueError):
        openai.embeddings_from_upstream(b'{"object": "list"}', OPENAI, "float")


def test_gemini_single_input_uses_embed_content() -> None:
    req = gemini.embeddings_to_upstream({"model": "auto", "input": "What is the meaning of life?",
                                         "dimensions": 768, "encoding_format": "float"}, GEMINI)
    assert req.url == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001"
                       ":embedContent")
    assert req.headers["x-goog-api-key"] == "AIza-k"
    assert orjson.loads(req.body) == {"content": {"parts": [{"text": "What is the meaning of life?"}]},
                                      "outputDimensionality": 768}


def test_gemini_list_input_uses_batch() -> None:
    req = gemini.embeddings_to_upstream({"model": "auto", "input": ["a", "b"]}, GEMINI)
    assert req.url.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert orjson.loads(req.body) == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}}]}


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2], [3]], []])
def test_gemini_token_inputs_are_400(value) -> None:
    with pytest.raises(GatewayError) as info:
        gemini.embeddings_to_upstream({"model": "auto", "input": value}, GEMINI)
    assert info.value.status == 400


def test_gemini_responses_float_and_base64() -> None:
    body, usage = gemini.embeddings_from_upstream(golden_bytes("gemini/embed_content.json"), GEMINI, "float")
    assert body == {"object": "list", "data": [{"object": "embedding", "index": 0,
                                                "embedding": [0.015625, -0.5, 0.25, 1.0]}],
                    "model": "gemini-embedding-001", "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    assert not usage.reported  # Gemini does not count embedding tokens: the pipeline estimates
    body, _ = gemini.embeddings_from_upstream(golden_bytes("gemini/batch_embed_contents.json"), GEMINI, "base64")
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert [decode_base64(d["embedding"]) for d in body["data"]] == [[0.015625, -0.5, 0.25, 1.0], [-0.75, 0.125, 0.0, 2.5]]
    assert body["data"][0]["embedding"] == base64.b64encode(struct.pack("<4f", 0.015625, -0.5, 0.25, 1.0)).decode()


def test_gemini_malformed() -> None:
    for data in (b'{"embedding": {}}', b'{"nothing": 1}', b"[]"):
        with pytest.raises(ValueError):
            gemini.embeddings_from_upstream(data, GEMINI, "float")


def test_anthropic_has_no_embeddings() -> None:
    assert not hasattr(anthropic, "embeddings_to_upstream")
