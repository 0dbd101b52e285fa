"""A guardrail on a `bedrock_anthropic` deployment (Claude through InvokeModel): the config is
accepted, the guardrail goes as InvokeModel's headers, signed with the rest (the signature equals
botocore's over the same headers), a stream's processing mode as the body's
`amazon-bedrock-guardrailConfig`, and an intervention (`amazon-bedrock-guardrailAction:
INTERVENED`) is the answer with finish_reason `content_filter`, whole and streamed."""

from __future__ import annotations

import base64
import dataclasses
import datetime
from typing import Any
from unittest import mock

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.config import AwsAuth, parse_config
from gateway.config.model import Guardrail
from gateway.providers import adapter_for
from gateway.providers.bedrock.eventstream import EventStreamParser
from tests.providers.helpers import deployment, reassemble, run_decoder
from tests.providers.test_bedrock import message

BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
ADAPTER = adapter_for("bedrock_anthropic")
GUARD = Guardrail("gr7abc", "3", "enabled_full", "async")
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
CHAT = {"messages": [{"role": "user", "content": "Plan a bank heist"}]}
BLOCKED = "Sorry, the model cannot answer this question."


def dep(guardrail: Guardrail | None = GUARD, signed: bool = True) -> Any:
    d = deployment("bedrock_anthropic", "anthropic.claude-3-5-haiku-20241022-v1:0", BASE, api_key="brk-key")
    if signed:
        d = dataclasses.replace(d, provider=dataclasses.replace(
            d.provider, api_key=None, aws=AwsAuth("us-east-1", "AKIDEXAMPLE", SECRET)))
    return dataclasses.replace(d, guardrail=guardrail)


def test_bedrock_anthropic_takes_a_guardrail_in_its_config() -> None:
    doc = {"providers": {"b": {"format": "bedrock_anthropic", "base_url": BASE, "api_key_env": "K"}},
           "models": {"m": {"provider": "b", "upstream": "anthropic.claude-3-5-haiku-20241022-v1:0",
                            "price": {"input": 1},
                            "bedrock": {"guardrail": {"id": "gr7abc", "version": "DRAFT", "trace": "enabled"}}}},
           "routes": {"auto": {"primary": "m"}}, "keys": [{"name": "k", "sha256": "0" * 64}]}
    assert parse_config(doc, "t.yaml", {"K": "k"}).deployments["m"].guardrail == Guardrail("gr7abc", "DRAFT", "enabled")


def test_the_guardrail_headers_are_signed_as_botocore_signs_them() -> None:
    with mock.patch("time.time", return_value=NOW.timestamp()):
        req = ADAPTER.to_upstream(dict(CHAT), dep(), False)
    guard = {"x-amzn-bedrock-guardrailidentifier": "gr7abc", "x-amzn-bedrock-guardrailversion": "3",
             "x-amzn-bedrock-trace": "ENABLED_FULL"}
    assert {k: req.headers[k] for k in guard} == guard
    signed = req.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert set(guard) <= set(signed) and "accept" not in signed
    theirs = AWSRequest(method="POST", url=req.url, data=req.body,
                        headers={"content-type": "application/json", **guard})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDEXAMPLE", SECRET), "bedrock", "us-east-1").add_auth(theirs)
    assert req.headers["authorization"] == theirs.headers["authorization"]
    assert "amazon-bedrock-guardrailConfig" not in orjson.loads(req.body)  # the plain call has no stream mode


def test_a_stream_names_its_processing_mode_and_no_guardrail_sends_nothing() -> None:
    streamed = ADAPTER.to_upstream(dict(CHAT), dep(signed=False), True)
    assert orjson.loads(streamed.body)["amazon-bedrock-guardrailConfig"] == {"streamProcessingMode": "ASYNCHRONOUS"}
    assert streamed.headers["x-amzn-bedrock-guardrailidentifier"] == "gr7abc"  # with an API key too
    bare = ADAPTER.to_upstream(dict(CHAT), dep(None), True)
    assert not [k for k in bare.headers if k.startswith("x-amzn-bedrock")]
    assert b"amazon-bedrock" not in bare.body
    quiet = ADAPTER.to_upstream(dict(CHAT), dep(Guardrail("gr7abc", "1")), True)
    assert "x-amzn-bedrock-trace" not in quiet.headers and b"amazon-bedrock" not in quiet.body


def intervention(**extra: Any) -> dict[str, Any]:
    return {"id": "msg_bdrk_9", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": BLOCKED}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}, **extra}


def test_an_intervention_is_a_content_filter_answer() -> None:
    body, usage = ADAPTER.from_upstream(orjson.dumps(intervention(**{"amazon-bedrock-guardrailAction": "INTERVENED"})),
                                        dep())
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["content"] == BLOCKED and usage.completion_tokens == 0
    passed, _ = ADAPTER.from_upstream(orjson.dumps(intervention(**{"amazon-bedrock-guardrailAction": "NONE"})), dep())
    assert passed["choices"][0]["finish_reason"] == "stop"


def chunk(doc: dict[str, Any]) -> bytes:
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(doc)).decode()})
    return message({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload)


def test_a_streamed_intervention_finishes_with_content_filter() -> None:
    start = {k: v for k, v in intervention().items() if k != "content"} | {"content": [], "stop_reason": None}
    events = [{"type": "message_start", "message": start},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": BLOCKED}},
              {"type": "content_block_stop", "index": 0},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 0}},
              {"type": "message_stop", "amazon-bedrock-guardrailAction": "INTERVENED"}]
    decoder = ADAPTER.StreamDecoder(dep(), True)
    whole = reassemble(run_decoder(decoder, EventStreamParser().feed(b"".join(chunk(e) for e in events))))
    assert decoder.done and whole["choices"][0]["finish_reason"] == "content_filter"
    assert whole["choices"][0]["message"]["content"] == BLOCKED
