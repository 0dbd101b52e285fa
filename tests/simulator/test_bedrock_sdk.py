"""The simulator's Bedrock Converse format, driven by the official AWS SDK (boto3): it signs with
SigV4, and parses the binary event stream (checking every CRC) and the error answers itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
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


THINK = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
LONG_SYSTEM = [{"text": "You answer questions about rivers. " * 400}, {"cachePoint": {"type": "default"}}]


def test_thinking_is_a_signed_reasoning_block_plain_and_streamed(client: Any) -> None:
    out = client.converse(modelId=MODEL, messages=MSGS, inferenceConfig={"maxTokens": 2048},
                          additionalModelRequestFields=THINK)
    first, answer = out["output"]["message"]["content"]
    thought = first["reasoningContent"]["reasoningText"]
    assert thought["text"] and len(thought["signature"]) == 64 and answer["text"]
    events = list(client.converse_stream(modelId=MODEL, messages=MSGS, inferenceConfig={"maxTokens": 2048},
                                         additionalModelRequestFields=THINK)["stream"])
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    reasoning = [d["delta"]["reasoningContent"] for d in deltas if d["contentBlockIndex"] == 0]
    assert "".join(r.get("text", "") for r in reasoning) == thought["text"]
    assert reasoning[-1] == {"signature": thought["signature"]}
    assert "".join(d["delta"]["text"] for d in deltas if d["contentBlockIndex"] == 1) == answer["text"]
    assert events[-1]["metadata"]["usage"] == out["usage"]


def test_thinking_with_tools_needs_the_signed_block_back(client: Any) -> None:
    ask = [{"role": "user", "content": [{"text": "Weather in Oslo?"}]}]
    tools = {"tools": [WEATHER]}
    sim_call = client.converse(modelId=MODEL, messages=ask, toolConfig=tools, inferenceConfig={"maxTokens": 2048},
                               additionalModelRequestFields=THINK)
    content = sim_call["output"]["message"]["content"]
    use = next(b["toolUse"] for b in content if "toolUse" in b)
    result = {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "4 C"}]}}]}
    kept = client.converse(modelId=MODEL, messages=[*ask, {"role": "assistant", "content": content}, result],
                           toolConfig=tools, inferenceConfig={"maxTokens": 2048}, additionalModelRequestFields=THINK)
    assert kept["stopReason"] in ("end_turn", "tool_use")
    bare = [b for b in content if "reasoningContent" not in b]
    forged = [{"reasoningContent": {"reasoningText": {"text": "edited", "signature": "0" * 64}}}, *bare]
    for history, message in ((bare, "must start with a thinking block"), (forged, "Invalid `signature`")):
        with pytest.raises(client.exceptions.ValidationException, match=message):
            client.converse(modelId=MODEL, messages=[*ask, {"role": "assistant", "content": history}, result],
                            toolConfig=tools, inferenceConfig={"maxTokens": 2048}, additionalModelRequestFields=THINK)


@pytest.mark.parametrize("extra, message", [
    ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal to 1024"),
    ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "must be greater than"),
])
def test_thinking_is_checked_as_claude_checks_it(client: Any, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(client.exceptions.ValidationException, match=message):
        client.converse(modelId=MODEL, messages=MSGS, inferenceConfig={"maxTokens": 2048},
                        additionalModelRequestFields=extra)
    with pytest.raises(client.exceptions.ValidationException, match="extraneous key"):
        client.converse(modelId="meta.llama3-70b-instruct-v1:0", messages=MSGS, additionalModelRequestFields=THINK)


def test_a_repeated_prefix_up_to_a_cache_point_is_read_from_the_cache(client: Any) -> None:
    first = client.converse(modelId=MODEL, system=LONG_SYSTEM, messages=MSGS)["usage"]
    assert first["cacheWriteInputTokens"] >= 1024 and "cacheReadInputTokens" not in first
    tools = {"tools": [WEATHER, {"cachePoint": {"type": "default"}}]}
    other = [{"role": "user", "content": [{"text": "And lakes?"}, {"cachePoint": {"type": "default", "ttl": "5m"}}]}]
    second = client.converse(modelId=MODEL, system=LONG_SYSTEM, messages=other, toolConfig=tools)["usage"]
    assert "cacheReadInputTokens" not in second  # the tools come first: another prefix
    third = client.converse(modelId=MODEL, system=LONG_SYSTEM, messages=MSGS)["usage"]
    assert third["cacheReadInputTokens"] == first["cacheWriteInputTokens"] and "cacheWriteInputTokens" not in third
    assert third["inputTokens"] == first["inputTokens"]
    assert third["inputTokens"] + third["cacheReadInputTokens"] + third["outputTokens"] == third["totalTokens"]
    short = client.converse(modelId=MODEL, system=[{"text": "Short."}, {"cachePoint": {"type": "default"}}],
                            messages=MSGS)["usage"]
    assert "cacheWriteInputTokens" not in short  # under the smallest cacheable prefix


@pytest.mark.parametrize("model, kwargs, message", [
    ("meta.llama3-70b-instruct-v1:0", {"system": LONG_SYSTEM}, "prompt caching"),
    (MODEL, {"system": [{"text": "x"}] + [{"cachePoint": {"type": "default"}}] * 5}, "maximum of 4"),
])
def test_cache_points_are_refused_where_bedrock_refuses_them(client: Any, model: str, kwargs: dict[str, Any],
                                                            message: str) -> None:
    with pytest.raises(client.exceptions.ValidationException, match=message):
        client.converse(modelId=model, **{"messages": MSGS, **kwargs})


def test_a_cache_point_inside_a_tool_result_is_refused(sim: SimServer) -> None:
    """botocore's own model refuses it before sending (cachePoint is no ToolResultContentBlock
    member); a hand-written request gets Bedrock's ValidationException."""
    body = {"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [
        {"cachePoint": {"type": "default"}}]}}]}]}
    request = urllib.request.Request(f"{sim.url}/model/{MODEL}/converse", json.dumps(body).encode(),
                                     {"authorization": "Bearer k", "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400 and info.value.headers["x-amzn-errortype"] == "ValidationException"
    assert "toolResult content block" in json.loads(info.value.read())["message"]
