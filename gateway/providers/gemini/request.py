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

The response side is in `gemini_response`, the stream decoder in `gemini_stream` and the schema
cleaning in `gemini_schema`; this module re-exports them, so it stays the whole adapter.
"""

from __future__ import annotations

import mimetypes
from typing import Any, Mapping
from urllib.parse import quote, urlparse

import orjson

from gateway.config import Deployment
from gateway.errors import bad_request, shown
from gateway.observe.log import get_logger
from gateway.pricing import Usage
from gateway.providers import (
    RETRYABLE_STATUSES,
    UpstreamError,
    UpstreamRequest,
    as_count,
    as_item,
    as_list,
    as_object,
    as_strings,
    client_status,
    encode,
    retry_after_seconds,
)
from gateway.providers.embeddings import embeddings_body
from gateway.providers.gemini.response import from_upstream
from gateway.providers.gemini.schema import clean_schema
from gateway.providers.gemini.stream import StreamDecoder
from gateway.providers.openai import StreamError

__all__ = ["to_upstream", "from_upstream", "StreamDecoder", "error_from_upstream", "StreamError",
           "embeddings_to_upstream", "embeddings_from_upstream"]

HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "top_k", "n", "seed", "presence_penalty", "frequency_penalty", "tools",
    "tool_choice", "response_format",
})
EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format"})

log = get_logger("gateway.providers.gemini.request")


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


def _data_url(url: str, where: str) -> dict[str, Any]:
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise bad_request(f"{where}: a data: URL must be base64-encoded (data:<type>;base64,...).", where)
    return {"inlineData": {"mimeType": head[5:-7] or "application/octet-stream", "data": data}}


def _part(part: Any, where: str) -> dict[str, Any] | None:
    part = as_item(part, where)
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
        audio = as_object(part.get("input_audio"), f"{where}.input_audio")
        fmt = str(audio.get("format") or "wav")
        return {"inlineData": {"mimeType": f"audio/{'mpeg' if fmt == 'mp3' else fmt}", "data": audio.get("data") or ""}}
    if kind == "file":
        data = as_object(part.get("file"), f"{where}.file").get("file_data")
        if isinstance(data, str) and data.startswith("data:"):
            return _data_url(data, where)
        raise bad_request(f"{where}: only inline files (file.file_data as a data: URL) are supported.", where)
    raise bad_request(f"{where}: content part type {shown(kind)} is not supported by this model.", where)


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        converted = _part(part, f"{where}.content[{i}]")
        if converted is not None:
            out.append(converted)
    return out


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, part in enumerate(as_list(content, f"{where}.content")):
        part = as_item(part, f"{where}.content[{i}]")
        if part.get("type") != "text":
            raise bad_request(f"{where}.content[{i}]: only text parts are allowed in this message.", where)
        texts.append(str(part.get("text") or ""))
    return "\n".join(texts)


def _function_call(call: Any, where: str) -> dict[str, Any]:
    call = as_item(call, where)
    fn = as_object(call.get("function"), f"{where}.function")
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
    extra = as_object(call.get("extra_content"), f"{where}.extra_content")
    signature = as_object(extra.get("google"), f"{where}.extra_content.google").get("thought_signature")
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

    for i, msg in enumerate(as_list(messages, "messages")):
        where = f"messages[{i}]"
        msg = as_item(msg, where)
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text(msg.get("content"), where)
            if text:
                system.append(text)
        elif role == "user":
            add("user", _parts(msg.get("content"), where))
        elif role == "assistant":
            parts = _parts(msg.get("content"), where)
            for j, call in enumerate(as_list(msg.get("tool_calls"), f"{where}.tool_calls")):
                part = _function_call(call, f"{where}.tool_calls[{j}]")
                call_names[str(call.get("id"))] = part["functionCall"]["name"]
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            name = call_names.get(str(call_id)) if call_id else None
            if name is None:
                raise bad_request(f"{where}: tool_call_id {shown(call_id)} does not match a tool call of an earlier "
                                  "assistant message.", f"{where}.tool_call_id")
            add("user", [_function_response(msg, name, where)])
        else:
            raise bad_request(f"{where}: role {shown(role)} is not supported by this model; use 'tool' messages "
                              "for tool results.", f"{where}.role")
    return system, contents


def _tools(tools: Any) -> list[dict[str, Any]]:
    decls = []
    for i, tool in enumerate(as_list(tools, "tools")):
        tool = as_item(tool, f"tools[{i}]")
        if tool.get("type", "function") != "function":
            raise bad_request(f"tools[{i}]: only function tools are supported by this model.", "tools")
        fn = as_object(tool.get("function"), f"tools[{i}].function")
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
        name = as_object(choice.get("function"), "tool_choice.function").get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise bad_request("tool_choice must be 'auto', 'required', 'none' or {'type': 'function', "
                      "'function': {'name': ...}}.", "tool_choice")


def _generation_config(chat: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    name = "max_completion_tokens" if chat.get("max_completion_tokens") else "max_tokens"
    if chat.get(name):
        config["maxOutputTokens"] = as_count(chat[name], name)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if chat.get(ours) is not None:
            config[theirs] = chat[ours]
    stop = chat.get("stop")
    if stop:
        config["stopSequences"] = as_strings(stop, "stop")
    n = chat.get("n")
    if n is not None and n != 1:
        config["candidateCount"] = as_count(n, "n")
    fmt = chat.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = as_object(fmt.get("json_schema"), "response_format.json_schema") if fmt["type"] == "json_schema" else {}
        schema = spec.get("schema")
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
    return UpstreamRequest(url, _headers(dep), encode(body))


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
    return UpstreamRequest(_model_url(dep, method), _headers(dep), encode(payload))


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
