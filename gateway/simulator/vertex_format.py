"""Google Vertex AI, from the public docs: Gemini and Claude under a project and location, behind
an OAuth bearer token, plus the service-account token endpoint that issues such tokens.

- `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent` and
  `:streamGenerateContent` (also under `/v1beta1`, where google-genai's Vertex client posts):
  the Gemini API's body and answers.
- `.../publishers/google/models/{m}:predict` on an embedding model: `instances` of `content`.
- `.../publishers/anthropic/models/{m}:rawPredict` and `:streamRawPredict`: the Messages body
  without `model` and with `"anthropic_version": "vertex-2023-10-16"` (or a dated API version, which
  recent anthropic SDKs send); the Messages answers.
- `GET /v1/projects/{p}/locations/{l}/endpoints`: ListEndpoints, an empty page (the gateway's
  health probe).
- `GET /computeMetadata/v1/instance/service-accounts/default/token` (and `…/default/`): the
  metadata server of a GKE pod or Compute Engine machine, which hands out its service account's
  tokens to a request with `Metadata-Flavor: Google`.
- `POST /token`: the OAuth 2.0 JWT-bearer grant (RFC 7523) as Google's token endpoint takes it:
  an RS256 JWT signed by a service account's private key, checked against the public key
  registered for its `iss` (`PUT /_sim/vertex`), with `aud` this URL or Google's, the cloud-platform scope
  and an hour at most between `iat` and `exp`.

Tokens: until `PUT /_sim/vertex` registers static tokens or service accounts, any non-empty bearer
token is taken (as the other formats take any key); after, only those tokens and the unexpired
ones `/token` issued. Platform errors (a bad token, an unknown method) come in Google's shape.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any, Callable
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import anthropic_format, gemini_format
from .state import SimState
from .text import embedding, prompt_tokens
from .wire import BadRequest, json_response, read_json

PATH = re.compile(r"^(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/(?P<publisher>google|anthropic)"
                  r"/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
ANTHROPIC_VERSION = "vertex-2023-10-16"  # the documented one; recent anthropic SDKs send a dated API version
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # google-auth's `aud`, whatever the key's token_uri
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MAX_LIFETIME_S = 3600


class VertexAuth:
    """Who may call: static tokens, service accounts (email → public key PEM), issued tokens."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every token and account: lenient again."""
        self.tokens: set[str] = set()
        self.accounts: dict[str, str] = {}
        self.token_ttl_s = 3600
        self.issued: dict[str, float] = {}  # token → monotonic expiry
        self.grants = 0
        self.refused_grants = 0
        self.metadata_grants = 0

    def configure(self, doc: Any) -> None:
        if not isinstance(doc, dict) or set(doc) - {"tokens", "service_accounts", "token_ttl_s"}:
            raise ValueError("expected {tokens: [..], service_accounts: {email: public key PEM}, token_ttl_s: N}")
        self.tokens = set(doc.get("tokens") or ())
        self.accounts = dict(doc.get("service_accounts") or {})
        self.token_ttl_s = int(doc.get("token_ttl_s", self.token_ttl_s))

    def allows(self, token: str) -> bool:
        if not token:
            return False
        if not self.tokens and not self.accounts:
            return True
        expiry = self.issued.get(token)
        return token in self.tokens or (expiry is not None and expiry > time.monotonic())

    def describe(self) -> dict[str, Any]:
        return {"tokens": len(self.tokens), "service_accounts": sorted(self.accounts), "issued": len(self.issued),
                "grants": self.grants, "refused_grants": self.refused_grants, "metadata_grants": self.metadata_grants,
                "token_ttl_s": self.token_ttl_s}

    def issue(self) -> dict[str, Any]:
        access = "ya29.sim-" + secrets.token_urlsafe(24)
        self.issued[access] = time.monotonic() + self.token_ttl_s
        return {"access_token": access, "expires_in": self.token_ttl_s, "token_type": "Bearer"}


def _check(auth: VertexAuth) -> Callable[[Request], Response | None]:
    """Google's door, as gemini_format and anthropic_format take a request check."""
    def check(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if auth.allows(token):
            return None
        return gemini_format.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                        "token, login cookie or other valid authentication credential.")
    return check


