"""A Gemini `GenerateContentRequest` → the canonical (OpenAI chat-completions) body.

Translated: `systemInstruction` → a system message; `contents` in order (role `user`, `model` →
assistant; a missing role is `user`); parts `text`, `inlineData` (images → `image_url` data
URLs, audio → `input_audio`, anything else, e.g. a PDF → a `file` part), `fileData` of an image
→ `image_url` with its URI; a model turn's `functionCall` parts → `tool_calls` (its `id`, else a
stable `call_<turn>_<n>`; a `thoughtSignature` travels as the call's
`extra_content.google.thought_signature`, which the Gemini adapter sends back); a user turn's
`functionResponse` parts → `tool` messages ahead of its other content, answering the call with
the same id, else the oldest unanswered call of that name. `tools[].functionDeclarations`
(`parameters` as Gemini Schema, or `parametersJsonSchema`) → function tools;
`toolConfig.functionCallingConfig` (AUTO, ANY, NONE, VALIDATED, `allowedFunctionNames`) →
`tool_choice` (ANY with several allowed names keeps only those tools); `generationConfig` →
see `config.py`.

Refused with a 400, since dropping them would change the answer's meaning: a `fileData` that is
not an image (the gateway cannot fetch it for other providers), `functionResponse` with no
matching call. `cachedContent` (a context cache in the provider's project) and a `fileData` of
the Files API (`https://generativelanguage.googleapis.com/v1beta/files/...`, any type: a file in
the API key's project) are not in the canonical body at all: the request is marked for Gemini
deployments only (`cached_content`, `held_files`, and gateway.routing.plan.native_links), which
receive it as it came. Dropped from the
canonical body with a debug log line naming them: `safetySettings`, `labels`, `serviceTier`,
server tools (`googleSearch`, `codeExecution`, `urlContext`...), `thought` parts in the history
(thought summaries; the signatures that matter ride on function calls), `videoMetadata`. A Gemini
deployment still gets them: the client's body travels under NATIVE (`GeminiGenerate.parse`) and
the Gemini adapters send it as it came.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.errors import bad_request, shown
from gateway.inbound.gemini import fields as f
from gateway.inbound.gemini.config import generation_config

FUNCTION_MODES = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none",
                  "MODE_UNSPECIFIED": "auto"}
IGNORED = ("safetySettings", "labels", "serviceTier", "sessionContext", "model")


class Calls:
    """The model turns' function calls, so a later `functionResponse` finds its call id."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []  # (id, name) not yet answered, oldest first

    def add(self, name: str, call_id: str) -> None:
        self.pending.append((call_id, name))

    def answer(self, name: str, call_id: str | None, where: str) -> str:
        for i, (pending_id, pending_name) in enumerate(self.pending):
            if (call_id and pending_id == call_id) or (not call_id and pending_name == name):
                del self.pending[i]
                return pending_id
        raise bad_request(f"Invalid value at '{where}': the functionResponse {shown(name)} answers no functionCall "
                          "of an earlier model turn.", where)


def _data_url(blob: dict[str, Any], where: str) -> tuple[str, str]:
    mime = f.text(f.get(blob, "mimeType"), f"{where}.mimeType")
    return mime, f"data:{mime};base64,{f.text(blob.get('data'), f'{where}.data')}"


def _media(part: dict[str, Any], where: str) -> dict[str, Any] | None:
    """An `inlineData` or `fileData` part → a canonical content part."""
    inline = f.get(part, "inlineData")
    if inline is not None:
        mime, url = _data_url(f.obj(inline, f"{where}.inlineData"), f"{where}.inlineData")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": url}}
        if mime in ("audio/wav", "audio/x-wav", "audio/mp3", "audio/mpeg"):
            return {"type": "input_audio", "input_audio": {"data": inline["data"],
                                                           "format": "wav" if "wav" in mime else "mp3"}}
        return {"type": "file", "file": {"file_data": url}}
    file = f.obj(f.get(part, "fileData"), f"{where}.fileData")
    mime = str(f.get(file, "mimeType") or "")
    uri = f.text(f.get(file, "fileUri"), f"{where}.fileData.fileUri")
    if held_file(uri):  # in one API key's project: only Gemini reads it (`held_files` marks the request)
        return None
    if not mime.startswith("image/") and not mime == "":
        raise bad_request(f"Invalid value at '{where}.fileData': only images may be given by URI here "
                          f"(got {shown(mime)}); send other files as inlineData.", f"{where}.fileData")
    return {"type": "image_url", "image_url": {"url": uri}}


