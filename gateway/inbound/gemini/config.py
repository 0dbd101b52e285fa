"""A Gemini `generationConfig` → the canonical request's sampling, length and format fields.

| generationConfig | canonical |
|---|---|
| `maxOutputTokens` | `max_completion_tokens` (reserved and sent as the cap) |
| `temperature`, `topP`, `seed`, `presencePenalty`, `frequencyPenalty` | the same OpenAI fields |
| `stopSequences` | `stop` |
| `candidateCount` | `n` |
| `responseMimeType: application/json` (+ `responseSchema` or `responseJsonSchema`) | `response_format` json_object (json_schema) |
| `thinkingConfig.thinkingLevel` / `.thinkingBudget` | `reasoning_effort` (budget 0 → minimal, ≤1024 low, ≤8192 medium, more high; -1 dynamic → none sent) |
| `thinkingConfig.includeThoughts` | the answer carries `reasoning_content` back as `thought: true` parts |

Refused (400): `responseModalities` other than TEXT, `speechConfig`, a `responseMimeType` other
than text/plain or application/json (text/x.enum needs a provider-side enum decoder). Dropped
with a debug line: `topK` (OpenAI-format providers reject it), `responseLogprobs`, `logprobs`,
`mediaResolution`, `audioTimestamp`, `enableEnhancedCivicAnswers`, `routingConfig`,
`modelSelectionConfig`.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import bad_request, shown
from gateway.inbound.gemini import fields as f
from gateway.pipeline.request import MAX_OUTPUT_TOKENS

HANDLED = frozenset({
    "maxOutputTokens", "temperature", "topP", "seed", "presencePenalty", "frequencyPenalty", "stopSequences",
    "candidateCount", "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig",
    "responseModalities", "speechConfig",
})
HANDLED_NAMES = HANDLED | frozenset(f.snake(n) for n in HANDLED)
LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


def _effort(thinking: dict[str, Any]) -> str | None:
    level = f.get(thinking, "thinkingLevel")
    if level is not None:
        effort = LEVELS.get(str(level).upper())
        if effort is None and str(level).upper() != "THINKING_LEVEL_UNSPECIFIED":
            raise bad_request(f"Invalid value at 'generationConfig.thinkingConfig.thinkingLevel': {shown(level)} is "
                              f"not one of {', '.join(LEVELS)}.", "generationConfig.thinkingConfig.thinkingLevel")
        return effort
    budget = f.get(thinking, "thinkingBudget")
    if budget is None:
        return None
    budget = f.integer(budget, "generationConfig.thinkingConfig.thinkingBudget", -1, 1_000_000)
    if budget < 0:
        return None  # dynamic: the model decides, as it does without the field
    if budget == 0:
        return "minimal"
    return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"


def _format(config: dict[str, Any], canonical: dict[str, Any]) -> None:
    mime = f.get(config, "responseMimeType")
    if mime is None or mime == "text/plain":
        return
    if mime != "application/json":
        raise bad_request(f"Invalid value at 'generationConfig.responseMimeType': {shown(mime)} is not supported "
                          "by this gateway; use text/plain or application/json.", "generationConfig.responseMimeType")
    schema = f.get(config, "responseJsonSchema")
    if schema is None and f.get(config, "responseSchema") is not None:
        schema = f.json_schema(f.obj(f.get(config, "responseSchema"), "generationConfig.responseSchema"),
                               "generationConfig.responseSchema")
    if schema is None:
        canonical["response_format"] = {"type": "json_object"}
    else:
        canonical["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "response", "schema": f.obj(schema, "generationConfig.responseJsonSchema")}}


def generation_config(config: dict[str, Any], canonical: dict[str, Any], skipped: list[str]) -> bool:
    """Fill `canonical` from `config`; True when the client asked for thoughts in the answer."""
    where = "generationConfig"
    limit = f.get(config, "maxOutputTokens")
    if limit is not None:
        canonical["max_completion_tokens"] = f.integer(limit, f"{where}.maxOutputTokens", 1, MAX_OUTPUT_TOKENS)
    for name, ours, high in (("temperature", "temperature", 2.0), ("topP", "top_p", 1.0),
                             ("presencePenalty", "presence_penalty", 2.0),
                             ("frequencyPenalty", "frequency_penalty", 2.0)):
        value = f.get(config, name)
        if value is not None:
            canonical[ours] = f.number(value, f"{where}.{name}", -2.0 if "Penalty" in name else 0.0, high)
    seed = f.get(config, "seed")
    if seed is not None:
        canonical["seed"] = f.integer(seed, f"{where}.seed", -(2**31), 2**31 - 1)
    stops = f.get(config, "stopSequences")
    if stops:
        canonical["stop"] = [f.text(s, f"{where}.stopSequences") for s in f.items(stops, f"{where}.stopSequences")]
    count = f.get(config, "candidateCount")
    if count is not None:
        canonical["n"] = f.integer(count, f"{where}.candidateCount", 1, 8)
    modalities = f.get(config, "responseModalities")
    if modalities and any(str(m).upper() != "TEXT" for m in f.items(modalities, f"{where}.responseModalities")):
        raise bad_request(f"Invalid value at '{where}.responseModalities': this gateway answers TEXT only.",
                          f"{where}.responseModalities")
    if f.get(config, "speechConfig") is not None:
        raise bad_request(f"'{where}.speechConfig' is not supported by this gateway (text answers only).",
                          f"{where}.speechConfig")
    _format(config, canonical)
    thoughts = False
    thinking = f.get(config, "thinkingConfig")
    if thinking is not None:
        thinking = f.obj(thinking, f"{where}.thinkingConfig")
        effort = _effort(thinking)
        if effort is not None:
            canonical["reasoning_effort"] = effort
        thoughts = f.get(thinking, "includeThoughts") is True
    skipped.extend(f"{where}.{k}" for k in config if k not in HANDLED_NAMES)
    return thoughts
