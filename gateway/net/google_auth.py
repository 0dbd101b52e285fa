"""Service-account sign-in for Vertex AI: each worker keeps an OAuth access token per provider
whose config names a key file or the metadata server, renewed in the background before it expires.

The grant is OAuth 2.0's JWT bearer (RFC 7523) as Google documents it for server-to-server
apps: a JWT `{iss: client_email, scope: cloud-platform, aud: token_uri, iat, exp <= iat + 1 h}`
signed RS256 with the key file's private key, posted form-encoded to the file's `token_uri`;
the answer's `access_token` lives `expires_in` seconds. The post goes through the gateway's own
HTTP client with the provider's egress (proxy, CA bundle), like its model calls. The key file is
read again at each renewal (a rotated key is picked up) and never logged; signing and the file
read run in a thread, off the event loop. No request waits for a token: the adapter reads the
last one from `provider.vertex.token` (gateway/config/model.py AccessToken).

With `metadata_server: true` the token is the machine's or pod's own service account's, from
`GET http://{host}/computeMetadata/v1/instance/service-accounts/default/token` with
`Metadata-Flavor: Google` (GKE workload identity, Compute Engine, Cloud Run), never through a proxy.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Iterable
from urllib.parse import urlencode

import orjson

from gateway.config import Provider
from gateway.config.vertex import read_service_account
from gateway.net.egress import Egress
from gateway.net.upstream import Upstream
from gateway.observe.log import get_logger
from gateway.providers import UpstreamError, UpstreamRequest
from gateway.providers.base import error_message

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIFETIME_S = 3600  # the longest assertion Google takes
RENEW_BEFORE_S = 300.0  # renew this long before expiry (half the lifetime for shorter tokens)
MAX_BACKOFF_S = 60.0
FIRST_WAIT_S = 10.0  # how long a starting worker waits for its first tokens
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
METADATA_EGRESS = Egress(proxy="")  # the metadata server is link-local: never through a proxy


class TokenError(Exception):
    """The token endpoint could not be reached or refused the grant; the message has no secret."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(account: dict[str, Any], now: int) -> str:
    """The JWT for the grant, signed RS256 with the account's private key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    header = {"alg": "RS256", "typ": "JWT", **({"kid": account["private_key_id"]} if account.get("private_key_id") else {})}
    claims = {"iss": account["client_email"], "scope": SCOPE, "aud": account["token_uri"],
              "iat": now, "exp": now + LIFETIME_S}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    try:
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise TokenError("the key file's private_key is not a PEM RSA key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenError("the key file's private_key is not an RSA key")
    return f"{signing_input}.{_b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def _grant(path: str) -> tuple[str, bytes]:
    """The token URI and the form body (blocking: the file read and the RSA signature)."""
    try:
        account = read_service_account(path)
    except ValueError as exc:
        raise TokenError(f"key file {path}: {exc}") from None
    body = urlencode({"grant_type": JWT_BEARER, "assertion": signed_assertion(account, int(time.time()))})
    return account["token_uri"], body.encode()


async def _token_request(provider: Provider) -> tuple[UpstreamRequest, Egress]:
    """The metadata server's GET, or the key file's signed grant."""
    vertex = provider.vertex
    assert vertex is not None and (vertex.credentials_file or vertex.metadata_host)
    if vertex.metadata_host:
        url = f"http://{vertex.metadata_host}{METADATA_TOKEN_PATH}"
        return UpstreamRequest(url, {"metadata-flavor": "Google", "accept": "application/json"}, b"", "GET"), \
            METADATA_EGRESS
    uri, body = await asyncio.to_thread(_grant, vertex.credentials_file or "")
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    return UpstreamRequest(uri, headers, body), provider.egress


async def fetch_token(upstream: Upstream, provider: Provider) -> tuple[str, float]:
    """A new access token and its lifetime in seconds; TokenError when there is none."""
    req, egress = await _token_request(provider)
    deadline = time.monotonic() + min(provider.timeouts.total_s, 30.0)
    opened = await upstream.open(req, provider.timeouts, deadline, egress)
    if isinstance(opened, UpstreamError):
        raise TokenError(f"token endpoint: {opened.message}")
    data = await upstream.read_body(opened, deadline, 1 << 16)
    if isinstance(data, UpstreamError):
        raise TokenError(f"token endpoint: {data.message}")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if opened.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
        said = doc.get("error_description") or doc.get("error") if isinstance(doc, dict) else None
        raise TokenError(f"token endpoint answered {opened.status}: {str(said or error_message(data)[0])[:200]}")
    expires_in = doc.get("expires_in")
    return doc["access_token"], float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 3600.0


class TokenRefresher:
    """One worker's service-account tokens: fetched at start, renewed before expiry, retried with
    a backoff (1 s doubling to a minute) while the endpoint fails; the last good token stays in
    use meanwhile (until it expires Vertex still takes it)."""

    def __init__(self, providers: Iterable[Provider], upstream: Upstream) -> None:
        self.providers = [p for p in providers
                          if p.vertex is not None and (p.vertex.credentials_file or p.vertex.metadata_host)]
        self.upstream = upstream
        self.due: dict[str, float] = {p.name: 0.0 for p in self.providers}  # monotonic time of the next try
        self.failures: dict[str, int] = {p.name: 0 for p in self.providers}
        self.log = get_logger("gateway.net.google_auth")

    async def refresh(self, provider: Provider) -> None:
        assert provider.vertex is not None
        now = time.monotonic()
        try:
            token, lifetime = await fetch_token(self.upstream, provider)
        except Exception as exc:  # any failure is retried; only our own messages are known to hold no secret
            self.failures[provider.name] += 1
            self.due[provider.name] = now + min(MAX_BACKOFF_S, 2.0 ** (self.failures[provider.name] - 1))
            self.log.warning("vertex_token_failed", provider=provider.name, failures=self.failures[provider.name],
                             error=str(exc) if isinstance(exc, TokenError) else type(exc).__name__)
            return
        provider.vertex.token.value, provider.vertex.token.expires_at = token, time.time() + lifetime
        self.failures[provider.name] = 0
        self.due[provider.name] = now + lifetime - min(RENEW_BEFORE_S, lifetime / 2)
        self.log.info("vertex_token_renewed", provider=provider.name, expires_in_s=round(lifetime))

    async def refresh_due(self) -> float:
        """Renew every token that is due; the seconds until the next one is."""
        now = time.monotonic()
        due = [p for p in self.providers if self.due[p.name] <= now]
        if due:
            await asyncio.gather(*(self.refresh(p) for p in due))
        return min(self.due.values(), default=now + 3600) - time.monotonic()

    async def start(self) -> None:
        """The first tokens before the worker serves (bounded wait; failures are retried later)."""
        if self.providers:
            with_timeout = asyncio.wait_for(self.refresh_due(), FIRST_WAIT_S)
            try:
                await with_timeout
            except asyncio.TimeoutError:
                self.log.warning("vertex_token_slow", waited_s=FIRST_WAIT_S)

    async def run_forever(self) -> None:
        while self.providers:
            wait = await self.refresh_due()
            await asyncio.sleep(min(max(wait, 0.5), 300.0))
