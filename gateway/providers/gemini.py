"""Google Gemini API (`generateContent`, `streamGenerateContent?alt=sse`, `embedContent`,
`batchEmbedContents`) behind the OpenAI chat-completions and embeddings formats.

Request (OpenAI → Gemini):
- `system` / `developer` messages become `systemInstruction`; user turns `role: user`, assistant
  turns `role: model`; consecutive turns of one role are merged.
- content parts: `text`; `image_url` with a `data:` URL → `inlineData`, with an https URL →
  `fileData` (MIME type guessed from the path); `input_audio` and `file` data URLs → `inlineData`.
- `tools` → one `functionDeclarations` tool; parameter schemas are cleaned of JSON-schema keys
  Gemini rejects (`additionalProperties`, `$schema`, `$defs`/`$ref` are inlined, `const` becomes a
  one-value `enum`, `type: [T, "null"]` becomes `nullable`). `tool_choice` → `toolConfig`
  (`auto`→AUTO, `required`→ANY, `none`→NONE, a named function → ANY + allowedFunctionNames).
- assistant `tool_calls` → `functionCall` parts; `tool` messages → `functionResponse` parts in a
  user turn, named after the earlier tool call with that id (a JSON-object result is sent as is,
  anything else as `{"result": ...}`).
- `generationConfig`: maxOutputTokens, temperature, topP, topK, stopSequences, candidateCount (n),
  seed, presencePenalty, frequencyPenalty; `response_format` json_object → responseMimeType
  application/json, json_schema → also `responseSchema` (cleaned like tool schemas).
- Any other field is dropped, with a debug log line naming it.

Gemini has no tool call ids: they are made up as `call_<responseId>_<n>` (the same in a stream and
in the non-streamed answer). A `thoughtSignature` on a function call travels in the tool call's
`extra_content.google.thought_signature` and is sent back on the next turn, as Google's own
OpenAI-compatible endpoint does.
"""

from __future__ import annotations

import mimetypes
import time
from typing import Any, Mapping
from urllib.parse import quote, urlparse

import orjson

from gateway.config import Deployment
from gateway.errors import bad_request
from gateway.log import get_logger
from gateway.pricing import Usage, estimate_tokens
from gateway.providers import (
    RETRYABLE_STATUSES,
    UpstreamError,
    UpstreamRequest,
    client_status,
    retry_after_seconds,
)
from gateway.providers.embeddings import embeddings_body
from gateway.providers.openai import StreamError

__all__ = ["to_upstream", "from_upstream", "StreamDecoder", "error_from_upstream", "StreamError",
           "embeddings_to_upstream", "embeddings_from_upstream"]

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "top_k", "n", "seed", "presence_penalty", "frequency_penalty", "tools",
    "tool_choice", "response_format",
})
EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format"})

# JSON-schema keys Gemini's OpenAPI-subset Schema rejects.
SCHEMA_DROP = frozenset({
    "additionalProperties", "$schema", "$id", "$comment", "$defs", "definitions", "strict", "examples",
    "patternProperties", "unevaluatedProperties", "dependentRequired", "dependentSchemas", "not", "if",
    "then", "else", "contentEncoding", "contentMediaType", "readOnly", "writeOnly", "deprecated",
})

log = get_logger("gateway.providers.gemini")


# ---------------------------------------------------------------------------------------- helpers

def _api_base(base: str) -> str:
    return base if base.endswith(("/v1beta", "/v1", "/v1alpha")) else base + "/v1beta"


def _model_url(dep: Deployment, method: str) -> str:
    model = dep.upstream.removeprefix("models/")
    return f"{_api_base(dep.provider.base_url)}/models/{quote(model, safe='')}:{method}"


def _headers(dep: Deployment) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if dep.provider.api_key:
        headers["x-goog-api-key"] = dep.provider.api_key
    headers.update(dep.provider.headers)
    return headers


def _drop_unknown(body: dict[str, Any], handled: frozenset[str]) -> None:
    dropped = sorted(k for k in body if k not in handled)
    if dropped:
        log.debug("request_fields_dropped", provider="gemini", fields=dropped)


