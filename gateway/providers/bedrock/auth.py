"""Bedrock request authentication: a Bedrock API key as a bearer token, or AWS Signature V4.

SigV4 is computed here (hashlib/hmac, no SDK): it is pure arithmetic on the request, so the adapter
stays I/O-free; `tests/providers/test_bedrock_auth.py` checks it against botocore's own signer on
the same request and time. The signed headers are `host` (as the connection pool writes it: the
port only when it is not the scheme's default), `content-type`, `x-amz-date`, with temporary
credentials `x-amz-security-token`, and InvokeModel's `x-amzn-bedrock-guardrail*` / `-trace` headers
when the deployment has a guardrail; AWS ignores the headers a request carries unsigned.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

from gateway.config import Deployment, Provider

SERVICE = "bedrock"
ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def host_of(url: str) -> str:
    """The Host header value the pool sends for `url`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def canonical_uri(path: str) -> str:
    """The path as SigV4 wants it for every service but S3: each byte outside the unreserved set
    percent-encoded once more (a model id quoted in the URL, `%3A`, is signed as `%253A`)."""
    return quote(path or "/", safe="/~")


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def sign(method: str, url: str, headers: dict[str, str], body: bytes, *, region: str, access_key: str,
         secret_key: str, session_token: str | None = None, now: float | None = None,
         service: str = SERVICE) -> dict[str, str]:
    """`headers` plus `x-amz-date`, `x-amz-security-token` (with a session token) and
    `authorization`, for this exact method, URL and body at time `now` (the clock by default)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    date = stamp[:8]
    out = {k.lower(): v for k, v in headers.items()}
    out["x-amz-date"] = stamp
    if session_token:
        out["x-amz-security-token"] = session_token
    signed = {**out, "host": host_of(url)}
    names = sorted(signed)
    canonical_headers = "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names)
    signed_names = ";".join(names)
    parts = urlsplit(url)
    query = "&".join(sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, _, v in
                            (item.partition("=") for item in parts.query.split("&") if item)))
    canonical = "\n".join((method.upper(), canonical_uri(parts.path), query, canonical_headers, signed_names,
                           hashlib.sha256(body).hexdigest()))
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    signature = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_names}, " \
                           f"Signature={signature}"
    return out


def authorized(provider: Provider, method: str, url: str, headers: dict[str, str], body: bytes,
               unsigned: dict[str, str]) -> dict[str, str]:
    """`headers` with the API key as a bearer token, else a SigV4 signature over them (when the
    provider has neither, as for a local server, no authorization at all); then the `unsigned`
    ones and the provider's configured headers, which are not signed."""
    aws = provider.aws
    if provider.api_key:
        headers = {**headers, "authorization": "Bearer " + provider.api_key}
    elif aws is not None and aws.access_key_id and aws.secret_access_key:
        headers = sign(method, url, headers, body, region=aws.region, access_key=aws.access_key_id,
                       secret_key=aws.secret_access_key, session_token=aws.session_token)
    headers = {**headers, **unsigned}
    headers.update(provider.headers)
    return headers


def request_headers(dep: Deployment, url: str, body: bytes, accept: str,
                    signed: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of one Bedrock call (a JSON POST); `signed` ones (InvokeModel's guardrail
    headers) are part of the SigV4 signature, so nothing on the way can drop or change them."""
    return authorized(dep.provider, "POST", url, {"content-type": "application/json", **(signed or {})}, body,
                      {"accept": accept})