def _claude_body(model: str) -> Callable[[Any], Any]:
    """Vertex's Messages body checked, then as the Anthropic API takes it (model from the path)."""
    def reshape(body: Any) -> Any:
        if not isinstance(body, dict):
            raise BadRequest("body: Input should be an object")
        version = body.get("anthropic_version")
        if version != ANTHROPIC_VERSION and not (isinstance(version, str) and DATED.match(version)):
            raise BadRequest(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
        if "model" in body:
            raise BadRequest("model: Extra inputs are not permitted")
        return {k: v for k, v in body.items() if k != "anthropic_version"} | {"model": model}
    return reshape


LOCATION = re.compile(r"^(?P<project>[^/]+)/locations/(?P<location>[^/]+)/endpoints$")


def list_endpoints(request: Request, auth: VertexAuth) -> Response:
    """GET `projects/{p}/locations/{l}/endpoints` (the gateway's health probe): the simulator
    deploys no endpoints, and an empty ListEndpointsResponse is `{}` in proto3's JSON."""
    if LOCATION.match(request.path_params["rest"]) is None:
        return gemini_format.error(404, f"Unknown Vertex path {request.url.path}")
    refused = _check(auth)(request)
    if refused is not None:
        return refused
    size = request.query_params.get("pageSize", "0")
    if not size.isdigit():
        return gemini_format.error(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{size}\"")
    return json_response({})


async def dispatch(request: Request, state: SimState, auth: VertexAuth) -> Response:
    """Route `projects/{p}/locations/{l}/publishers/{pub}/models/{m}:{method}`."""
    match = PATH.match(request.path_params["rest"])
    if match is None:
        return gemini_format.error(404, f"Unknown Vertex path {request.url.path}")
    model, method, check = match["model"], match["method"], _check(auth)
    if match["publisher"] == "google" and method in ("generateContent", "streamGenerateContent"):
        return await gemini_format.generate(request, state, model, method == "streamGenerateContent", check,
                                            "vertex_gemini")
    if match["publisher"] == "google" and method == "predict":
        return await predict(request, state, model, check)
    if match["publisher"] == "anthropic" and method in ("rawPredict", "streamRawPredict"):
        return await anthropic_format.messages(request, state, _claude_body(model), check, "vertex_anthropic")
    return gemini_format.error(404, f"Method {method} is not found for {match['publisher']} models.")


async def predict(request: Request, state: SimState, model: str,
                  check: Callable[[Request], Response | None]) -> Response:
    """`:predict` on an embedding model: `{instances: [{content}], parameters: {outputDimensionality}}`
    → `{predictions: [{embeddings: {values, statistics: {token_count, truncated}}}]}`."""
    try:
        body = await read_json(request)
        instances = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(instances, list) or not instances:
            raise BadRequest("instances: at least one instance is required")
        if len(instances) > 1 and "gemini-embedding" in model:
            raise BadRequest(f"{model} takes one instance per request")
        texts = [i.get("content") if isinstance(i, dict) else None for i in instances]
        if not all(isinstance(t, str) and t for t in texts):
            raise BadRequest("instances[].content: a non-empty string is required")
        params = body.get("parameters") or {}
        dims = int(params.get("outputDimensionality") or 0)
    except (BadRequest, AttributeError, TypeError, ValueError) as exc:
        state.record_rejected(model, "vertex_gemini")
        return gemini_format.error(400, exc.message if isinstance(exc, BadRequest) else "Invalid parameters")
    knobs, fault = state.record(model, "vertex_gemini")
    denied = check(request)
    if denied is not None:
        return denied
    if fault is not None:
        return gemini_format.fault_response(fault)
    dims = dims or knobs.embedding_dim or (3072 if "gemini-embedding" in model else 768)
    predictions = [{"embeddings": {"values": list(embedding(state.seed, model, t, dims)),
                                   "statistics": {"token_count": prompt_tokens(len(t)), "truncated": False}}}
                   for t in texts]
    return json_response({"predictions": predictions,
                          "metadata": {"billableCharacterCount": sum(len(t) for t in texts)}})


# ------------------------------------------------------------------------------- token endpoint

def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(assertion: str, auth: VertexAuth, audience: str, now: float) -> str:
    """The service account's email when the JWT is good; ValueError saying why not."""
    from cryptography.exceptions import InvalidSignature  # the simulator's one use of it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    parts = assertion.split(".")
    if len(parts) != 3:
        raise ValueError("the assertion is not a JWT")
    try:
        header, claims = orjson.loads(_b64(parts[0])), orjson.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        raise ValueError("the assertion is not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise ValueError("only RS256-signed JWTs are accepted")
    pem = auth.accounts.get(str(claims.get("iss")))
    if pem is None:
        raise ValueError("unknown service account")
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError("Invalid JWT Signature.") from None
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 60 or exp <= now:
        raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
    if exp - iat > MAX_LIFETIME_S:
        raise ValueError("Invalid JWT: the token lives longer than an hour.")
    if claims.get("aud") not in (audience, GOOGLE_TOKEN_URI):
        raise ValueError(f"Invalid JWT audience: expected {audience}")
    if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
        raise ValueError("Invalid OAuth scope or ID token audience provided.")
    return str(claims["iss"])


async def token(request: Request, auth: VertexAuth) -> Response:
    """POST /token: a form-encoded JWT-bearer grant → an access token."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    if form.get("grant_type") != JWT_BEARER:
        auth.refused_grants += 1
        return json_response({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400)
    audience = str(request.url).split("?")[0]
    try:
        verify_assertion(form.get("assertion", ""), auth, audience, time.time())
    except ValueError as exc:
        auth.refused_grants += 1
        return json_response({"error": "invalid_grant", "error_description": str(exc)}, 400)
    auth.grants += 1
    return json_response(auth.issue())


METADATA_ACCOUNT = {"aliases": ["default"], "email": "gateway@proj-1.iam.gserviceaccount.com",
                    "scopes": [CLOUD_PLATFORM]}


def metadata(request: Request, auth: VertexAuth) -> Response:
    """The metadata server's service-account paths (GKE workload identity, Compute Engine):
    `…/service-accounts/default/` (who it is) and `…/default/token` (a token), only with the
    `Metadata-Flavor: Google` header, as the real one answers."""
    flavor = {"metadata-flavor": "Google"}
    if request.headers.get("metadata-flavor") != "Google":
        return Response("Missing required header: Metadata-Flavor", 403, flavor, media_type="text/plain")
    path = request.path_params["rest"]
    if path == "instance/service-accounts/default/token":
        auth.metadata_grants += 1
        return json_response(auth.issue(), headers=flavor)
    if path in ("instance/service-accounts/default", "instance/service-accounts/default/"):
        return json_response(METADATA_ACCOUNT, headers=flavor)
    return Response("Not Found", 404, flavor, media_type="text/plain")
