"""The Vertex service-account sign-in's pieces: the RS256 assertion (checked with cryptography and
the simulator's independent verifier) and the refresher's backoff when the endpoint is away."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.config import Provider, Vertex
from gateway.net.google_auth import SCOPE, TokenError, TokenRefresher, _grant, _token_request, signed_assertion
from gateway.net.upstream import Upstream
from gateway.simulator.vertex_format import VertexAuth, verify_assertion
from gateway.state.engine import free_port


def _account(tmp: Path, token_uri: str = "https://oauth2.googleapis.com/token") -> tuple[dict, str, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    account = {"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com", "private_key": private,
               "private_key_id": "kid-1", "token_uri": token_uri}
    path = tmp / "sa.json"
    path.write_text(json.dumps(account))
    return account, public, path


def _part(jwt: str, i: int) -> dict:
    seg = jwt.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def test_assertion_is_rs256_over_the_documented_claims(tmp_path: Path) -> None:
    account, public, _ = _account(tmp_path)
    now = int(time.time())
    jwt = signed_assertion(account, now)
    assert _part(jwt, 0) == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    assert _part(jwt, 1) == {"iss": account["client_email"], "scope": SCOPE, "aud": account["token_uri"],
                             "iat": now, "exp": now + 3600}
    head, claims, sig = jwt.split(".")
    key = serialization.load_pem_public_key(public.encode())
    key.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{claims}".encode(),
               padding.PKCS1v15(), hashes.SHA256())  # raises when the signature is wrong
    auth = VertexAuth()  # and the simulator's own reading of it agrees
    auth.accounts = {account["client_email"]: public}
    assert verify_assertion(jwt, auth, account["token_uri"], now) == account["client_email"]


def test_unreadable_key_says_so_without_the_key(tmp_path: Path) -> None:
    _, _, path = _account(tmp_path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n"}))
    with pytest.raises(TokenError, match="not a PEM RSA key") as err:
        _grant(str(path))
    assert "not a key" not in str(err.value)


async def test_refresher_backs_off_while_the_endpoint_is_away(tmp_path: Path) -> None:
    _, _, path = _account(tmp_path, token_uri=f"http://127.0.0.1:{free_port()}/token")  # nothing listens
    provider = Provider(name="v", format="vertex_gemini", base_url="http://127.0.0.1:1", api_key_env=None,
                        vertex=Vertex("p", "global", str(path)))
    upstream = Upstream()
    await upstream.start()
    try:
        refresher = TokenRefresher([provider], upstream)
        await refresher.start()
        assert provider.vertex.token.value == "" and refresher.failures["v"] == 1
        assert 0 < await refresher.refresh_due() <= 1.0  # retried in a second, then 2, 4 ... up to a minute
    finally:
        await upstream.close()


async def test_metadata_server_tokens_are_a_direct_get_with_the_flavor_header(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment never carries the metadata server's link-local call."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    provider = Provider(name="v", format="vertex_gemini", base_url="http://127.0.0.1:1", api_key_env=None,
                        vertex=Vertex("p", "global", metadata_host="169.254.169.254"))
    req, egress = await _token_request(provider)
    assert req.method == "GET" and req.body == b""
    assert req.url == "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
    assert req.headers["metadata-flavor"] == "Google" and egress.proxy == ""
    assert TokenRefresher([provider], Upstream()).providers == [provider]
