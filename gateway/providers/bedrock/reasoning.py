"""Claude's extended thinking and prompt caching on Converse: what the request carries beyond
the plain chat translation of `request.py`.

Which models: Converse passes `additionalModelRequestFields` to the model as they are, so
`thinking` goes only to Anthropic Claude, told by its model id: a base model id
(`anthropic.claude-…`), a cross-region inference profile (`us.` / `eu.` / `apac.` / `global.` +
that id) or an ARN that ends in one (`…:inference-profile/us.anthropic.claude-…`,
`…:foundation-model/anthropic.claude-…`). An application-inference-profile ARN names no model:
it gets no thinking and no cache points (Bedrock would refuse them for a model without them).
Cache points go to Claude and Amazon Nova, the models Bedrock caches prompts for.

Thinking: the client's `reasoning_effort` → `{"thinking": {"type": "enabled", "budget_tokens": N}}`
by the Anthropic adapter's rule (`openai_side.thinking_plan`: budget from the effort, under
maxTokens, none with a forced tool); an Anthropic Messages client's own `thinking` object (the
canonical hint, gateway.providers.base.HINTS) goes as it came. With thinking on, temperature goes
and topP below 0.95, which Claude refuses then.

History: an assistant message's `thinking_blocks` → `reasoningContent` blocks ahead of its text
and tool calls (`thinking` → `reasoningText {text, signature}`, `redacted_thinking` →
`redactedContent`, its `data` as the base64 the JSON protocol carries bytes in); a thinking block
without a signature is left out, as Claude would refuse it. With `enabled` thinking, a final tool
turn (another provider's, a fallback mid tool loop) that does not start with a `reasoningContent`
block makes the request go without thinking (`fit`), as on the Messages API
(gateway.providers.anthropic.thinking), and says so (`x-gateway-adapted: thinking-off`).

Caching: a content part, a message or a tool with `cache_control` → a `{"cachePoint": {"type":
"default"}}` block right after it (a `ttl` of 5m or 1h kept).
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config import Deployment
from gateway.config.aws import CLAUDE_ID as CLAUDE
from gateway.providers import openai_side
from gateway.providers.anthropic.thinking import THINKING_OFF

NOVA = re.compile(r"(?:^|[./])amazon\.nova")
DEFAULT_MAX_TOKENS = 4096  # the maxTokens a thinking request gets when the client set none
TTLS = ("5m", "1h")


def is_claude(model_id: str) -> bool:
    return CLAUDE.search(model_id) is not None


def caches(model_id: str) -> bool:
    """Whether Bedrock takes cache points for this model (Claude, Nova)."""
    return CLAUDE.search(model_id) is not None or NOVA.search(model_id) is not None


def mark(item: Any) -> dict[str, Any] | None:
    """An item's `cache_control` mark, or None."""
    found = item.get("cache_control") if isinstance(item, dict) else None
    return found if isinstance(found, dict) else None


def cache_point(found: dict[str, Any]) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "default"}
    if found.get("ttl") in TTLS:
        point["ttl"] = found["ttl"]
    return {"cachePoint": point}


def reasoning_blocks(blocks: Any) -> list[dict[str, Any]]:
    """An assistant message's `thinking_blocks` as Converse `reasoningContent` blocks."""
    return [{"reasoningContent": {"reasoningText": {"text": b["thinking"], "signature": b["signature"]}}}
            if b["type"] == "thinking" else {"reasoningContent": {"redactedContent": b["data"]}}
            for b in openai_side.signed_thinking(blocks)]


def add_thinking(body: dict[str, Any], chat: dict[str, Any], dep: Deployment) -> None:
    """`additionalModelRequestFields.thinking` for a Claude model, from the client's own
    `thinking` or its `reasoning_effort`; nothing for any other model."""
    native = chat.get("thinking")
    if not isinstance(native, dict) and chat.get("reasoning_effort") is None:
        return
    if not is_claude(dep.upstream):
        openai_side.log.debug("bedrock: thinking dropped", reason="not a Claude model")
        return
    config = body.setdefault("inferenceConfig", {})
    if isinstance(native, dict):
        thinking = native
    else:
        choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
        client = openai_side.requested_max_tokens(chat)
        cap = dep.max_output_tokens or DEFAULT_MAX_TOKENS
        start = client or min(cap, DEFAULT_MAX_TOKENS)
        max_tokens, budget = openai_side.thinking_plan(chat, start, client is not None, cap,
                                                       "any" in choice or "tool" in choice)
        if budget is None:
            if not config:
                body.pop("inferenceConfig")
            return
        config["maxTokens"] = max_tokens
        thinking = {"type": "enabled", "budget_tokens": budget}
    body["additionalModelRequestFields"] = {"thinking": thinking}
    config.pop("temperature", None)
    if "topP" in config and not openai_side.top_p_with_thinking(config["topP"]):
        config.pop("topP")
    if not config:
        body.pop("inferenceConfig")


def fit(body: dict[str, Any]) -> tuple[str, ...]:
    """With `enabled` thinking, when the last turn answers tool calls of an assistant turn that
    does not start with a `reasoningContent` block (Claude refuses it), the body without thinking,
    in place; the note of that change."""
    extra = body.get("additionalModelRequestFields")
    thinking = extra.get("thinking") if isinstance(extra, dict) else None
    messages = body.get("messages") or []
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled" or len(messages) < 2:
        return ()
    last, turn = messages[-1], messages[-2]
    if last.get("role") != "user" or not any("toolResult" in b for b in last.get("content") or ()):
        return ()
    content = turn.get("content") or [{}]
    if "reasoningContent" in content[0]:
        return ()
    del extra["thinking"]
    if not extra:
        body.pop("additionalModelRequestFields")
    openai_side.log.debug("bedrock: thinking_off", reason="the final tool turn has no Claude reasoning block")
    return (THINKING_OFF,)
