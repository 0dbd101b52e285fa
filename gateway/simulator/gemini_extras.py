"""Gemini-only answer fields and context caches, added when the request (or a knob) asks for them,
as the Gemini API does:

- grounding: a `googleSearch` tool (`google_search`, or the older `googleSearchRetrieval`) →
  each candidate's `groundingMetadata`: the search queries, a search entry point, two web chunks
  and a support tying the answer's first words to the first chunk.
- safety: `safetySettings` → each candidate's `safetyRatings` (the four harm categories, all
  NEGLIGIBLE) and `promptFeedback.safetyRatings`.
- citations: the `citations` knob (a model that recites) → `citationMetadata.citationSources`.
- thoughts: `thinkingConfig.includeThoughts` → a `thought: true` summary part before the answer;
  with thinking (the `reasoning_tokens` knob, always on a Gemini 3 model) the first answer part
  carries a `thoughtSignature`.
- thought signatures checked (`check_signatures`): a Gemini 3 model refuses a request whose current
  turn (the contents after the last user text) has a model step whose first functionCall part
  lacks its `thoughtSignature`, with the API's 400.
In a stream the metadata rides on each candidate's last chunk, the thought part on its first.
An alias ending in `-latest` answers with the version it stands for in `modelVersion` (`version_of`).

Files: none are held, so a `fileData` naming a Files API file (`.../files/<id>`) is Google's 403
PERMISSION_DENIED for a file of another project.

Context caches: `POST /v1beta/cachedContents` (`model`, `contents`, `systemInstruction`) keeps a
cache's prompt tokens; a request naming it (`cachedContent`: `cachedContents/<id>`, or a Vertex
resource name ending so) is billed them as `cachedContentTokenCount`, inside `promptTokenCount`.
As Google answers: an unknown cache is 403 PERMISSION_DENIED, another model's cache a 400, and a
request that also sets `systemInstruction`, `tools` or `toolConfig` a 400.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .knobs import ModelKnobs
from .text import billed_prompt_tokens
from .wire import BadRequest

HARMS = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT",
         "HARM_CATEGORY_SEXUALLY_EXPLICIT")
SEARCH_TOOLS = ("googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval")


@dataclass(frozen=True, slots=True)
class Extras:
    """What one request asked for beyond the answer itself."""

    grounding: bool = False
    safety: bool = False
    citations: bool = False
    thoughts: bool = False
    signature: bool = False
    cached_tokens: int = 0
    query: str = ""


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def read(body: dict[str, Any], knobs: ModelKnobs, prompt: str, model: str,
         caches: dict[str, tuple[str, int]]) -> Extras:
    """The extras a GenerateContentRequest asks for; BadRequest for a cache it may not use."""
    tools = body.get("tools") or ()
    grounding = any(isinstance(t, dict) and any(k in t for k in SEARCH_TOOLS) for t in tools)
    config = _get(body, "generationConfig", "generation_config") or {}
    thinking = _get(config, "thinkingConfig", "thinking_config") or {}
    _check_files(body)
    cached = 0
    name = _get(body, "cachedContent", "cached_content")
    if name is not None:
        cached = _cache_tokens(body, str(name), model, caches)
    return Extras(grounding=grounding, safety=bool(_get(body, "safetySettings", "safety_settings")),
                  citations=knobs.citations, thoughts=bool(_get(thinking, "includeThoughts", "include_thoughts")),
                  signature=knobs.reasoning_tokens > 0 or always_thinks(model), cached_tokens=cached, query=" ".join(prompt.split()[:6]))


def version_of(model: str) -> str:
    """The `modelVersion` Gemini answers for `model`: an alias names the version it stands for."""
    return model.removesuffix("-latest") + "-preview-09-2025" if model.endswith("-latest") else model


def always_thinks(model: str) -> bool:
    """Gemini 3 models always think, sign their function calls and check the signatures come back."""
    return model.startswith("gemini-3")


SKIP_VALIDATOR = "skip_thought_signature_validator"  # Google's documented stand-in for a lost signature


def check_signatures(contents: list[Any], model: str) -> None:
    """BadRequest when a Gemini 3 request's current turn has a model step whose first function call
    is unsigned, as the API refuses it. The current turn starts after the last user content with
    text (a content of functionResponse parts only continues the turn)."""
    if not always_thinks(model):
        return
    start = 0
    for i, content in enumerate(contents):
        parts = content.get("parts") or () if isinstance(content, dict) else ()
        if content.get("role", "user") == "user" and any(isinstance(p, dict) and "text" in p for p in parts):
            start = i + 1
    for i in range(start, len(contents)):
        content = contents[i]
        if content.get("role") != "model":
            continue
        calls = [p for p in content.get("parts") or () if isinstance(p, dict) and "functionCall" in p]
        signature = calls[0].get("thoughtSignature") if calls else SKIP_VALIDATOR
        if not signature:
            name = (calls[0].get("functionCall") or {}).get("name")
            raise BadRequest("Function call is missing a thought_signature in functionCall parts. This is required "
                             "for tools to work correctly, and missing thought_signature may lead to degraded model "
                             f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                             "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                             "details.")
        if signature != SKIP_VALIDATOR and not _base64(signature):
            raise BadRequest("Corrupted thought signature.")


def _base64(value: Any) -> bool:
    """Standard or URL-safe base64 (google-genai sends the signature's bytes URL-safe)."""
    try:
        return isinstance(value, str) and bool(base64.b64decode(value.replace("-", "+").replace("_", "/"),
                                                                validate=True))
    except ValueError:
        return False


def _check_files(body: dict[str, Any]) -> None:
    """The simulator holds no Files API files: a `fileData` naming one (`.../files/<id>`) is the
    403 Google answers for a file of another project, or none."""
    for content in body.get("contents") or ():
        for part in (content.get("parts") or ()) if isinstance(content, dict) else ():
            file = _get(part, "fileData", "file_data") if isinstance(part, dict) else None
            uri = _get(file, "fileUri", "file_uri") if isinstance(file, dict) else None
            if isinstance(uri, str) and "/files/" in urlsplit(uri).path:
                name = urlsplit(uri).path.rpartition("/files/")[2]
                raise BadRequest(f"You do not have permission to access the File {name} or it may not exist.",
                                 status=403)


def _cache_tokens(body: dict[str, Any], name: str, model: str, caches: dict[str, tuple[str, int]]) -> int:
    for field in ("systemInstruction", "tools", "toolConfig"):
        if body.get(field) is not None:
            raise BadRequest("CachedContent can not be used with GenerateContent request setting "
                             "system_instruction, tools or tool_config.\n\nProposed fix: move those values to "
                             "CachedContent from GenerateContent request.")
    key = "cachedContents/" + name.rpartition("cachedContents/")[2] if "cachedContents/" in name else name
    if key not in caches:
        raise BadRequest("CachedContent not found (or permission denied)", status=403)
    cache_model, tokens = caches[key]
    if cache_model != model:
        raise BadRequest(f"Model used by GenerateContent request (models/{model}) and CachedContent "
                         f"(models/{cache_model}) has to be the same.")
    return tokens


def create_cache(body: Any, serial: str, caches: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """`POST /v1beta/cachedContents`: a new cache's resource, its tokens counted like a prompt."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise BadRequest("* CreateCachedContentRequest.cached_content.model: model is not specified")
    texts: list[str] = []
    system = _get(body, "systemInstruction", "system_instruction")
    for content in [system] if isinstance(system, dict) else []:
        texts.extend(p["text"] for p in content.get("parts") or () if isinstance(p, dict) and "text" in p)
    for content in body.get("contents") or ():
        texts.extend(p["text"] for p in (content or {}).get("parts") or () if isinstance(p, dict) and "text" in p)
    if not texts:
        raise BadRequest("* CreateCachedContentRequest.cached_content.contents: contents is not specified")
    model = body["model"].removeprefix("models/")
    tokens = billed_prompt_tokens(texts)
    name = f"cachedContents/{serial}"
    caches[name] = (model, tokens)
    return {"name": name, "model": f"models/{model}", "usageMetadata": {"totalTokenCount": tokens},
            "createTime": "2025-01-01T00:00:00Z", "expireTime": "2025-01-01T01:00:00Z"}


def ratings() -> list[dict[str, str]]:
    return [{"category": c, "probability": "NEGLIGIBLE"} for c in HARMS]


def decorate(cand: dict[str, Any], extras: Extras, text: str, first: bool, last: bool) -> None:
    """Add the extras to one candidate (a whole answer, or one chunk of a stream)."""
    parts = cand["content"]["parts"]
    if first and extras.signature and parts:
        signed = text + repr(parts[0].get("functionCall"))  # a call's text is empty: its own signature
        parts[0]["thoughtSignature"] = base64.b64encode(hashlib.sha256(signed.encode()).digest()[:12]).decode()
    if first and extras.thoughts:
        parts.insert(0, {"text": f"**Thinking it over**\n\nThe user asks: {extras.query}", "thought": True})
    if not last:
        return
    if extras.safety:
        cand["safetyRatings"] = ratings()
    if extras.citations and text:
        cand["citationMetadata"] = {"citationSources": [
            {"startIndex": 0, "endIndex": len(text.encode()), "uri": "https://example.com/source", "license": ""}]}
    if extras.grounding:
        words = text.split()
        support = " ".join(words[:5])
        cand["groundingMetadata"] = {
            "webSearchQueries": [extras.query or "search"],
            "searchEntryPoint": {"renderedContent": f"<div class=\"chips\">{extras.query}</div>"},
            "groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "example.com"}},
                                {"web": {"uri": "https://example.org/b", "title": "example.org"}}],
            "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": len(support.encode()), "text": support},
                                   "groundingChunkIndices": [0], "confidenceScores": [0.9]}] if support else [],
        }


def usage_with_cache(meta: dict[str, Any], extras: Extras) -> dict[str, Any]:
    """A cache's tokens in `promptTokenCount` and `cachedContentTokenCount`, as Gemini bills them."""
    if extras.cached_tokens:
        meta["promptTokenCount"] += extras.cached_tokens
        meta["totalTokenCount"] += extras.cached_tokens
        meta["cachedContentTokenCount"] = meta.get("cachedContentTokenCount", 0) + extras.cached_tokens
        meta["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": extras.cached_tokens}]
    return meta
