"""OpenAI chat completions, and every API that speaks it (DeepSeek, Groq, Mistral, vLLM, Ollama...).

The request passes through with only `model` replaced, so fields this gateway does not know still
reach the provider. Streams are relayed chunk by chunk as the provider framed them; each chunk is
parsed once to keep the usage and a running token count for streams cut short.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.config import Deployment, Provider, Quirks
from gateway.pricing import Usage, estimate_tokens
from gateway.providers.base import (
    Capabilities,
    EmbeddingsAdapterFunctions,
    ProbeTarget,
    StreamError,
    UpstreamError,
    UpstreamRequest,
    as_object,
    encode,
    error_message,
    json_headers,
    key_headers,
    upstream_error,
)
from gateway.providers.embeddings import encode as encode_vector


ANSWER_FIELDS = ("thinking_blocks", "reasoning_items", "reasoning_content")
"""Fields of the gateway's own answers on an assistant message: Claude's thinking blocks and its
thinking's text, and the Responses items of a search or of OpenAI's reasoning
(search_options.ITEMS). A chat client sends them back with the conversation, and OpenAI refuses a
message with a field it does not know, so a conversation that moves from Claude to GPT would
fail. `reasoning_content` goes to an API that asks for it back (`quirks.reasoning_content`:
DeepSeek). A tool call's `extra_content` (Gemini's thought signature, as Google's OpenAI-compatible
API gives it) is refused the same way, and goes to an API that asks for it
(`quirks.extra_content`: that endpoint)."""


def _signed(calls: Any) -> bool:
    """Whether a message's `tool_calls` hold a call with `extra_content`."""
    return isinstance(calls, list) and any(isinstance(c, dict) and "extra_content" in c for c in calls)


def _bare_calls(calls: Any) -> Any:
    return [{k: v for k, v in c.items() if k != "extra_content"} if isinstance(c, dict) else c for c in calls]


def without_answer_fields(messages: Any, keep_reasoning: bool = False, keep_call_extras: bool = False) -> Any:
    """`messages` without ANSWER_FIELDS (`keep_reasoning`: but for `reasoning_content`) and their
    tool calls without `extra_content` (unless `keep_call_extras`); the same list when no message
    has one, the usual case, found by a plain loop (agents send hundreds)."""
    if not isinstance(messages, list):
        return messages
    for m in messages:
        if isinstance(m, dict) and ("thinking_blocks" in m or "reasoning_items" in m
                                    or ("reasoning_content" in m and not keep_reasoning)
                                    or ("tool_calls" in m and not keep_call_extras and _signed(m["tool_calls"]))):
            break
    else:
        return messages
    fields = ANSWER_FIELDS[:2] if keep_reasoning else ANSWER_FIELDS
    out = []
    for m in messages:
        if isinstance(m, dict):
            m = {k: v for k, v in m.items() if k not in fields}
            if not keep_call_extras and _signed(m.get("tool_calls")):
                m["tool_calls"] = _bare_calls(m["tool_calls"])
        out.append(m)
    return out


def apply_quirks(body: dict[str, Any], quirks: Quirks, stream: bool) -> None:
    """Shape an OpenAI body for one OpenAI-compatible API, from its config (data, not code paths)."""
    messages = body.get("messages")
    sent = without_answer_fields(messages, keep_reasoning=quirks.reasoning_content,
                                 keep_call_extras=quirks.extra_content)
    if sent is not messages:
        body["messages"] = sent
    if stream:
        if quirks.stream_usage:
            # The gateway asks for usage so it can charge the real cost; whether the client sees
            # the usage chunk is decided by the decoder. Without it, tokens are counted on the way.
            body["stream_options"] = {**as_object(body.get("stream_options"), "stream_options"), "include_usage": True}
        else:
            body.pop("stream_options", None)
    if quirks.max_tokens_field:
        other = "max_tokens" if quirks.max_tokens_field == "max_completion_tokens" else "max_completion_tokens"
        if other in body:
            body.setdefault(quirks.max_tokens_field, body.pop(other))
    for name in quirks.drop_fields:
        body.pop(name, None)


def _headers(dep: Deployment) -> dict[str, str]:
    return json_headers(dep, "authorization", "Bearer ")


def health_probe(provider: Provider) -> ProbeTarget:
    """The model listing, `GET {base}/models`, which every OpenAI-compatible server has."""
    return provider.base_url + "/models", key_headers(provider, "authorization", "Bearer ")


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    body = dict(chat)
    body["model"] = dep.upstream
    apply_quirks(body, dep.provider.quirks, stream)
    return UpstreamRequest(dep.provider.base_url + "/chat/completions", _headers(dep), encode(body))


