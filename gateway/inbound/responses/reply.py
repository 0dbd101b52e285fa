"""Canonical answers → Response objects: the request's echo, output items, status and usage.

One `Turn` per request holds what the answer needs besides the canonical body (the id, the
echoed request fields) and, once answered, what response storage keeps: the conversation as
chat messages and the answer's output as chat messages. Claude's signed thinking blocks
(`thinking_blocks`) become one `reasoning` item each, first in the output (thinking.py); a
function call Gemini signed gets a `reasoning` item carrying its signature just before it
(signatures.py). The items of the message's `reasoning_items` (a Responses deployment's reasoning
and hosted tools' items, and the `web_search_call` item of each search any other provider ran:
gateway.providers.search_options) come before the message, whole.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.inbound.responses import signatures
from gateway.inbound.responses.thinking import seal
from gateway.pipeline.request import ChatRequest
from gateway.providers.openai_responses import citations
from gateway.providers.openai_responses.request import REASONING
from gateway.providers.openai_side import signed_thinking

ECHOED = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "previous_response_id",
          "temperature", "tool_choice", "tools", "top_p", "truncation", "user", "reasoning", "text")
DEFAULTS: dict[str, Any] = {"instructions": None, "max_output_tokens": None, "metadata": {},
                            "parallel_tool_calls": True, "previous_response_id": None, "temperature": 1.0,
                            "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
                            "user": None, "reasoning": {"effort": None, "summary": None},
                            "text": {"format": {"type": "text"}}}
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


@dataclass(slots=True)
class Turn:
    """One Responses request beside its canonical form."""

    id: str
    created_at: int
    echo: dict[str, Any]
    keep: bool                                   # stored once answered (storage on, `store` not false)
    history: list[dict[str, Any]] = field(default_factory=list)   # chat messages to store, without instructions
    answer: list[dict[str, Any]] = field(default_factory=list)    # the answer as chat messages

    @classmethod
    def of(cls, body: dict[str, Any], keep: bool) -> "Turn":
        echo = {name: body[name] if body.get(name) is not None else DEFAULTS[name] for name in ECHOED}
        echo["store"] = keep
        return cls(new_id("resp_"), int(time.time()), echo, keep)

    @property
    def summaries(self) -> bool:
        """Whether the client asked for reasoning summaries (`reasoning.summary`)."""
        asked = self.echo["reasoning"]
        return isinstance(asked, dict) and bool(asked.get("summary") or asked.get("generate_summary"))


@dataclass(slots=True)
class ResponsesRequest(ChatRequest):
    """The canonical request with its Responses-side `Turn`."""

    turn: Turn | None = None


def response_object(turn: Turn, model: str, status: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
    reason = INCOMPLETE.get(finish or "")
    if reason is not None and status == "completed":
        status = "incomplete"
    return {"id": turn.id, "object": "response", "created_at": turn.created_at, "status": status,
            "error": None, "incomplete_details": {"reason": reason} if reason else None, "model": model,
            "output": output, **turn.echo, "usage": usage}


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Canonical (chat) usage → Responses usage."""
    if not usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    cached, written = details.get("cached_tokens") or 0, details.get("cache_write_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    inp, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written}, "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": inp + out}


def message_item(item_id: str, text: str, status: str = "completed",
                 notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [text_part(text, notes)] if status == "completed" else []}


def text_part(text: str, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An `output_text` part; `notes` are its annotations in the Responses form (a web search's
    `url_citation`s)."""
    return {"type": "output_text", "text": text, "annotations": notes or [], "logprobs": []}


def annotations_of(message: dict[str, Any], base: int = 0) -> list[dict[str, Any]]:
    """A canonical message's or delta's annotations in the Responses form, for a text part that
    starts at `base` in the message's content."""
    return [a for a in (citations.from_chat(x, base) for x in citations.of_message(message)) if a]


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def custom_item(item_id: str, call_id: str, name: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "custom_tool_call", "status": status, "call_id": call_id, "name": name,
            "input": text}


def chat_call(call_id: str, name: str, text: str, custom: bool, signature: str | None = None) -> dict[str, Any]:
    """A call in the canonical (chat) shape: a function's arguments, or a custom tool's input,
    with Gemini's thought signature when it has one (kept with a stored turn)."""
    if custom:
        return signatures.signed_call({"id": call_id, "type": "custom", "custom": {"name": name, "input": text}},
                                      signature)
    return signatures.signed_call({"id": call_id, "type": "function", "function": {"name": name, "arguments": text}},
                                  signature)


def thinking_item(block: dict[str, Any], summary: bool) -> dict[str, Any]:
    """A signed thinking block as a reasoning item: the block sealed in `encrypted_content`
    (always: the gateway keeps no item a client could name by id), its text as the summary when
    the client asked for summaries."""
    text = block.get("thinking") if summary else None
    return {"id": new_id("rs_"), "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}] if text else [], "encrypted_content": seal([block])}


def answered(text: str | None, calls: list[dict[str, Any]], reasoning: list[dict[str, Any]] | None = None,
             thinking: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The answer as chat messages, for storage: one assistant turn with its text and calls (in
    the chat shape), the reasoning items a Responses deployment gave (sent back to one with the
    conversation) and Claude's signed thinking blocks (sent back to Claude)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message[REASONING] = reasoning
    if thinking:
        message["thinking_blocks"] = thinking
    return [message] if text or calls else []


def reasoning_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The Responses API output items a canonical message or delta carries whole (from a
    `format: openai_responses` deployment): reasoning items and hosted tools' items."""
    items = message.get(REASONING)
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("type"), str)] if isinstance(items, list) else []


def from_completion(body: dict[str, Any], turn: Turn) -> dict[str, Any]:
    """A canonical chat completion → the Response object (its first choice)."""
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content")
    reasoning = reasoning_items(message)
    thinking = signed_thinking(message.get("thinking_blocks"))
    # Claude thinks before it searches; a Responses deployment's items come in their own order
    output: list[dict[str, Any]] = [*(thinking_item(b, turn.summaries) for b in thinking), *reasoning]
    if isinstance(text, str) and text:
        output.append(message_item(new_id("msg_"), text, notes=annotations_of(message)))
    calls = []
    for call in message.get("tool_calls") or ():
        custom = call.get("type") == "custom"
        fn = call.get("custom" if custom else "function") or {}
        said = fn.get("input" if custom else "arguments")
        said = said if isinstance(said, str) else "" if custom else "{}"
        signature = signatures.signature_of(call)
        calls.append(chat_call(call.get("id") or new_id("call_"), fn.get("name") or "", said, custom, signature))
        if signature:
            output.append(signatures.item(new_id("rs_"), calls[-1]["id"], signature))
        item = custom_item if custom else call_item
        output.append(item(new_id("ctc_" if custom else "fc_"), calls[-1]["id"], fn.get("name") or "", said))
    turn.answer = answered(text if isinstance(text, str) else None, calls, reasoning, thinking)
    return response_object(turn, body.get("model") or "", "completed", output, usage_of(body.get("usage")),
                           choice.get("finish_reason"))
