"""Errors in the OpenAI format, with the status an OpenAI client expects.

Every failure a client sees goes through `GatewayError`, so the body is always
`{"error": {"message", "type", "param", "code"}}` and the `openai` SDK raises the matching class.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gateway.observe.log import FIELD_LIMIT, clip

MESSAGE_LIMIT = 1024  # an error message's characters: ours plus a clipped value or a provider's text


def shown(value: Any, limit: int = FIELD_LIMIT) -> str:
    """A client's value as an error message quotes it: repr (quotes, escaped control
    characters), cut to `limit` characters with a marker."""
    return clip(repr(value), limit)


class GatewayError(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        if len(message) > MESSAGE_LIMIT:  # a provider's text, or a value not clipped where it was quoted
            message = clip(message, MESSAGE_LIMIT)
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = clip(code) if code and len(code) > FIELD_LIMIT else code  # a provider's code
        self.param = clip(param) if param and len(param) > FIELD_LIMIT else param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(orjson.dumps(self.body()), status_code=self.status, media_type="application/json",
                        headers={**self.headers, **(headers or {})})


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)


def unauthorized(message: str = "Invalid or missing API key. Send it as 'Authorization: Bearer <key>' "
                                 "(or in an 'x-api-key' or 'api-key' header).") -> GatewayError:
    return GatewayError(401, message, "authentication_error", "invalid_api_key")


def forbidden(message: str) -> GatewayError:
    return GatewayError(403, message, "permission_error", "model_not_allowed", "model")


def model_not_found(model: str) -> GatewayError:
    return GatewayError(404, f"The model {shown(model)} does not exist. GET /v1/models lists the models and routes.",
                        "invalid_request_error", "model_not_found", "model")


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body is larger than the limit of {limit} bytes.", "invalid_request_error",
                        "request_too_large")


def rate_limited(message: str, retry_after_ms: int, code: str = "rate_limit_exceeded") -> GatewayError:
    seconds = max(1, -(-retry_after_ms // 1000))
    return GatewayError(429, message, "rate_limit_error", code,
                        headers={"retry-after": str(seconds), "retry-after-ms": str(max(0, retry_after_ms))})


def upstream_failed(status: int, message: str, code: str = "upstream_error") -> GatewayError:
    """502 (bad upstream answer), 503 (nothing available) or 504 (deadline) after all fallbacks."""
    type_ = {502: "upstream_error", 503: "service_unavailable", 504: "timeout"}.get(status, "upstream_error")
    return GatewayError(status, message, type_, code)


def sse_error(err: GatewayError) -> bytes:
    """An error as one SSE event, for a stream whose 200 has already gone to the client."""
    return b"data: " + orjson.dumps(err.body()) + b"\n\n"