def _function_call(part: dict[str, Any], turn: int, n: int, calls: Calls, where: str) -> dict[str, Any]:
    call = f.obj(f.get(part, "functionCall"), f"{where}.functionCall")
    name = f.text(call.get("name"), f"{where}.functionCall.name")
    args = call.get("args")
    args = {} if args is None else f.obj(args, f"{where}.functionCall.args")
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{turn}_{n}"
    calls.add(name, call_id)
    out: dict[str, Any] = {"id": call_id, "type": "function",
                           "function": {"name": name, "arguments": orjson.dumps(args).decode()}}
    signature = f.get(part, "thoughtSignature")
    if isinstance(signature, str) and signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def _function_response(part: dict[str, Any], calls: Calls, where: str) -> dict[str, Any]:
    response = f.obj(f.get(part, "functionResponse"), f"{where}.functionResponse")
    name = f.text(response.get("name"), f"{where}.functionResponse.name")
    given = response.get("id") if isinstance(response.get("id"), str) else None
    call_id = calls.answer(name, given or None, f"{where}.functionResponse")
    value = response.get("response")
    content = orjson.dumps(value if value is not None else {}).decode()
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _part(part: dict[str, Any], where: str, skipped: list[str]) -> dict[str, Any] | None:
    """A text or media part → a canonical content part; None for what is dropped."""
    if part.get("thought") is True:
        skipped.append("thought")
        return None
    value = part.get("text")
    if value is not None:
        return {"type": "text", "text": f.text(value, f"{where}.text")}
    if f.get(part, "inlineData") is not None or f.get(part, "fileData") is not None:
        return _media(part, where)
    code = f.get(part, "executableCode")
    if code is not None:  # code the model ran with the code-execution tool: kept as text
        return {"type": "text", "text": f"```{str(f.get(f.obj(code, where), 'language') or '').lower()}\n"
                                        f"{f.obj(code, where).get('code') or ''}\n```"}
    result = f.get(part, "codeExecutionResult")
    if result is not None:
        return {"type": "text", "text": str(f.obj(result, where).get("output") or "")}
    skipped.extend(k for k in part if k not in ("videoMetadata", "video_metadata", "thoughtSignature",
                                                  "thought_signature", "partMetadata", "part_metadata"))
    return None


