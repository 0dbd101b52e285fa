"""The simulator's Vertex AI paths and token endpoint, driven by the official SDKs: google-genai's
Vertex client (Gemini), anthropic's AnthropicVertex (Claude), google-auth's service-account
credentials (the JWT-bearer grant) and its Compute Engine credentials (the metadata server)."""

from __future__ import annotations

from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)
from typing import Any

import anthropic
import google.auth.transport.requests
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google import genai
from google.genai import errors, types
from google.oauth2 import credentials as oauth_credentials
from google.oauth2 import service_account

PROJECT, LOCATION = "proj-1", "us-east5"
EMAIL = "gateway@proj-1.iam.gserviceaccount.com"
CLAUDE = "claude-sonnet-4-5@20250929"


@pytest.fixture(autouse=True)
def _lenient(sim: SimServer) -> None:
    assert sim.http.put("/_sim/vertex", json={}).status_code == 200  # no registered tokens: any is taken


def gemini(sim: SimServer, token: str = "ya29.static", creds: Any = None) -> genai.Client:
    creds = creds or oauth_credentials.Credentials(token=token)
    return genai.Client(vertexai=True, project=PROJECT, location=LOCATION, credentials=creds,
                        http_options=types.HttpOptions(base_url=sim.url,
                                                       retry_options=types.HttpRetryOptions(attempts=1)))


def claude(sim: SimServer, token: str = "ya29.static") -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(region=LOCATION, project_id=PROJECT, access_token=token,
                                     base_url=sim.url + "/v1", max_retries=0)


def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def account_info(sim: SimServer, private_pem: str) -> dict[str, str]:
    return {"type": "service_account", "project_id": PROJECT, "private_key_id": "k1", "private_key": private_pem,
            "client_email": EMAIL, "client_id": "1", "token_uri": sim.url + "/token"}


def test_gemini_on_vertex_with_google_genai(sim: SimServer) -> None:
    client = gemini(sim)
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    whole = client.models.generate_content(model="gemini-2.5-flash", contents="Tell me about rivers.", config=config)
    assert len(whole.text.split()) == 16 and whole.usage_metadata.candidates_token_count == 16
    pieces = client.models.generate_content_stream(model="gemini-2.5-flash", contents="Tell me about rivers.",
                                                   config=config)
    assert "".join(p.text or "" for p in pieces) == whole.text  # the same answer, streamed
    stats = sim.stats()
    assert stats["by_format"] == {"vertex_gemini": 2} and stats["streams"] == {"gemini-2.5-flash": 1}


def test_claude_on_vertex_with_anthropic_vertex(sim: SimServer) -> None:
    client = claude(sim)
    msg = client.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Hello there"}])
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 16
    with client.messages.stream(model=CLAUDE, max_tokens=64,
                                messages=[{"role": "user", "content": "Hello there"}]) as stream:
        text = "".join(stream.text_stream)
    assert text == msg.content[0].text
    assert sim.stats()["by_format"] == {"vertex_anthropic": 2}


def test_claude_on_vertex_refuses_an_anthropic_api_body(sim: SimServer) -> None:
    url = f"{sim.url}/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models/{CLAUDE}:rawPredict"
    body = {"model": CLAUDE, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    resp = sim.http.post(url, json=body, headers={"authorization": "Bearer t"})
    assert resp.status_code == 400 and "anthropic_version" in resp.text
    resp = sim.http.post(url, json={**body, "anthropic_version": "vertex-2023-10-16"},
                         headers={"authorization": "Bearer t"})
    assert resp.status_code == 400 and "model: Extra inputs" in resp.text


def test_registered_tokens_are_checked(sim: SimServer) -> None:
    assert sim.http.put("/_sim/vertex", json={"tokens": ["ya29.good"]}).status_code == 200
    good, bad = gemini(sim, "ya29.good"), gemini(sim, "ya29.bad")  # held: a genai.Client closes when collected
    assert good.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    with pytest.raises(errors.ClientError) as err:
        bad.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"
    with pytest.raises(anthropic.AuthenticationError):
        claude(sim, "ya29.bad").messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "hi"}])


def test_service_account_token_from_google_auth_opens_vertex(sim: SimServer) -> None:
    private, public = key_pair()
    assert sim.http.put("/_sim/vertex", json={"service_accounts": {EMAIL: public}, "token_ttl_s": 600}).status_code == 200
    creds = service_account.Credentials.from_service_account_info(
        account_info(sim, private), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())  # google-auth signs the JWT and exchanges it
    assert creds.token.startswith("ya29.sim-") and creds.expiry is not None
    client = gemini(sim, creds=creds)
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert sim.http.get("/_sim/vertex").json()["grants"] == 1


def test_metadata_server_token_from_google_auth_opens_vertex(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth's Compute Engine credentials (what GKE workload identity gives a pod) read the
    simulator's metadata server: who the account is, then a token Vertex takes."""
    from google.auth import compute_engine
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", sim.url.removeprefix("http://"))
    assert sim.http.put("/_sim/vertex", json={"tokens": ["ya29.only-this-static-one"]}).status_code == 200
    creds = compute_engine.Credentials()
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token.startswith("ya29.sim-") and creds.service_account_email == EMAIL
    assert gemini(sim, creds=creds).models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert sim.http.get("/_sim/vertex").json()["metadata_grants"] == 1
    refused = sim.http.get("/computeMetadata/v1/instance/service-accounts/default/token")
    assert refused.status_code == 403 and refused.headers["metadata-flavor"] == "Google"


def test_token_endpoint_refuses_a_jwt_signed_by_another_key(sim: SimServer) -> None:
    _, public = key_pair()
    other_private, _ = key_pair()
    sim.http.put("/_sim/vertex", json={"service_accounts": {EMAIL: public}})
    creds = service_account.Credentials.from_service_account_info(
        account_info(sim, other_private), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        creds.refresh(google.auth.transport.requests.Request())
    wrong_scope = service_account.Credentials.from_service_account_info(
        account_info(sim, key_pair()[0]) | {"client_email": "someone@else"}, scopes=["x"])
    with pytest.raises(google.auth.exceptions.RefreshError, match="unknown service account"):
        wrong_scope.refresh(google.auth.transport.requests.Request())
    assert sim.http.get("/_sim/vertex").json()["refused_grants"] == 2


def test_embeddings_on_vertex_with_google_genai(sim: SimServer) -> None:
    client = gemini(sim)
    out = client.models.embed_content(model="text-embedding-005", contents=["the sea", "a river"],
                                      config=types.EmbedContentConfig(output_dimensionality=8))
    assert [len(e.values) for e in out.embeddings] == [8, 8]
    assert out.embeddings[0].values != out.embeddings[1].values
    assert out.embeddings[0].statistics.token_count == 2  # ceil(7 chars / 4)
    again = client.models.embed_content(model="text-embedding-005", contents="the sea",
                                        config=types.EmbedContentConfig(output_dimensionality=8))
    assert again.embeddings[0].values == out.embeddings[0].values  # deterministic
