"""Amazon Bedrock Guardrails on Converse, as far as a client sees them: `guardrailConfig` checked
as the API reference states it (`guardrailIdentifier`, `guardrailVersion`, `trace`; a stream's
may add `streamProcessingMode`), and a guardrail that intervenes. The simulator's guardrail has
one word filter, the model's `guardrail_word` knob: a request whose prompt holds that word is
blocked before the model runs, answered (200) with the guardrail's blocked-input message,
`stopReason: guardrail_intervened`, no model tokens, and, with trace on, the assessment.

InvokeModel (Claude) takes the guardrail as request headers (`X-Amzn-Bedrock-GuardrailIdentifier`,
`-GuardrailVersion`, `X-Amzn-Bedrock-Trace` ENABLED | DISABLED | ENABLED_FULL) and a stream's
processing mode in the body (`amazon-bedrock-guardrailConfig`): `invoke_config`. Its intervention
is a Messages answer of the blocked message marked `"amazon-bedrock-guardrailAction":
"INTERVENED"` (with the trace as `amazon-bedrock-trace`), whole or as stream events.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .wire import BadRequest

BLOCKED_INPUT = "Sorry, the model cannot answer this question."
IDENTIFIER = re.compile(r"^(?:[a-z0-9]+|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+)$")
VERSION = re.compile(r"^(?:[1-9][0-9]{0,7}|DRAFT)$")
TRACES = ("enabled", "disabled", "enabled_full")
ACTION, BODY_CONFIG = "amazon-bedrock-guardrailAction", "amazon-bedrock-guardrailConfig"


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


def invoke_config(headers: Mapping[str, str], body: Any) -> dict[str, Any] | None:
    """InvokeModel's guardrail headers, checked, as a Converse guardrailConfig; None without one.
    The body's `amazon-bedrock-guardrailConfig` is taken out of it (the model never sees it)."""
    extra = body.pop(BODY_CONFIG, None) if isinstance(body, dict) else None
    ident = headers.get("x-amzn-bedrock-guardrailidentifier")
    if not ident:
        if extra is not None:
            raise BadRequest(f"{BODY_CONFIG} needs the X-Amzn-Bedrock-GuardrailIdentifier header")
        return None
    if not IDENTIFIER.match(ident):
        raise BadRequest("X-Amzn-Bedrock-GuardrailIdentifier: must be a guardrail id or ARN")
    version = headers.get("x-amzn-bedrock-guardrailversion") or ""
    if not VERSION.match(version):
        raise BadRequest("X-Amzn-Bedrock-GuardrailVersion: must be a version number or DRAFT")
    trace = headers.get("x-amzn-bedrock-trace", "DISABLED")
    if trace.lower() not in TRACES or trace != trace.upper():
        raise BadRequest("X-Amzn-Bedrock-Trace: must be ENABLED, DISABLED or ENABLED_FULL")
    modes = ("SYNCHRONOUS", "ASYNCHRONOUS")
    if extra is not None and (not isinstance(extra, dict) or set(extra) != {"streamProcessingMode"}
                              or extra["streamProcessingMode"] not in modes):
        raise BadRequest(f"{BODY_CONFIG}: only streamProcessingMode (SYNCHRONOUS or ASYNCHRONOUS) is allowed")
    return {"guardrailIdentifier": ident, "guardrailVersion": version, "trace": trace.lower()}


def blocked_message(mid: str, model: str, config: dict[str, Any], word: str) -> dict[str, Any]:
    """InvokeModel's Messages answer of a blocked prompt."""
    doc: dict[str, Any] = {"id": mid, "type": "message", "role": "assistant", "model": model,
                           "content": [{"type": "text", "text": BLOCKED_INPUT}], "stop_reason": "end_turn",
                           "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
                           ACTION: "INTERVENED"}
    trace = _trace(config, word)
    if trace:
        doc["amazon-bedrock-trace"] = trace
    return doc


def blocked_message_events(mid: str, model: str, config: dict[str, Any], word: str) -> list[dict[str, Any]]:
    """The same as InvokeModelWithResponseStream's Messages events; the last says the action."""
    whole = blocked_message(mid, model, config, word)
    start = {k: v for k, v in whole.items() if k not in (ACTION, "amazon-bedrock-trace")}
    last = {"type": "message_stop", **{k: v for k, v in whole.items() if k in (ACTION, "amazon-bedrock-trace")},
            "amazon-bedrock-invocationMetrics": {"inputTokenCount": 0, "outputTokenCount": 0,
                                                 "invocationLatency": 1, "firstByteLatency": 1}}
    return [{"type": "message_start", "message": {**start, "content": [], "stop_reason": None}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": BLOCKED_INPUT}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": 0}},
            last]