def clean_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON schema reduced to what Gemini's Schema accepts (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    if depth > 32:
        raise bad_request("A tool or response schema is nested too deeply (or is recursive).", "tools")
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in defs:
            raise bad_request(f"Schema reference {ref!r} cannot be resolved.", "tools")
        merged = {**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
        return clean_schema(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in SCHEMA_DROP or key == "$ref":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
        elif key in ("items", "additionalItems") and isinstance(value, dict):
            out[key] = clean_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [clean_schema(v, defs, depth + 1) for v in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
        else:
            out[key] = value
    return out


def _data_url(url: str, where: str) -> dict[str, Any]:
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise bad_request(f"{where}: a data: URL must be base64-encoded (data:<type>;base64,...).", where)
    return {"inlineData": {"mimeType": head[5:-7] or "application/octet-stream", "data": data}}


def _part(part: dict[str, Any], where: str) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": str(text)} if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise bad_request(f"{where}: image_url.url is required.", where)
        if url.startswith("data:"):
            return _data_url(url, where)
        if url.startswith(("https://", "http://", "gs://")):
            mime = mimetypes.guess_type(urlparse(url).path)[0] or "image/jpeg"
            return {"fileData": {"mimeType": mime, "fileUri": url}}
        raise bad_request(f"{where}: image URLs must be https:// or data: URLs.", where)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        fmt = str(audio.get("format") or "wav")
        return {"inlineData": {"mimeType": f"audio/{'mpeg' if fmt == 'mp3' else fmt}", "data": audio.get("data") or ""}}
    if kind == "file":
        data = (part.get("file") or {}).get("file_data")
        if isinstance(data, str) and data.startswith("data:"):
            return _data_url(data, where)
        raise bad_request(f"{where}: only inline files (file.file_data as a data: URL) are supported.", where)
    raise bad_request(f"{where}: content part type {kind!r} is not supported by this model.", where)


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out = []
    for i, part in enumerate(content):
        converted = _part(part, f"{where}.content[{i}]")
        if converted is not None:
            out.append(converted)
    return out


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, part in enumerate(content):
        if part.get("type") != "text":
            raise bad_request(f"{where}.content[{i}]: only text parts are allowed in this message.", where)
        texts.append(str(part.get("text") or ""))
    return "\n".join(texts)


def _function_call(call: dict[str, Any], where: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}: function.name is required.", where)
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise bad_request(f"{where}: function.arguments is not valid JSON.", where) from None
    if not isinstance(args, dict):
        raise bad_request(f"{where}: function.arguments must be a JSON object.", where)
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(msg: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    content = msg.get("content")
    text = content if isinstance(content, str) else _text(content, where)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for i, msg in enumerate(messages):
        role = msg.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            text = _text(msg.get("content"), where)
            if text:
                system.append(text)
        elif role == "user":
            add("user", _parts(msg.get("content"), where))
        elif role == "assistant":
            parts = _parts(msg.get("content"), where)
            for j, call in enumerate(msg.get("tool_calls") or ()):
                part = _function_call(call, f"{where}.tool_calls[{j}]")
                call_names[str(call.get("id"))] = part["functionCall"]["name"]
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            name = call_names.get(str(call_id)) if call_id else None
            if name is None:
                raise bad_request(f"{where}: tool_call_id {call_id!r} does not match a tool call of an earlier "
                                  "assistant message.", f"{where}.tool_call_id")
            add("user", [_function_response(msg, name, where)])
        else:
            raise bad_request(f"{where}: role {role!r} is not supported by this model; use 'tool' messages "
                              "for tool results.", f"{where}.role")
    return system, contents


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decls = []
    for i, tool in enumerate(tools):
        if tool.get("type", "function") != "function":
            raise bad_request(f"tools[{i}]: only function tools are supported by this model.", "tools")
        fn = tool.get("function") or {}
        if not fn.get("name"):
            raise bad_request(f"tools[{i}]: function.name is required.", "tools")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and params.get("properties"):  # Gemini rejects an empty OBJECT
            decl["parameters"] = clean_schema(params)
        decls.append(decl)
    return [{"functionDeclarations": decls}]


def _tool_config(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise bad_request("tool_choice must be 'auto', 'required', 'none' or {'type': 'function', "
                      "'function': {'name': ...}}.", "tool_choice")


def _generation_config(chat: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = chat.get("max_completion_tokens") or chat.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = int(limit)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if chat.get(ours) is not None:
            config[theirs] = chat[ours]
    stop = chat.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    n = chat.get("n")
    if n is not None and n != 1:
        config["candidateCount"] = int(n)
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
    return config


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    _drop_unknown(chat, HANDLED)
    system, contents = _contents(chat.get("messages") or [])
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if chat.get("tools"):
        body["tools"] = _tools(chat["tools"])
        if chat.get("tool_choice") is not None:
            body["toolConfig"] = _tool_config(chat["tool_choice"])
    config = _generation_config(chat)
    if config:
        body["generationConfig"] = config
    url = _model_url(dep, "streamGenerateContent?alt=sse" if stream else "generateContent")
    return UpstreamRequest(url, _headers(dep), orjson.dumps(body))


# --------------------------------------------------------------------------------------- response

def usage_from(meta: Mapping[str, Any] | None) -> Usage:
    meta = meta or {}
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        prompt_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        completion_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
        reported=True,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def completion_id(response_id: Any) -> str:
    return "chatcmpl-" + (str(response_id) if response_id else str(time.time_ns()))


def call_id(response_id: Any, choice: int, n: int) -> str:
    prefix = f"call_{response_id}_" if response_id else "call_"
    return f"{prefix}{n}" if choice == 0 else f"{prefix}{choice}_{n}"


def _tool_call(part: dict[str, Any], response_id: Any, choice: int, n: int) -> dict[str, Any]:
    fn = part["functionCall"]
    call: dict[str, Any] = {
        "id": fn.get("id") or call_id(response_id, choice, n),
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": orjson.dumps(fn.get("args") or {}).decode()},
    }
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def _finish(reason: Any, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(str(reason), "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if isinstance(doc, list) and len(doc) == 1:  # a streamGenerateContent JSON array of one
        doc = doc[0]
    if not isinstance(doc, dict) or ("candidates" not in doc and "promptFeedback" not in doc):
        raise ValueError("upstream body is not a Gemini GenerateContentResponse")
    rid = doc.get("responseId")
    choices = []
    for pos, cand in enumerate(doc.get("candidates") or ()):
        index = int(cand.get("index") or pos)
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            if "text" in part:
                texts.append(part["text"] or "")
            elif "functionCall" in part:
                calls.append(_tool_call(part, rid, index, len(calls)))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
        if calls:
            message["tool_calls"] = calls
        choices.append({"index": index, "message": message, "logprobs": None,
                        "finish_reason": _finish(cand.get("finishReason"), bool(calls))})
    if not choices:  # the prompt itself was blocked
        choices.append({"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": None,
                        "finish_reason": "content_filter"})
    usage = usage_from(doc.get("usageMetadata"))
    body = {"id": completion_id(rid), "object": "chat.completion", "created": int(time.time()),
            "model": dep.upstream, "choices": choices, "usage": usage_body(usage)}
    return body, usage


# ----------------------------------------------------------------------------------------- stream

class StreamDecoder:
    """Gemini SSE chunks (each a partial GenerateContentResponse) → OpenAI chunks.

    Every candidate gets a role chunk when it first appears; a function call (Gemini sends it
    whole) becomes an id+name delta then one arguments delta; a candidate's finishReason gives
    its finish chunk. The stream is done once every candidate seen has finished.
    """

    def __init__(self, dep: Deployment, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.model = dep.upstream
        self.usage = Usage()
        self.done = False
        self.id: str | None = None
        self._rid: Any = None
        self.created = int(time.time())
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finished: set[int] = set()
        self._chars = 0

    def _frame(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage_body(usage)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._frame([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def _start(self, index: int, out: list[bytes]) -> None:
        if index not in self._started:
            self._started.add(index)
            out.append(self._delta(index, {"role": "assistant", "content": ""}))

    def feed(self, event: bytes, data: bytes) -> list[bytes]:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ValueError(f"stream chunk is not JSON: {data[:80]!r}") from None
        if not isinstance(doc, dict):
            raise ValueError("stream chunk is not a JSON object")
        if "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            raise StreamError(str(err.get("message") or "upstream stream error"),
                              str(err.get("status") or err.get("code") or "") or None)
        if self.id is None:
            self._rid = doc.get("responseId")
            self.id = completion_id(self._rid)
        out: list[bytes] = []
        candidates = doc.get("candidates") or ()
        for pos, cand in enumerate(candidates):
            index = int(cand.get("index") or pos)
            self._start(index, out)
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("thought"):
                    continue
                if part.get("text"):
                    self._chars += len(part["text"])
                    out.append(self._delta(index, {"content": part["text"]}))
                elif "functionCall" in part:
                    n = self._calls.get(index, 0)
                    self._calls[index] = n + 1
                    call = _tool_call(part, self._rid, index, n)
                    args = call["function"]["arguments"]
                    self._chars += len(args) + len(call["function"]["name"])
                    first = {"index": n, "id": call["id"], "type": "function",
                             "function": {"name": call["function"]["name"], "arguments": ""}}
                    if "extra_content" in call:
                        first["extra_content"] = call["extra_content"]
                    out.append(self._delta(index, {"tool_calls": [first]}))
                    out.append(self._delta(index, {"tool_calls": [{"index": n, "function": {"arguments": args}}]}))
            if cand.get("finishReason") and index not in self._finished:
                self._finished.add(index)
                out.append(self._delta(index, {}, _finish(cand["finishReason"], index in self._calls)))
        if not candidates and (doc.get("promptFeedback") or {}).get("blockReason"):
            self._start(0, out)
            self._finished.add(0)
            out.append(self._delta(0, {}, "content_filter"))
        if doc.get("usageMetadata"):
            self.usage = usage_from(doc["usageMetadata"])
        if self._finished and self._finished >= self._started:
            self.done = True
            if self.include_usage:
                out.append(self._frame([], self.usage))
        return out

    def finish(self) -> list[bytes]:
        if not self.usage.reported and self._chars:
            self.usage.completion_tokens = estimate_tokens(self._chars)
        return []


# ----------------------------------------------------------------------------------------- errors

def _retry_delay(details: Any) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` ("37s" or "1.5s") from an error's details."""
    for item in details if isinstance(details, list) else ():
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def error_from_upstream(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """`{"error": {"code", "message", "status", "details"}}`; the code is the status name."""
    message, code, delay = "upstream error", None, None
    try:
        doc = orjson.loads(data)
        if isinstance(doc, list) and doc:
            doc = doc[0]
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = str(err.get("status") or err.get("code") or "") or None
            delay = _retry_delay(err.get("details"))
    except orjson.JSONDecodeError:
        message = data[:300].decode(errors="replace").strip() or "upstream returned an empty error body"
    client, type_ = client_status(status)
    retry_after = retry_after_seconds(headers)
    return UpstreamError(status=client, message=message, type=type_, code=code,
                         retryable=status in RETRYABLE_STATUSES,
                         retry_after_s=retry_after if retry_after is not None else delay, upstream_status=status)


# ------------------------------------------------------------------------------------- embeddings

def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    """One string → `:embedContent`; a list of strings → `:batchEmbedContents`."""
    _drop_unknown(body, EMBEDDING_FIELDS)
    value = body.get("input")
    model = "models/" + dep.upstream.removeprefix("models/")
    dims = body.get("dimensions")

    def request(text: Any, where: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise bad_request(f"{where} must be a string: this model embeds text, not token arrays.", "input")
        req: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
        if dims:
            req["outputDimensionality"] = int(dims)
        return req

    if isinstance(value, list):
        if not value:
            raise bad_request("input must not be empty.", "input")
        payload: dict[str, Any] = {"requests": [request(t, f"input[{i}]") for i, t in enumerate(value)]}
        method = "batchEmbedContents"
    else:
        payload = request(value, "input")
        payload.pop("model")
        method = "embedContent"
    return UpstreamRequest(_model_url(dep, method), _headers(dep), orjson.dumps(payload))


def embeddings_from_upstream(data: bytes, dep: Deployment, encoding_format: str) -> tuple[dict[str, Any], Usage]:
    """`{"embedding": {"values"}}` or `{"embeddings": [...]}` → the OpenAI list body.

    The Gemini API does not report token counts for embeddings; then usage is zero with
    `reported=False`, and the caller estimates it from the input.
    """
    doc = orjson.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("upstream body is not a Gemini embedding response")
    if isinstance(doc.get("embeddings"), list):
        items = doc["embeddings"]
    elif isinstance(doc.get("embedding"), dict):
        items = [doc["embedding"]]
    else:
        raise ValueError("upstream body has no embeddings")
    vectors = []
    for item in items:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise ValueError("an embedding has no values")
        vectors.append(values)
    meta = doc.get("usageMetadata") or {}
    tokens = meta.get("promptTokenCount")
    usage = Usage(prompt_tokens=int(tokens), reported=True) if tokens is not None else Usage()
    return embeddings_body(vectors, dep.upstream, usage, encoding_format), usage
