"""Bedrock embeddings alone (`format: bedrock`, InvokeModel): the body by the model id's vendor
(Titan, Cohere), what each cannot take as a 400, and usage from Titan's body or Bedrock's
token-count header."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.providers import adapter_for
from tests.providers.helpers import deployment

BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
ADAPTER = adapter_for("bedrock")


def dep(model: str) -> Any:
    return deployment("bedrock", model, BASE, api_key="brk-key")


def sent(model: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    req = ADAPTER.embeddings_to_upstream({"model": "e", **body}, dep(model))
    assert req.headers["authorization"] == "Bearer brk-key"
    return req.url, orjson.loads(req.body)


def test_titan_v2_one_text_with_dimensions() -> None:
    url, body = sent("amazon.titan-embed-text-v2:0", {"input": ["the sea"], "dimensions": 256, "user": "u1"})
    assert url == f"{BASE}/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert body == {"inputText": "the sea", "normalize": True, "dimensions": 256}
    assert sent("amazon.titan-embed-text-v1", {"input": "x"})[1] == {"inputText": "x"}


@pytest.mark.parametrize("model, body, param", [
    ("amazon.titan-embed-text-v2:0", {"input": ["a", "b"]}, "input"),  # one text per call
    ("amazon.titan-embed-text-v2:0", {"input": "a", "dimensions": 300}, "dimensions"),
    ("amazon.titan-embed-text-v1", {"input": "a", "dimensions": 256}, "dimensions"),
    ("amazon.titan-embed-text-v2:0", {"input": [1, 2, 3]}, "input"),  # token ids
    ("cohere.embed-english-v3", {"input": ["x"] * 97}, "input"),
    ("cohere.embed-english-v3", {"input": "x", "dimensions": 512}, "dimensions"),
    ("cohere.embed-english-v3", {"input": "x", "input_type": "poetry"}, "input_type"),
    ("meta.llama3-8b-instruct-v1:0", {"input": "x"}, "model"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", {"input": "x"}, "model"),
])
def test_what_a_model_cannot_take_is_a_400_naming_it(model: str, body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        ADAPTER.embeddings_to_upstream({"model": "e", **body}, dep(model))
    assert info.value.status == 400 and info.value.param == param


def test_titans_limit_says_what_to_do() -> None:
    with pytest.raises(GatewayError, match="one text per request; got 2"):
        ADAPTER.embeddings_to_upstream({"model": "e", "input": ["a", "b"]}, dep("amazon.titan-embed-text-v2:0"))


def test_cohere_many_texts_input_type_and_v4_dimensions() -> None:
    url, body = sent("cohere.embed-multilingual-v3", {"input": ["a", "b"]})
    assert url.endswith("/model/cohere.embed-multilingual-v3/invoke")
    assert body == {"texts": ["a", "b"], "input_type": "search_document"}
    assert sent("cohere.embed-english-v3", {"input": "q", "input_type": "search_query"})[1]["input_type"] == "search_query"
    _, body = sent("us.cohere.embed-v4:0", {"input": "a", "dimensions": 512})
    assert body["output_dimension"] == 512
    arn = "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-english-v3"
    assert sent(arn, {"input": "a"})[0] == f"{BASE}/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fcohere.embed-english-v3/invoke"


def test_titan_answer_usage_from_its_body() -> None:
    answer = {"embedding": [0.6, 0.8], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.6, 0.8]}}
    out, usage = ADAPTER.embeddings_from_upstream(orjson.dumps(answer), dep("amazon.titan-embed-text-v2:0"), "float",
                                                  {"x-amzn-bedrock-input-token-count": "99"})
    assert out["data"] == [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}]
    assert out["model"] == "amazon.titan-embed-text-v2:0" and out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert usage.prompt_tokens == 3 and usage.reported


def test_cohere_answer_usage_from_bedrocks_header_and_base64() -> None:
    answer = {"id": "e1", "embeddings": [[0.5, -0.5], [1.0, 0.0]], "response_type": "embeddings_floats",
              "texts": ["a", "b"]}
    out, usage = ADAPTER.embeddings_from_upstream(orjson.dumps(answer), dep("cohere.embed-english-v3"), "base64",
                                                  {"x-amzn-bedrock-input-token-count": "7"})
    vectors = [struct.unpack("<2f", base64.b64decode(d["embedding"])) for d in out["data"]]
    assert vectors == [(0.5, -0.5), (1.0, 0.0)] and usage.prompt_tokens == 7 and usage.reported
    v4 = {"id": "e2", "embeddings": {"float": [[0.1, 0.2]]}, "response_type": "embeddings_by_type"}
    out, usage = ADAPTER.embeddings_from_upstream(orjson.dumps(v4), dep("cohere.embed-v4:0"), "float", {})
    assert len(out["data"]) == 1 and not usage.reported  # no header: the gateway charges its own bound


@pytest.mark.parametrize("model, answer", [
    ("amazon.titan-embed-text-v2:0", {"inputTextTokenCount": 3}),
    ("cohere.embed-english-v3", {"embeddings": {"int8": [[1]]}}),
    ("cohere.embed-english-v3", [1, 2]),
])
def test_a_body_without_vectors_is_malformed(model: str, answer: Any) -> None:
    with pytest.raises(ValueError):
        ADAPTER.embeddings_from_upstream(orjson.dumps(answer), dep(model), "float", {})
