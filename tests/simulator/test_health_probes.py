"""Every adapter's health probe (the housekeeper's GET) against the simulator, which implements
each listing apart from the adapters: a 2xx with good credentials, a 4xx (neutral) without.
boto3 checks the simulator's ListAsyncInvokes, the one Bedrock listing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import boto3
import httpx2 as httpx
import pytest
from botocore.config import Config

from gateway.config.model import AwsAuth
from gateway.ops.housekeeping import probe_outcome
from gateway.providers.registry import ADAPTERS
from tests.providers.helpers import deployment

CREDENTIALS = {"bedrock": AwsAuth("us-east-1", "AKIDSIM", "sim-secret")}
BEDROCK = ("bedrock", "bedrock_anthropic")  # one service: a Bedrock API key or SigV4 alike


def provider_for(fmt: str, url: str, api_key: str | None) -> Any:
    base = url + "/v1" if fmt in ("openai", "openai_responses") else url  # as configured: OpenAI's base names its version
    provider = deployment(fmt, "m", base, api_key=api_key, api_version="2024-10-21").provider
    if fmt in BEDROCK and api_key is None:
        provider = replace(provider, aws=CREDENTIALS["bedrock"])
    return provider


def keyless(fmt: str, url: str) -> Any:
    return replace(provider_for(fmt, url, None), aws=None)


@pytest.mark.parametrize("fmt", sorted(ADAPTERS))
def test_the_probe_reaches_a_listing_and_counts_as_success(sim: SimServer, fmt: str) -> None:
    adapter = ADAPTERS[fmt]
    for api_key in ("sim-key", None) if fmt in BEDROCK else ("sim-key",):
        target = adapter.health_probe(provider_for(fmt, sim.url, api_key))
        assert target is not None, f"{fmt} has no health probe"
        url, headers = target
        resp = httpx.get(url, headers=headers, timeout=10)
        assert resp.status_code == 200, (fmt, url, resp.text)
        assert probe_outcome(resp.status_code) == "success"


@pytest.mark.parametrize("fmt", ["openai", "openai_responses", "azure", "anthropic", "gemini", "bedrock",
                                 "bedrock_anthropic", "vertex_gemini"])
def test_a_probe_without_credentials_is_refused_and_tells_nothing(sim: SimServer, fmt: str) -> None:
    url, headers = ADAPTERS[fmt].health_probe(keyless(fmt, sim.url)) or ("", {})
    resp = httpx.get(url, headers=headers, timeout=10)
    assert resp.status_code in (401, 403)
    assert probe_outcome(resp.status_code) == "neutral"


def test_boto3_lists_async_invokes_from_the_simulator(sim: SimServer) -> None:
    client = boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                          aws_access_key_id="AKIDSIM", aws_secret_access_key="sim-secret",
                          config=Config(retries={"max_attempts": 1}))
    page = client.list_async_invokes(maxResults=1)
    assert page["asyncInvokeSummaries"] == [] and page["ResponseMetadata"]["HTTPStatusCode"] == 200
