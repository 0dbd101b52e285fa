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
  application/json, json_schema → also `responseSchema` (cleaned like tool schemas);
  `reasoning_effort` → `thinkingConfig.thinkingBudget` (see `_thinking_config`).
- `web_search_options` → a `googleSearch` tool beside the function declarations (`grounding.py`:
  its context size and location have no Gemini field and are dropped).
- Any other field is dropped, with a debug log line naming it.
- `x_gateway_native` (gateway.providers.base.NATIVE), set for a request that came in through the
  Gemini API (gateway/inbound/gemini): its body is sent as it came (safety settings, server tools
  such as googleSearch, thought parts and signatures, topK, labels...) in place of the
  translation, but for the output cap the gateway reserved for (`maxOutputTokens`).

Gemini has no tool call ids: they are made up as `call_<responseId>_<n>` (the same in a stream and
in the non-streamed answer). A `thoughtSignature` on a function call travels in the tool call's
`extra_content.google.thought_signature` and is sent back on the next turn, as Google's own
OpenAI-compatible endpoint does.

The response side is in `response.py`, the stream decoder in `stream.py` and the schema cleaning
in `schema.py`; the package's `adapter` puts them together. What every translating adapter does on
the OpenAI side is in `gateway.providers.openai_side`.
"""

from __future__ import annotations

import mimetypes
from typing import Any, Mapping
from urllib.parse import quote, urlparse

import orjson

from gateway.config import Deployment, Provider
from gateway.errors import bad_request, shown
from gateway.pricing import Usage
from gateway.providers import openai_side, search_options
from gateway.providers.base import (
    NATIVE,
    ProbeTarget,
    UpstreamError,
    UpstreamRequest,
    as_count,
    as_item,
    as_list,
    as_object,
    as_strings,
    encode,
    json_headers,
    key_headers,
    upstream_error,
)
from gateway.providers.embeddings import embeddings_body
from gateway.providers.gemini.grounding import search_tool
from gateway.providers.gemini.schema import clean_schema

HANDLED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
    "temperature", "top_p", "top_k", "n", "seed", "presence_penalty", "frequency_penalty", "tools",
    "tool_choice", "response_format", "reasoning_effort", "web_search_options", NATIVE,
})
PRO_BUDGETS = (128, 32768)    # Gemini 2.5 Pro cannot turn thinking off
OTHER_BUDGETS = (0, 24576)    # Flash and Flash-Lite can (budget 0)
EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format"})

def _api_base(base: str) -> str:
    return base if base.endswith(("/v1beta", "/v1", "/v1alpha")) else base + "/v1beta"


def _model_url(dep: Deployment, method: str) -> str:
    model = dep.upstream.removeprefix("models/")
    return f"{_api_base(dep.provider.base_url)}/models/{quote(model, safe='')}:{method}"


def _inline(media_type: str, data: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": media_type, "data": data}}


def _part(part: Any, where: str) -> dict[str, Any] | None:
    part = as_item(part, where)
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": str(text)} if text else None
    if kind == "image_url":
        url = openai_side.image_url(part, where)
        if url.startswith("data:"):
            return _inline(*openai_side.parse_data_url(url, where))
        if url.startswith(("https://", "http://", "gs://")):
            mime = mimetypes.guess_type(urlparse(url).path)[0] or "image/jpeg"
            return {"fileData": {"mimeType": mime, "fileUri": url}}
        raise bad_request(f"{where}: image URLs must be https:// or data: URLs.", where)
    if kind == "input_audio":
        audio = as_object(part.get("input_audio"), f"{where}.input_audio")
        fmt = str(audio.get("format") or "wav")
        return _inline(f"audio/{'mpeg' if fmt == 'mp3' else fmt}", audio.get("data") or "")
    if kind == "file":
        return _inline(*openai_side.file_data(part, where))
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


def _function_call(call: dict[str, Any], name: str, args: dict[str, Any], where: str) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    extra = as_object(call.get("extra_content"), f"{where}.extra_content")
    signature = as_object(extra.get("google"), f"{where}.extra_content.google").get("thought_signature")
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(msg: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    content = msg.get("content")
    text = content if isinstance(content, str) else openai_side.plain_text(content, where)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for where, role, msg in openai_side.conversation(messages, system):
        if role == "user":
            openai_side.add_turn(contents, "user", "parts", _parts(msg.get("content"), where))
        elif role == "assistant":
            parts = _parts(msg.get("content"), where)
            for call, name, args, here in openai_side.tool_calls(msg, where):
                parts.append(_function_call(call, name, args, here))
                call_names[str(call.get("id"))] = name
            openai_side.add_turn(contents, "model", "parts", parts)
        else:  # tool
            call_id = msg.get("tool_call_id")
            name = call_names.get(str(call_id)) if call_id else None
            if name is None:
                raise bad_request(f"{where}: tool_call_id {shown(call_id)} does not match a tool call of an earlier "
                                  "assistant message.", f"{where}.tool_call_id")
            openai_side.add_turn(contents, "user", "parts", [_function_response(msg, name, where)])
    return system, contents


def _tools(tools: Any) -> list[dict[str, Any]]:
    decls = []
    for fn in openai_side.function_tools(tools):
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and params.get("properties"):  # Gemini rejects an empty OBJECT
            decl["parameters"] = clean_schema(params)
        decls.append(decl)
    return [{"functionDeclarations": decls}]


TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE", "function": "ANY"}


def _tool_config(choice: Any) -> dict[str, Any]:
    mode, name = openai_side.tool_choice_mode(choice)
    config: dict[str, Any] = {"mode": TOOL_MODES[mode]}
    if name:
        config["allowedFunctionNames"] = [name]
    return {"functionCallingConfig": config}


def _thinking_config(chat: dict[str, Any], model: str, max_tokens: int | None) -> dict[str, Any] | None:
    """`reasoning_effort` as a thinking budget (`openai_side.THINKING_BUDGETS`; none/minimal → 0),
    kept in the model's range (a Pro model thinks at least 128 tokens) and below maxOutputTokens,
    which thinking counts toward."""
    budget = openai_side.thinking_budget(chat)
    if budget is None:
        return None
    low, high = PRO_BUDGETS if "pro" in model.lower() else OTHER_BUDGETS
    if max_tokens:
        high = min(high, max_tokens - 1)
    return {"thinkingBudget": max(low, min(budget, high))}


def _generation_config(chat: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = openai_side.requested_max_tokens(chat)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
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
    thinking = _thinking_config(chat, model, max_tokens)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def generate_body(chat: dict[str, Any], dep: Deployment) -> dict[str, Any]:
    """The generateContent body (Gemini on Vertex sends the same one)."""
    native = chat.get(NATIVE)
    if native is not None:
        return _as_it_came(native.get("body") or {}, _generation_config(chat, dep.upstream).get("maxOutputTokens"))
    openai_side.drop_unknown(chat, HANDLED, "gemini")
    system, contents = _contents(chat.get("messages") or [])
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if chat.get("tools"):
        body["tools"] = _tools(chat["tools"])
        if chat.get("tool_choice") is not None:
            body["toolConfig"] = _tool_config(chat["tool_choice"])
    if search_options.read(chat) is not None:
        body.setdefault("tools", []).append(search_tool())
    config = _generation_config(chat, dep.upstream)
    if config:
        body["generationConfig"] = config
    return body


def _as_it_came(own: dict[str, Any], cap: Any) -> dict[str, Any]:
    """A Gemini client's own body with the gateway's output cap. proto3 JSON takes either
    spelling of a field, so the cap replaces both and is written once."""
    body = dict(own)
    key = "generation_config" if "generation_config" in body and "generationConfig" not in body else "generationConfig"
    config = {k: v for k, v in (body.get(key) or {}).items() if k not in ("maxOutputTokens", "max_output_tokens")}
    if cap is not None:
        config["maxOutputTokens"] = cap
    if config:
        body[key] = config
    return body


def health_probe(provider: Provider) -> ProbeTarget:
    """The model listing, `GET /v1beta/models`."""
    return _api_base(provider.base_url) + "/models", key_headers(provider, "x-goog-api-key")


def to_upstream(chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
    url = _model_url(dep, "streamGenerateContent?alt=sse" if stream else "generateContent")
    return UpstreamRequest(url, json_headers(dep, "x-goog-api-key"), encode(generate_body(chat, dep)))


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
    return upstream_error(status, message, code, headers, retry_after_s=delay)


# ------------------------------------------------------------------------------------- embeddings

def embeddings_to_upstream(body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
    """One string → `:embedContent`; a list of strings → `:batchEmbedContents`."""
    openai_side.drop_unknown(body, EMBEDDING_FIELDS, "gemini")
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
    return UpstreamRequest(_model_url(dep, method), json_headers(dep, "x-goog-api-key"), encode(payload))


def embeddings_from_upstream(data: bytes, dep: Deployment, encoding_format: str,
                             headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Usage]:
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
