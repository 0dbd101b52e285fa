"""The simulator's Converse `requestMetadata` and `performanceConfig`, and InvokeModel's
`performanceConfigLatency` header, driven by boto3: accepted as the API takes them (and kept in
the invocation log of `/_sim/stats`), refused with a ValidationException otherwise (boto3's own
parameter validation off, as it checks neither patterns nor enums before sending)."""

from __future__ import annotations

import json
from typing import Any
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import boto3
import pytest
from botocore.config import Config

MODEL = "amazon.nova-lite-v1:0"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
MSGS = [{"role": "user", "content": [{"text": "Name a river."}]}]


@pytest.fixture
def client(sim: SimServer) -> Any:
    sim.reset()
    return boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
                        aws_access_key_id="AKIDSIM", aws_secret_access_key="sim-secret")


def test_metadata_and_latency_are_taken_logged_and_answered(client: Any, sim: SimServer) -> None:
    meta = {"team": "search", "user_id": "u-7@example.com", "note": ""}
    out = client.converse(modelId=MODEL, messages=MSGS, requestMetadata=meta,
                          performanceConfig={"latency": "optimized"})
    assert out["output"]["message"]["content"][0]["text"] and out["performanceConfig"] == {"latency": "optimized"}
    assert client.converse(modelId=MODEL, messages=MSGS)["performanceConfig"] == {"latency": "standard"}
    assert sim.stats()["invocation_log"] == [
        {"model": MODEL, "requestMetadata": meta, "latency": "optimized"},
        {"model": MODEL, "requestMetadata": None, "latency": None}]


@pytest.mark.parametrize("fields", [
    {"performanceConfig": {"latency": "fast"}},
    {"requestMetadata": {}},
    {"requestMetadata": {f"k{i}": "v" for i in range(17)}},
    {"requestMetadata": {"bad key!": "v"}},
    {"requestMetadata": {"k": 'say "hi"'}},
    {"requestMetadata": {"k": "v" * 257}},
    {"requestMetadata": {"k" * 257: "v"}},
])
def test_what_the_api_refuses_is_a_validation_exception(client: Any, sim: SimServer, fields: dict[str, Any]) -> None:
    with pytest.raises(client.exceptions.ValidationException):
        client.converse(modelId=MODEL, messages=MSGS, **fields)
    assert sim.stats()["invocation_log"] == []


def test_invoke_model_takes_the_latency_header(client: Any, sim: SimServer) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                       "messages": [{"role": "user", "content": "Name a river."}]})
    out = client.invoke_model(modelId=CLAUDE, body=body, performanceConfigLatency="optimized")
    assert json.loads(out["body"].read())["type"] == "message"
    assert sim.stats()["invocation_log"] == [{"model": CLAUDE, "requestMetadata": None, "latency": "optimized"}]
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=CLAUDE, body=body, performanceConfigLatency="fast")
