"""The simulator's Bedrock Converse format, driven by the official AWS SDK (boto3): it signs with
SigV4, and parses the binary event stream (checking every CRC) and the error answers itself."""

from __future__ import annotations

import json
from typing import Any
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
MSGS = [{"role": "user", "content": [{"text": "Tell me about rivers and oceans."}]}]
SYSTEM = [{"text": "Be brief."}]
WEATHER = {"toolSpec": {"name": "get_weather", "description": "Weather for a city", "inputSchema": {"json": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}


def client_for(sim: SimServer, **creds: str) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}),
                        **(creds or {"aws_access_key_id": "AKIDSIM", "aws_secret_access_key": "sim-secret"}))


@pytest.fixture
def client(sim: SimServer) -> Any:
    return client_for(sim)


def test_converse_text_and_usage(client: Any, sim: SimServer) -> None:
    out = client.converse(modelId=MODEL, system=SYSTEM, messages=MSGS, inferenceConfig={"maxTokens": 100})
    text = out["output"]["message"]["content"][0]["text"]
    assert out["stopReason"] == "end_turn" and len(text.split()) == 16
    assert out["usage"]["outputTokens"] == 16 and out["usage"]["inputTokens"] > 0
    assert out["usage"]["totalTokens"] == out["usage"]["inputTokens"] + 16
    assert sim.stats()["by_format"] == {"bedrock": 1}
    again = client.converse(modelId=MODEL, system=SYSTEM, messages=MSGS, inferenceConfig={"maxTokens": 100})
    assert again["output"] == out["output"]  # deterministic


def test_converse_stream_is_the_same_answer(client: Any, sim: SimServer) -> None:
    whole = client.converse(modelId=MODEL, system=SYSTEM, messages=MSGS)
    events = list(client.converse_stream(modelId=MODEL, system=SYSTEM, messages=MSGS)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == whole["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"] == whole["usage"]


def test_tool_use_both_ways_and_cache_usage(client: Any, sim: SimServer) -> None:
    sim.knobs(MODEL, cache_ratio=0.5)
    ask = [{"role": "user", "content": [{"text": "Weather in Oslo?"}]}]
    out = client.converse(modelId=MODEL, messages=ask, toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}})
    use = out["output"]["message"]["content"][0]["toolUse"]
    assert out["stopReason"] == "tool_use" and use["name"] == "get_weather" and "city" in use["input"]
    assert out["usage"]["cacheReadInputTokens"] > 0
    events = list(client.converse_stream(modelId=MODEL, messages=ask,
                                         toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}})["stream"])
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    args = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert start["name"] == "get_weather" and json.loads(args) == use["input"]
    result = ask + [out["output"]["message"], {"role": "user", "content": [
        {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "18C"}]}}]}]
    final = client.converse(modelId=MODEL, messages=result, toolConfig={"tools": [WEATHER]})
    assert final["stopReason"] == "end_turn" and final["output"]["message"]["content"][0]["text"]


def test_errors_reach_the_sdk_as_bedrock_exceptions(client: Any, sim: SimServer) -> None:
    sim.knobs(MODEL, fail_status=429)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL, messages=MSGS)
    sim.knobs(MODEL, fail_status=None)
    with pytest.raises(client.exceptions.ValidationException):
        client.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])


def test_credentials_are_checked_for_their_shape(sim: SimServer) -> None:
    other = client_for(sim, aws_access_key_id="AKIDSIM", aws_secret_access_key="x")
    assert other.converse(modelId=MODEL, messages=MSGS)["stopReason"] == "end_turn"  # any secret signs validly
    resp = sim.http.post(f"/model/{MODEL}/converse", json={"messages": MSGS})
    assert resp.status_code == 403 and resp.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    forged = sim.http.post(f"/model/{MODEL}/converse", json={"messages": MSGS},
                           headers={"authorization": "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request"})
    assert forged.status_code == 403 and "Signature Version 4" in forged.json()["message"]
    bearer = sim.http.post(f"/model/{MODEL}/converse", json={"messages": MSGS},
                           headers={"authorization": "Bearer bedrock-api-key"})
    assert bearer.status_code == 200


def test_a_corrupt_stream_is_refused_by_the_sdk(client: Any, sim: SimServer) -> None:
    sim.knobs(MODEL, garbage_stream=True)
    with pytest.raises(ChecksumMismatch):
        list(client.converse_stream(modelId=MODEL, messages=MSGS)["stream"])
