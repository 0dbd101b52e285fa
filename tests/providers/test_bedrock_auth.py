"""Our SigV4 signer (gateway/providers/bedrock/auth.py) against botocore's own `SigV4Auth` on the
same request and the same fixed time: the Authorization headers must be byte-for-byte equal."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.config import Deployment
from gateway.config.model import AwsAuth
from gateway.providers.bedrock import adapter
from gateway.providers.bedrock.auth import host_of, sign
from tests.providers.helpers import deployment

NOW = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
BODY = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'


def botocore_headers(url: str, body: bytes, region: str, token: str | None) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "bedrock",
                  region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize("url, region, token", [
    ("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
     "us-east-1", None),
    ("https://bedrock-runtime.eu-west-3.amazonaws.com/model/us.amazon.nova-lite-v1%3A0/converse-stream",
     "eu-west-3", "FQoGZXIvYXdzEXAMPLE//session+token=="),
    ("http://127.0.0.1:9100/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123%3Ainference-profile%2Fx/converse",
     "us-west-2", None),
])
def test_signature_equals_botocore(url: str, region: str, token: str | None) -> None:
    ours = sign("POST", url, {"content-type": "application/json"}, BODY, region=region, access_key="AKIDEXAMPLE",
                secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token=token, now=NOW.timestamp())
    theirs = botocore_headers(url, BODY, region, token)
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20260314T150926Z"
    assert ours["authorization"] == theirs["authorization"]
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")
    assert "host" not in ours  # the connection pool writes it, as signed
    assert "Credential=AKIDEXAMPLE/20260314/" + region + "/bedrock/aws4_request" in ours["authorization"]


def test_the_health_probe_get_is_signed_as_botocore_signs_it() -> None:
    """The housekeeper's GET /async-invoke: no body, a query string, the same signature as botocore's."""
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/async-invoke?maxResults=1"
    ours = sign("GET", url, {}, b"", region="us-east-1", access_key="AKIDEXAMPLE",
                secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now=NOW.timestamp())
    request = AWSRequest(method="GET", url=url, data=b"", headers={})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "bedrock",
                  "us-east-1").add_auth(request)
    assert ours["authorization"] == request.headers["authorization"]
    target = adapter.health_probe(_dep(None, AwsAuth("us-east-1", "AKID", "secret")).provider)
    assert target is not None and target[0].endswith("/async-invoke?maxResults=1")
    assert target[1]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")


def test_host_is_what_the_pool_sends() -> None:
    assert host_of("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse") == \
        "bedrock-runtime.us-east-1.amazonaws.com"
    assert host_of("https://h.example:443/x") == "h.example"
    assert host_of("http://127.0.0.1:9100/x") == "127.0.0.1:9100"


def _dep(api_key: str | None, aws: AwsAuth | None) -> Deployment:
    dep = deployment("bedrock", "anthropic.claude-3-haiku-20240307-v1:0",
                     "https://bedrock-runtime.us-east-1.amazonaws.com", api_key=api_key)
    provider = dep.provider.__class__(**{**{f: getattr(dep.provider, f) for f in dep.provider.__slots__},
                                         "aws": aws})
    return Deployment(**{**{f: getattr(dep, f) for f in dep.__slots__}, "provider": provider})


def test_the_adapter_sends_a_bearer_key_or_a_signature() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    bearer = adapter.to_upstream(chat, _dep("bedrock-api-key-123", AwsAuth("us-east-1")), False)
    assert bearer.headers["authorization"] == "Bearer bedrock-api-key-123"
    assert bearer.url.endswith("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    signed = adapter.to_upstream(chat, _dep(None, AwsAuth("us-east-1", "AKID", "secret", "tok")), True)
    auth = signed.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in auth
    assert signed.headers["x-amz-security-token"] == "tok"
    assert signed.headers["accept"] == "application/vnd.amazon.eventstream"
    assert signed.url.endswith("/converse-stream")
