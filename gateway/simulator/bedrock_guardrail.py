"""Amazon Bedrock Guardrails on Converse, as far as a client sees them: `guardrailConfig` checked
as the API reference states it (`guardrailIdentifier`, `guardrailVersion`, `trace`; a stream's
may add `streamProcessingMode`), and a guardrail that intervenes. The simulator's guardrail has
one word filter, the model's `guardrail_word` knob: a request whose prompt holds that word is
blocked before the model runs, answered (200) with the guardrail's blocked-input message,
`stopReason: guardrail_intervened`, no model tokens, and, with trace on, the assessment.
"""

from __future__ import annotations

import re
from typing import Any

from .wire import BadRequest

BLOCKED_INPUT = "Sorry, the model cannot answer this question."
IDENTIFIER = re.compile(r"^(?:[a-z0-9]+|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+)$")
VERSION = re.compile(r"^(?:[1-9][0-9]{0,7}|DRAFT)$")
TRACES = ("enabled", "disabled", "enabled_full")


def guardrail_config(body: dict[str, Any], stream: bool) -> dict[str, Any] | None:
    """The request's guardrailConfig, checked; None without one."""
    config = body.get("guardrailConfig")
    if config is None:
        return None
    allowed = {"guardrailIdentifier", "guardrailVersion", "trace"} | ({"streamProcessingMode"} if stream else set())
    if not isinstance(config, dict) or set(config) - allowed:
        raise BadRequest(f"guardrailConfig: only {', '.join(sorted(allowed))} are allowed")
    if not IDENTIFIER.match(str(config.get("guardrailIdentifier") or "")):
        raise BadRequest("guardrailConfig.guardrailIdentifier: must be a guardrail id or ARN")
    if not VERSION.match(str(config.get("guardrailVersion") or "")):
        raise BadRequest("guardrailConfig.guardrailVersion: must be a version number or DRAFT")
    if config.get("trace", "disabled") not in TRACES:
        raise BadRequest(f"guardrailConfig.trace: must be one of {', '.join(TRACES)}")
    if config.get("streamProcessingMode", "sync") not in ("sync", "async"):
        raise BadRequest("guardrailConfig.streamProcessingMode: must be sync or async")
    return config


def intervenes(config: dict[str, Any] | None, word: str | None,
               texts: list[str]) -> tuple[dict[str, Any], str] | None:
    """(the guardrail, its word) when it blocks this prompt: the word appears, in any case."""
    if config is None or not word or not any(word.lower() in t.lower() for t in texts):
        return None
    return config, word


def _usage() -> dict[str, Any]:
    return {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}


def _trace(config: dict[str, Any], word: str) -> dict[str, Any] | None:
    if config.get("trace", "disabled") == "disabled":
        return None
    match = {"match": word, "action": "BLOCKED", "detected": True}
    return {"guardrail": {"inputAssessment": {config["guardrailIdentifier"]: {"wordPolicy": {"customWords": [match]}}}}}


def blocked_body(config: dict[str, Any], word: str) -> dict[str, Any]:
    """The Converse answer of a blocked prompt."""
    body = {"output": {"message": {"role": "assistant", "content": [{"text": BLOCKED_INPUT}]}},
            "stopReason": "guardrail_intervened", "usage": _usage(), "metrics": {"latencyMs": 1}}
    trace = _trace(config, word)
    if trace:
        body["trace"] = trace
    return body


def blocked_events(config: dict[str, Any], word: str) -> list[tuple[str, dict[str, Any]]]:
    """The ConverseStream events of a blocked prompt, as (event type, payload)."""
    metadata: dict[str, Any] = {"usage": _usage(), "metrics": {"latencyMs": 1}}
    trace = _trace(config, word)
    if trace:
        metadata["trace"] = trace
    return [("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": BLOCKED_INPUT}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("messageStop", {"stopReason": "guardrail_intervened"}),
            ("metadata", metadata)]
