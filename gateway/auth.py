"""Gateway API keys: stored as SHA-256 digests, presented as `Authorization: Bearer <key>`,
`x-api-key: <key>` (what Anthropic SDKs and Claude Code send), `api-key: <key>` (Azure OpenAI's) or
`x-goog-api-key: <key>` (google-genai's and Gemini CLI's; the Gemini endpoints also move a `?key=`
query parameter there).

The presented key is hashed, the digest looked up, and the match confirmed with a constant-time
comparison; the plain key is never stored, logged or compared byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

from gateway.config import AdminKey, ApiKey
from gateway.errors import GatewayError, unauthorized


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in a request's (lower-cased) headers: a Bearer token first, then `x-api-key`,
    `api-key`, `x-goog-api-key`, so every client SDK authenticates with its own habit."""
    token = bearer_token(headers.get("authorization"))
    if token is None:
        token = (headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")
                 or "").strip() or None
    return token


_KEY_HINTS = {  # where each API's SDKs send the key (gateway.inbound names start with the API)
    "anthropic": "Missing API key: send it in an 'x-api-key' header (or as 'Authorization: Bearer <key>').",
    "gemini": "Missing API key: send it in an 'x-goog-api-key' header or a '?key=' query parameter.",
}
# One message for every key that opens no model endpoint, the admin key included: telling the
# admin key apart would answer admin-key guesses here, where admin.failures_* does not limit them.
INVALID_KEY = ("Invalid API key. Model endpoints take a virtual key (POST /admin/keys or 'gateway keys create' "
               "makes one); an admin key opens only the admin API and the dashboard.")


def missing_key(api: str = "") -> GatewayError:
    """The 401 for a request without a key, naming the header of the client's API (`openai.chat`,
    `anthropic.messages`, `gemini.generate_content`...)."""
    hint = _KEY_HINTS.get(api.partition(".")[0])
    return unauthorized(hint) if hint else unauthorized()


class Authenticator:
    def __init__(self, keys: tuple[ApiKey, ...], admin_sha256: bytes | None = None,
                 admin_keys: tuple[AdminKey, ...] = ()) -> None:
        self._by_digest = {k.sha256: k for k in keys}
        self._admin = admin_sha256
        # every admin key: (digest, name, scope); admin_key_sha256 is the write key "admin"
        self._admins = tuple((k.sha256, k.name, k.scope) for k in admin_keys)
        if admin_sha256 is not None:
            self._admins += ((admin_sha256, "admin", "write"),)
        # Accepted keys seen recently, so a busy key is hashed once, not per request. Only keys
        # that matched a configured digest get in (an attacker's guesses never fill it), and the
        # values are the key records, which hold no secret.
        self._seen: dict[str, ApiKey] = {}

    def named(self, name: str) -> ApiKey | None:
        """The config file's key called `name` (a batch runs as the key that created it)."""
        return next((k for k in self._by_digest.values() if k.name == name), None)

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key record of an `Authorization` header's Bearer token, or a 401."""
        return self.key_for(bearer_token(authorization))

    def authenticate_headers(self, headers: Mapping[str, str]) -> ApiKey:
        """The key record of the key a request presents in any accepted header, or a 401."""
        return self.key_for(presented_key(headers))

    def key_for(self, token: str | None) -> ApiKey:
        """Return the key record or raise a 401 (each API's handler writes it in its format)."""
        if token is None:
            raise unauthorized()
        key = self._seen.get(token)
        if key is not None:
            return key
        digest = key_digest(token)
        key = self._by_digest.get(digest)
        if key is None or not hmac.compare_digest(key.sha256, digest):
            raise unauthorized(INVALID_KEY)
        if len(self._seen) >= 1024:
            self._seen.clear()
        self._seen[token] = key
        return key

    def admin_matches(self, authorization: str | None) -> bool:
        """Whether `authorization` carries an admin key; 403 when no admin key is configured.
        Callers count failures (gateway.ops.admin_auth): use AdminGuard.check, not this alone."""
        return self.admin_key(authorization) is not None

    def admin_key(self, authorization: str | None) -> tuple[str, str] | None:
        """(name, scope) of the admin key `authorization` carries, else None; every configured
        digest is compared, in constant time, so the answer's timing tells nothing."""
        if not self._admins:
            raise GatewayError(403, "The admin API is disabled: set admin_key_sha256 in the config.",
                               "permission_error", "admin_disabled")
        token = bearer_token(authorization)
        digest = key_digest(token) if token is not None else b"\0" * 32
        found = None
        for sha, name, scope in self._admins:
            if hmac.compare_digest(digest, sha) and token is not None:
                found = (name, scope)
        return found

    def authenticate_admin(self, authorization: str | None) -> None:
        if not self.admin_matches(authorization):
            raise unauthorized("Invalid or missing admin key.")