def usage_from(doc: Mapping[str, Any] | None) -> Usage:
    if not doc:
        return Usage()
    prompt_details = doc.get("prompt_tokens_details") or {}
    completion_details = doc.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(doc.get("prompt_tokens") or 0),
        completion_tokens=int(doc.get("completion_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or doc.get("prompt_cache_hit_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        reported=True,
    )


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or "choices" not in doc:
        raise ValueError("upstream body is not a chat completion")
    return doc, usage_from(doc.get("usage"))


class StreamDecoder:
    """Relays OpenAI chunks; keeps usage; drops the usage chunk unless the client asked for it.

    A plain content chunk is relayed without being parsed (its bytes go out as they came): only
    chunks that carry usage or an error, or do not look like a JSON object, are parsed. Their
    content length is needed only if the provider never reports usage, so they are kept (up to
    DEFER_LIMIT, then counted) and counted only then."""

    __slots__ = ("include_usage", "usage", "done", "_chars", "_deferred")
    DEFER_LIMIT = 512

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage = Usage()
        self.done = False
        self._chars = 0
        self._deferred: list[bytes] = []

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        if data == b"[DONE]":
            self.done = True
            return []
        if data[:1] == b"{" and data[-1:] == b"}" and b'"error"' not in data and not _has_usage(data):
            if not self.usage.reported:
                self._deferred.append(data)
                if len(self._deferred) >= self.DEFER_LIMIT:
                    self._count_deferred()
            return [b"data: " + data + b"\n\n"]
        chunk = orjson.loads(data)
        if not isinstance(chunk, dict):
            raise ValueError("stream chunk is not a JSON object")
        if "error" in chunk and "choices" not in chunk:
            message, code = error_message(data)
            raise StreamError(message, code)
        usage = chunk.get("usage")
        if usage:
            self.usage = usage_from(usage)
            self._deferred.clear()
        choices = chunk.get("choices") or ()
        if not self.usage.reported:
            self._chars += _content_chars(choices)
        if usage and not choices and not self.include_usage:
            return []
        return [b"data: " + data + b"\n\n"]

    def _count_deferred(self) -> None:
        for data in self._deferred:
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # relayed as it came; it has no countable content
            if isinstance(chunk, dict):
                self._chars += _content_chars(chunk.get("choices") or ())
        self._deferred.clear()

    def finish(self) -> list[bytes]:
        if not self.usage.reported:
            self._count_deferred()
            if self._chars:
                self.usage.completion_tokens = estimate_tokens(self._chars)
        return []


def _has_usage(data: bytes) -> bool:
    """A `"usage"` member that is not null (OpenAI sends `"usage":null` in every chunk when
    usage is asked for). Inside a JSON string the quotes would be escaped, so this is the key."""
    i = data.find(b'"usage"')
    return i >= 0 and not data[i + 7:i + 16].lstrip(b" \t\r\n:").startswith(b"null")


def _content_chars(choices: Any) -> int:
    n = 0
    for choice in choices:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if content:
            n += len(content)
        for call in delta.get("tool_calls") or ():
            args = (call.get("function") or {}).get("arguments")
            if args:
                n += len(args)
    return n


def error_from_upstream(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    message, code = error_message(data)
    return upstream_error(status, message, code, headers)


def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    """`/embeddings`, passed through with only `model` replaced (so `dimensions`, `encoding_format`,
    `user` and provider-specific fields reach the provider)."""
    payload = dict(body)
    payload["model"] = dep.upstream
    return UpstreamRequest(dep.provider.base_url + "/embeddings", _headers(dep), encode(payload))


def embeddings_from_upstream(data: bytes, dep: Deployment, encoding_format: str,
                             headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Usage]:
    """The provider's list body, each vector re-encoded if the provider ignored `encoding_format`."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError("upstream body is not an embeddings list")
    items = []
    for i, item in enumerate(doc["data"]):
        if not isinstance(item, dict) or not isinstance(item.get("embedding"), (list, str)):
            raise ValueError("an embedding has no vector")
        items.append({**item, "object": "embedding", "index": item.get("index", i),
                      "embedding": encode_vector(item["embedding"], encoding_format)})
    raw = doc.get("usage") or {}
    usage = Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0), reported="prompt_tokens" in raw)
    body = {**doc, "object": "list", "data": items, "model": doc.get("model") or dep.upstream,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens}}
    return body, usage



adapter = EmbeddingsAdapterFunctions("openai", Capabilities(embeddings=True, n_choices=True, custom_tools=True),
                                     to_upstream, from_upstream, error_from_upstream, StreamDecoder,
                                     embeddings_to_upstream, embeddings_from_upstream, health_probe=health_probe)
