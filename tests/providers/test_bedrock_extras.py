"""Converse's `requestMetadata` (from the client's metadata, what fits Bedrock's limits) and a
deployment's latency (`models.<name>.bedrock.latency`): Converse's `performanceConfig`,
InvokeModel's `X-Amzn-Bedrock-PerformanceConfig-Latency` header signed as botocore signs it,
and `gateway check-config` refusing a latency Bedrock does not know."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.cli import main as cli_main
from gateway.config import AwsAuth, ConfigError, parse_config
from gateway.providers import adapter_for
from tests.procs import config_yaml
from tests.providers.helpers import deployment

BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def converse(chat: dict[str, Any], latency: str | None = None) -> dict[str, Any]:
    dep = deployment("bedrock", "amazon.nova-lite-v1:0", BASE, api_key="brk-key")
    req = adapter_for("bedrock").to_upstream({**CHAT, **chat}, dataclasses.replace(dep, latency=latency), False)
    return orjson.loads(req.body)


def doc_with(bedrock: dict[str, Any], fmt: str = "bedrock") -> dict[str, Any]:
    doc = yaml.safe_load(config_yaml(9100, "t"))
    doc["providers"]["aws"] = {"format": fmt, "base_url": BASE, "api_key_env": "K"}
    doc["models"]["br"] = {"provider": "aws", "upstream": "anthropic.claude-3-5-haiku-20241022-v1:0",
                           "price": {"input": 1}, "bedrock": bedrock}
    return doc


# ------------------------------------------------------------------------------ requestMetadata

def test_the_clients_metadata_and_user_become_request_metadata() -> None:
    body = converse({"metadata": {"team": "search", "cost-center": "cc 42/eu"}, "user": "u-7@example.com"})
    assert body["requestMetadata"] == {"team": "search", "cost-center": "cc 42/eu", "user_id": "u-7@example.com"}


def test_a_metadata_user_id_wins_over_user_and_no_metadata_sends_none() -> None:
    assert converse({"metadata": {"user_id": "a"}, "user": "b"})["requestMetadata"] == {"user_id": "a"}
    assert "requestMetadata" not in converse({})
    assert "requestMetadata" not in converse({"metadata": {}})  # Bedrock refuses an empty map


def test_what_bedrock_would_refuse_is_left_out_not_failed() -> None:
    meta = {"ok": "fine", "bad key!": "x", "quote": 'say "hi"', "long": "v" * 257, "k" * 257: "v",
            "number": 3, "": "empty key", "unicodé": "x", "empty": "", "edge": "v" * 256,
            "chars": "a b\t:_@$#=/+,-."}
    body = converse({"metadata": meta, "user": "naïve"})
    assert body["requestMetadata"] == {"ok": "fine", "empty": "", "edge": "v" * 256, "chars": "a b\t:_@$#=/+,-."}


def test_at_most_sixteen_entries_in_the_clients_order() -> None:
    meta = {f"k{i:02}": str(i) for i in range(20)}
    sent = converse({"metadata": meta, "user": "u"})["requestMetadata"]
    assert list(sent) == [f"k{i:02}" for i in range(16)]


def test_metadata_that_is_not_an_object_is_ignored() -> None:
    assert "requestMetadata" not in converse({"metadata": ["a", "b"]})
    assert converse({"metadata": "x", "user": "u1"})["requestMetadata"] == {"user_id": "u1"}


# -------------------------------------------------------------------------------------- latency

def test_latency_goes_as_performance_config_on_converse() -> None:
    assert converse({}, "optimized")["performanceConfig"] == {"latency": "optimized"}
    assert converse({}, "standard")["performanceConfig"] == {"latency": "standard"}
    assert "performanceConfig" not in converse({})


def test_latency_is_an_invoke_model_header_signed_as_botocore_signs_it() -> None:
    d = deployment("bedrock_anthropic", "anthropic.claude-3-5-haiku-20241022-v1:0", BASE, api_key="brk-key")
    d = dataclasses.replace(d, latency="optimized", provider=dataclasses.replace(
        d.provider, api_key=None, aws=AwsAuth("us-east-1", "AKIDEXAMPLE", SECRET)))
    with mock.patch("time.time", return_value=NOW.timestamp()):
        req = adapter_for("bedrock_anthropic").to_upstream(dict(CHAT), d, False)
    assert req.headers["x-amzn-bedrock-performanceconfig-latency"] == "optimized"
    signed = req.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amzn-bedrock-performanceconfig-latency" in signed
    theirs = AWSRequest(method="POST", url=req.url, data=req.body,
                        headers={"content-type": "application/json",
                                 "X-Amzn-Bedrock-PerformanceConfig-Latency": "optimized"})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDEXAMPLE", SECRET), "bedrock", "us-east-1").add_auth(theirs)
    assert req.headers["authorization"] == theirs.headers["authorization"]
    assert b"performanceConfig" not in req.body and b"requestMetadata" not in req.body
    plain = adapter_for("bedrock_anthropic").to_upstream(dict(CHAT), dataclasses.replace(d, latency=None), False)
    assert "x-amzn-bedrock-performanceconfig-latency" not in plain.headers


@pytest.mark.parametrize("fmt", ["bedrock", "bedrock_anthropic"])
def test_the_config_takes_a_latency_next_to_a_guardrail(fmt: str) -> None:
    cfg = parse_config(doc_with({"latency": "optimized", "guardrail": {"id": "gr1", "version": 1}}, fmt),
                       "c.yaml", {"SIMULATOR_API_KEY": "k", "K": "k"})
    dep = cfg.deployments["br"]
    assert dep.latency == "optimized" and dep.guardrail is not None and dep.guardrail.version == "1"
    assert parse_config(doc_with({}, fmt), "c.yaml", {"SIMULATOR_API_KEY": "k", "K": "k"}).deployments["br"].latency \
        is None


def test_check_config_refuses_an_unknown_latency(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"models.br.bedrock.latency: .*expected one of \['standard', 'optimized'\]"):
        parse_config(doc_with({"latency": "fast"}), "c.yaml", {"SIMULATOR_API_KEY": "k", "K": "k"})
    monkeypatch.setenv("SIMULATOR_API_KEY", "k")
    monkeypatch.setenv("K", "k")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc_with({"latency": "fast"})))
    assert cli_main(["check-config", str(path)]) == 2
    assert "models.br.bedrock.latency" in capsys.readouterr().err
    path.write_text(yaml.safe_dump(doc_with({"latency": "optimized"})))
    assert cli_main(["check-config", str(path)]) == 0
