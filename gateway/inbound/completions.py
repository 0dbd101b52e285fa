"""Legacy OpenAI completions (`POST /v1/completions`) as an inbound translator.

The prompt becomes one user message of the canonical chat request (every provider the gateway
routes to is a chat model); the answer's text comes back as `text_completion` choices, JSON or
SSE. `max_tokens` keeps the legacy default of 16. Passed: `stop`, `n`, `temperature`, `top_p`,
`presence_penalty`, `frequency_penalty`, `seed`, `logit_bias`, `user`, `stream_options`.
Refused with a 400 naming the field, because a chat model cannot do them: `echo`, `suffix`,
`logprobs`, `best_of` other than `n`, and a prompt of token ids or of several prompts.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.frames import chunks
from gateway.inbound.openai_chat import _PassThrough
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth

DEFAULT_MAX_TOKENS = 16  # the legacy API's default
PASSED = ("model", "stream", "stream_options", "stop", "n", "temperature", "top_p", "presence_penalty",
          "frequency_penalty", "seed", "logit_bias", "user")
REFUSED = {
    "echo": "echoing the prompt is not supported by this gateway (its models are chat models)",
    "suffix": "insertion with a suffix is not supported by this gateway",
    "logprobs": "log probabilities are not supported by this gateway on /v1/completions",
}


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        raise bad_request("'prompt' holds several prompts; this gateway answers one prompt per request.",
                          "prompt", "unsupported_value")
    if isinstance(value, list) and value and all(isinstance(p, (int, list)) for p in value):
        raise bad_request("'prompt' as token ids is not supported by this gateway; send the text.", "prompt",
                          "unsupported_value")
    raise bad_request("'prompt' must be a string (or an array of one string).", "prompt")


def canonical_body(body: dict[str, Any]) -> dict[str, Any]:
    for name, why in REFUSED.items():
        if body.get(name) not in (None, False, ""):
            raise bad_request(f"'{name}': {why}.", name, "unsupported_parameter")
    best_of = body.get("best_of")
    if best_of is not None and best_of != (body.get("n") or 1):
        raise bad_request("'best_of' other than 'n' is not supported by this gateway.", "best_of", "unsupported_parameter")
    chat = {name: body[name] for name in PASSED if body.get(name) is not None}
    chat["messages"] = [{"role": "user", "content": _prompt(body.get("prompt"))}]
    chat["max_tokens"] = body["max_tokens"] if body.get("max_tokens") is not None else DEFAULT_MAX_TOKENS
    return chat


def _id(body: dict[str, Any]) -> str:
    return "cmpl-" + str(body.get("id") or "").removeprefix("chatcmpl-")


def _choice(choice: dict[str, Any], text: str) -> dict[str, Any]:
    return {"text": text, "index": choice.get("index", 0), "logprobs": None, "finish_reason": choice.get("finish_reason")}


def from_completion(body: dict[str, Any]) -> dict[str, Any]:
    choices = [_choice(c, (c.get("message") or {}).get("content") or "") for c in body.get("choices") or ()]
    out = {"id": _id(body), "object": "text_completion", "created": body.get("created"),
           "model": body.get("model"), "choices": choices}
    if body.get("usage"):
        usage = body["usage"]
        out["usage"] = {name: usage.get(name) for name in ("prompt_tokens", "completion_tokens", "total_tokens")}
    return out


class _Stream(_PassThrough):
    """`chat.completion.chunk` frames → `text_completion` chunks; the end (`[DONE]`) and errors
    as on the chat stream."""

    __slots__ = ()

    def feed(self, frames: bytes) -> bytes:
        out = []
        for chunk in chunks(frames):
            head = {"id": _id(chunk), "object": "text_completion",
                    "created": chunk.get("created"), "model": chunk.get("model")}
            choices = []
            for c in chunk.get("choices") or ():
                text = (c.get("delta") or {}).get("content") or ""
                if text or c.get("finish_reason"):
                    choices.append(_choice(c, text))
            usage = chunk.get("usage")
            if choices or usage:
                head["choices"] = choices
                if usage:
                    head["usage"] = {name: usage.get(name) for name in ("prompt_tokens", "completion_tokens",
                                                                         "total_tokens")}
                out.append(b"data: " + orjson.dumps(head) + b"\n\n")
        return b"".join(out)


_STREAM = _Stream()


class Completions:
    name = "openai.completions"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        body = parse_json(raw)
        check_depth(raw, body)
        return chat_request(canonical_body(body))

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(from_completion(body))

    def stream(self, chat: ChatRequest) -> _Stream:
        return _STREAM

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())