def _joined(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _turn(content: Any, turn: int, calls: Calls, out: list[dict[str, Any]], skipped: list[str]) -> None:
    where = f"contents[{turn}]"
    content = f.obj(content, where)
    role = content.get("role") or "user"
    if role not in ("user", "model", "function"):
        raise bad_request(f"Invalid value at '{where}.role': please use a valid role: user, model; got {shown(role)}.",
                          f"{where}.role")
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for j, raw in enumerate(f.items(content.get("parts") or [], f"{where}.parts")):
        here = f"{where}.parts[{j}]"
        part = f.obj(raw, here)
        if f.get(part, "functionCall") is not None:
            if role != "model":
                raise bad_request(f"Invalid value at '{here}': a functionCall belongs in a model turn.", here)
            tool_calls.append(_function_call(part, turn, len(tool_calls), calls, here))
        elif f.get(part, "functionResponse") is not None:
            out.append(_function_response(part, calls, here))  # tool messages follow the calls at once
        else:
            converted = _part(part, here, skipped)
            if converted is not None:
                parts.append(converted)
    if role == "model":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        if text or tool_calls:
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls:
                message["tool_calls"] = tool_calls
            out.append(message)
    elif parts:
        out.append({"role": "user", "content": _joined(parts)})


def _system(value: Any) -> str:
    if isinstance(value, str):  # proto3 JSON would not, but be kind to hand-written requests
        return value
    texts = []
    for j, part in enumerate(f.items(f.obj(value, "systemInstruction").get("parts") or [], "systemInstruction.parts")):
        part = f.obj(part, f"systemInstruction.parts[{j}]")
        if part.get("text") is not None:
            texts.append(f.text(part["text"], f"systemInstruction.parts[{j}].text"))
    return "\n".join(texts)


def _tools(value: Any, skipped: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(f.items(value, "tools")):
        tool = f.obj(tool, f"tools[{i}]")
        skipped.extend(k for k in tool if k not in ("functionDeclarations", "function_declarations"))
        for j, decl in enumerate(f.items(f.get(tool, "functionDeclarations") or [],
                                         f"tools[{i}].functionDeclarations")):
            where = f"tools[{i}].functionDeclarations[{j}]"
            decl = f.obj(decl, where)
            fn: dict[str, Any] = {"name": f.text(decl.get("name"), f"{where}.name")}
            if isinstance(decl.get("description"), str):
                fn["description"] = decl["description"]
            schema = f.get(decl, "parametersJsonSchema")
            if schema is None and decl.get("parameters") is not None:
                schema = f.json_schema(f.obj(decl["parameters"], f"{where}.parameters"), f"{where}.parameters")
            fn["parameters"] = f.obj(schema, f"{where}.parameters") if schema is not None else \
                {"type": "object", "properties": {}}
            out.append({"type": "function", "function": fn})
    return out


def _tool_choice(value: Any, tools: list[dict[str, Any]], canonical: dict[str, Any]) -> None:
    config = f.get(f.obj(value, "toolConfig"), "functionCallingConfig")
    if config is None:
        return
    config = f.obj(config, "toolConfig.functionCallingConfig")
    mode = str(config.get("mode") or "AUTO").upper()
    if mode not in FUNCTION_MODES:
        raise bad_request(f"Invalid value at 'toolConfig.functionCallingConfig.mode': {shown(mode)} is not one of "
                          f"{', '.join(FUNCTION_MODES)}.", "toolConfig.functionCallingConfig.mode")
    canonical["tool_choice"] = FUNCTION_MODES[mode]
    allowed = f.get(config, "allowedFunctionNames")
    if mode == "ANY" and allowed:
        names = [f.text(n, "toolConfig.functionCallingConfig.allowedFunctionNames") for n in f.items(
            allowed, "toolConfig.functionCallingConfig.allowedFunctionNames")]
        kept = [t for t in tools if t["function"]["name"] in names]
        if not kept:
            raise bad_request("Invalid value at 'toolConfig.functionCallingConfig.allowedFunctionNames': no "
                              "declared function has these names.", "toolConfig.functionCallingConfig")
        canonical["tools"] = kept
        if len(kept) == 1:
            canonical["tool_choice"] = {"type": "function", "function": {"name": kept[0]["function"]["name"]}}


FILES_HOST = "generativelanguage.googleapis.com"


def held_file(uri: str) -> bool:
    """Whether `uri` names a file of the Gemini Files API (`.../v1beta/files/<id>`), which only
    the Gemini API, under the API key's project that uploaded it, can read."""
    parts = urlsplit(uri)
    return parts.netloc == FILES_HOST and "/files/" in parts.path


def held_files(body: dict[str, Any]) -> bool:
    """Whether a `fileData` part names a Files API file (the request is for Gemini deployments only)."""
    for content in body.get("contents") or ():
        for part in content.get("parts") or () if isinstance(content, dict) else ():
            file = f.get(part, "fileData") if isinstance(part, dict) else None
            if isinstance(file, dict) and isinstance(f.get(file, "fileUri"), str) and held_file(f.get(file, "fileUri")):
                return True
    return False


def cached_content(body: dict[str, Any]) -> str | None:
    """The context cache the request names (`cachedContents/...`, on Vertex the full resource
    name), if any; a 400 for anything but a non-empty string."""
    name = f.get(body, "cachedContent")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"Invalid value at 'cachedContent': expected a cache name such as "
                          f"'cachedContents/abc', got {shown(name)}.", "cachedContent")
    return name


def to_canonical(body: dict[str, Any], model: str) -> tuple[dict[str, Any], bool]:
    """The canonical body for `model` (from the path), and whether the client asked for thoughts."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise bad_request("* GenerateContentRequest.contents: contents is not specified", "contents")
    skipped = [k for k in IGNORED if f.get(body, k) is not None]
    messages: list[dict[str, Any]] = []
    system = f.get(body, "systemInstruction")
    if system is not None:
        text = _system(system)
        if text:
            messages.append({"role": "system", "content": text})
    calls = Calls()
    for turn, content in enumerate(contents):
        _turn(content, turn, calls, messages, skipped)
    if not any(m["role"] != "system" for m in messages):
        raise bad_request("* GenerateContentRequest.contents: no part the gateway can send (text, media or "
                          "function calls).", "contents")
    canonical: dict[str, Any] = {"model": model, "messages": messages}
    if f.get(body, "tools") is not None:
        tools = _tools(f.get(body, "tools"), skipped)
        if tools:
            canonical["tools"] = tools
            if f.get(body, "toolConfig") is not None:
                _tool_choice(f.get(body, "toolConfig"), tools, canonical)
    thoughts = False
    config = f.get(body, "generationConfig")
    if config is not None:
        thoughts = generation_config(f.obj(config, "generationConfig"), canonical, skipped)
    f.dropped("generateContent", skipped)
    return canonical, thoughts
