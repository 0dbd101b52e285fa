"""The Gemini API's paths: `POST /v1beta/models/{model}:{method}` and `/v1/models/...`.

The model and the method are in the path, so these are found by prefix (gateway.edge.asgi.HotPaths
tries prefixes only after the exact paths missed, so the other APIs pay nothing). `{model}` is a
route (`auto`, ...) or a configured model name. The key comes as `x-goog-api-key` (google-genai,
Gemini CLI) or `?key=` (Google's REST samples): the query value is moved into the headers the
pipeline reads, and no log line ever holds a query string.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from gateway.edge.asgi import EVENT_STREAM, EventStream, WholeReply, header_map
from gateway.errors import GatewayError, shown
from gateway.inbound.gemini import GeminiGenerate
from gateway.inbound.gemini.count import count_tokens
from gateway.inbound.gemini.embed import embeddings_api
from gateway.inbound.gemini.reply import error_body
from gateway.inbound.models import api_of, error_response
from gateway.pipeline.chat import chat_endpoint
from gateway.pipeline.embeddings import embeddings

PREFIXES = ("/v1beta/models/", "/v1/models/")
KEY_HEADER = "x-goog-api-key"
METHODS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")
_chat = chat_endpoint(GeminiGenerate())
JSON_HEAD = (b"content-type", b"application/json")


def _not_found(message: str) -> Response:
    err = GatewayError(404, message, "invalid_request_error", "unknown_url")
    return Response(error_body(err), 404, media_type="application/json")


def _no_method(request: Request, path: str) -> Response:
    """A POST of `/v1/models/{model}` without `:method`: a Gemini call gone wrong, or another
    SDK's client on the path its `models.retrieve` GETs, each answered in its own API's shape."""
    api = api_of(request)
    if api == "gemini":
        return _not_found(f"Unknown path {shown(path)}: expected /v1beta/models/{{model}}:{{method}}.")
    err = GatewayError(404, f"Unknown path: POST {shown(path)}. GET it to retrieve the model; a Gemini call is "
                       "POST /v1beta/models/{model}:{method}.", "invalid_request_error", "unknown_url")
    return error_response(api, err)


def _query(request: Request) -> dict[str, str]:
    raw = request.scope.get("query_string") or b""
    return dict(parse_qsl(raw.decode("latin-1"))) if raw else {}


def _as_json_array(response: Any) -> Any:
    """A stream asked for without `alt=sse` is one JSON array (the encoder writes it): its head
    says so."""
    if isinstance(response, (EventStream, WholeReply)) and EVENT_STREAM[0] in response.raw_headers:
        response.raw_headers = [JSON_HEAD if h == EVENT_STREAM[0] else h for h in response.raw_headers
                                if h != EVENT_STREAM[1]]
    return response


async def gemini(request: Request) -> Any:
    """One Gemini API call, sent to the chat pipeline, the embeddings pipeline or the counter."""
    path: str = request.scope["path"]
    target = path[path.index("/models/") + 8:]
    model, _, method = target.rpartition(":")
    model = model.removeprefix("models/")
    if not model:
        return _no_method(request, path)
    headers = header_map(request)
    query = _query(request)
    if query.get("key") and KEY_HEADER not in headers:
        headers[KEY_HEADER] = query["key"]
    if method == "generateContent":
        return await _chat(request, GeminiGenerate(model), headers)
    if method == "streamGenerateContent":
        sse = query.get("alt") == "sse"
        response = await _chat(request, GeminiGenerate(model, streaming=True, sse=sse), headers)
        return response if sse else _as_json_array(response)
    if method in ("embedContent", "batchEmbedContents"):
        return await embeddings(request, embeddings_api(model, method == "batchEmbedContents"), headers)
    if method == "countTokens":
        return await count_tokens(request, model, headers)
    return _not_found(f"Method not found: {shown(method)} (this gateway serves {', '.join(METHODS)}).")
