"""The simulator's Bedrock InvokeModel, driven by the official SDKs: the anthropic SDK's
`AnthropicBedrock` client (SigV4 through boto3, or a Bedrock API key; its own event-stream decoder)
for Claude, and boto3's `invoke_model` / `invoke_model_with_response_stream` for Claude, Titan
and Cohere embeddings."""

from __future__ import annotations

import json
import math
from typing import Any
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import anthropic
import boto3
import pytest
from botocore.config import Config

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ASK = [{"role": "user", "content": "Tell me about rivers and oceans."}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"


@pytest.fixture
def claude(sim: SimServer) -> anthropic.AnthropicBedrock:
    return anthropic.AnthropicBedrock(base_url=sim.url, aws_access_key="AKIDSIM", aws_secret_key="sim-secret",
                                      aws_region="us-east-1", max_retries=0)


@pytest.fixture
def runtime(sim: SimServer) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                        aws_access_key_id="AKIDSIM", aws_secret_access_key="sim-secret",
                        config=Config(retries={"max_attempts": 1}))


def test_messages_create_and_stream_agree(claude: anthropic.AnthropicBedrock, sim: SimServer) -> None:
    msg = claude.messages.create(model=MODEL, max_tokens=100, system="Be brief.", messages=ASK)
    assert msg.stop_reason == "end_turn" and msg.content[0].type == "text" and len(msg.content[0].text.split()) == 16
    assert msg.usage.output_tokens == 16 and msg.usage.input_tokens > 0 and msg.id.startswith("msg_bdrk_")
    with claude.messages.stream(model=MODEL, max_tokens=100, system="Be brief.", messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == msg.content[0].text and final.usage.output_tokens == 16 and final.stop_reason == "end_turn"
    assert sim.stats()["by_format"] == {"bedrock_anthropic": 2}


def test_thinking_comes_back_signed_whole_and_streamed(claude: anthropic.AnthropicBedrock) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    msg = claude.messages.create(model=MODEL, max_tokens=2048, thinking=thinking, messages=ASK)
    first = msg.content[0]
    assert first.type == "thinking" and first.thinking and first.signature
    with claude.messages.stream(model=MODEL, max_tokens=2048, thinking=thinking, messages=ASK) as stream:
        final = stream.get_final_message()
    assert final.content[0].thinking == first.thinking and final.content[0].signature == first.signature
    assert final.content[-1].text == msg.content[-1].text
    with pytest.raises(anthropic.BadRequestError):  # the budget is checked as the API checks it
        claude.messages.create(model=MODEL, max_tokens=1000, thinking=thinking, messages=ASK)


def test_tools_and_betas_in_the_body(claude: anthropic.AnthropicBedrock) -> None:
    msg = claude.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], tool_choice={"type": "any"},
                                 messages=[{"role": "user", "content": "Weather in Oslo?"}])
    use = msg.content[0]
    assert msg.stop_reason == "tool_use" and use.name == "get_weather" and isinstance(use.input["city"], str)
    # the SDK moves the anthropic-beta header into the body's anthropic_beta list; the
    # simulator lets system turns into `messages` only under that beta
    turns: Any = [*ASK, {"role": "assistant", "content": "Rivers."}, {"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "More."}]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model=MODEL, max_tokens=50, messages=turns)
    beta = claude.messages.create(model=MODEL, max_tokens=50, messages=turns,
                                  extra_headers={"anthropic-beta": "mid-conversation-system-2025-01-01"})
    assert beta.content[0].text


def test_errors_and_a_bedrock_api_key(claude: anthropic.AnthropicBedrock, sim: SimServer) -> None:
    sim.knobs(MODEL, fail_status=429, retry_after_s=0)
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model=MODEL, max_tokens=50, messages=ASK)
    sim.knobs(MODEL, fail_status=None)
    keyed = anthropic.AnthropicBedrock(base_url=sim.url, api_key="bedrock-api-key", aws_region="us-east-1",
                                       max_retries=0)
    assert keyed.messages.create(model=MODEL, max_tokens=50, messages=ASK).content[0].text
    unsigned = sim.http.post(f"/model/{MODEL}/invoke", json={"anthropic_version": "bedrock-2023-05-31",
                                                             "max_tokens": 5, "messages": ASK})
    assert unsigned.status_code == 403 and unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_boto3_invoke_model_and_its_stream(runtime: Any) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": ASK})
    out = runtime.invoke_model(modelId=MODEL, body=body)
    msg = json.loads(out["body"].read())
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert msg["type"] == "message" and msg["usage"]["output_tokens"] == 16
    assert int(headers["x-amzn-bedrock-input-token-count"]) == msg["usage"]["input_tokens"]
    events = [json.loads(e["chunk"]["bytes"]) for e in
              runtime.invoke_model_with_response_stream(modelId=MODEL, body=body)["body"]]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"] and "ping" not in kinds
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == msg["content"][0]["text"]
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 16
    for wrong in ({"max_tokens": 5, "messages": ASK},  # no anthropic_version
                  {"anthropic_version": "bedrock-2023-05-31", "model": MODEL, "max_tokens": 5, "messages": ASK}):
        with pytest.raises(runtime.exceptions.ValidationException):
            runtime.invoke_model(modelId=MODEL, body=json.dumps(wrong))


def test_boto3_titan_and_cohere_embeddings(runtime: Any, sim: SimServer) -> None:
    out = runtime.invoke_model(modelId=TITAN, body=json.dumps({"inputText": "the sea", "dimensions": 256,
                                                               "normalize": True}))
    doc = json.loads(out["body"].read())
    assert len(doc["embedding"]) == 256 and doc["inputTextTokenCount"] == 2
    assert math.isclose(sum(v * v for v in doc["embedding"]), 1.0, rel_tol=1e-5)
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "2"
    out = runtime.invoke_model(modelId=COHERE, body=json.dumps({"texts": ["the sea", "a long river"],
                                                                "input_type": "search_document"}))
    doc = json.loads(out["body"].read())
    assert [len(v) for v in doc["embeddings"]] == [1024, 1024] and doc["texts"] == ["the sea", "a long river"]
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "5"
    for model, wrong in ((TITAN, {"inputText": "x", "dimensions": 300}), (TITAN, {"texts": ["x"]}),
                         (COHERE, {"texts": ["x"]})):
        with pytest.raises(runtime.exceptions.ValidationException):
            runtime.invoke_model(modelId=model, body=json.dumps(wrong))
    assert sim.stats()["by_format"] == {"bedrock": 5}
