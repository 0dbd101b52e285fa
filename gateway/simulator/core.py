"""From a parsed `Ask` and the model's knobs to replies and token counts, format-neutral."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson

from .knobs import ModelKnobs
from .text import Ask, Reply, ToolCall, billed_prompt_tokens, generate, json_pieces


@dataclass(frozen=True, slots=True)
class Outcome:
    """All choices for one request plus the usage numbers every format reports.

    `output_tokens` includes `reasoning_tokens` (as OpenAI and Anthropic count
    them); Gemini reports the two separately.
    """

    replies: list[Reply]
    prompt_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    written_tokens: int = 0   # written to a marked prompt cache (anthropic_cache.py); not in cached_tokens
    written_ttl: str = "5m"

    @property
    def visible_tokens(self) -> int:
        return sum(r.output_tokens for r in self.replies)

    @property
    def output_tokens(self) -> int:
        return self.visible_tokens + self.reasoning_tokens


def target_tokens(knobs: ModelKnobs) -> int:
    return max(1, round(knobs.output_tokens * knobs.length_factor))


def answer(ask: Ask, texts: list[str], knobs: ModelKnobs, seed: int, id_prefix: str) -> Outcome:
    """Generate `ask.n` choices; prompt tokens come from `texts` (one per message) and their framing."""
    prompt = billed_prompt_tokens(texts)
    want = target_tokens(knobs)
    if knobs.tool_call is not None:
        echo = steer_tools(ask, knobs.tool_call)
        if echo is not None:
            return Outcome([echo] * ask.n, prompt, int(prompt * knobs.cache_ratio), knobs.reasoning_tokens)
    replies = [generate(ask, seed, i, want, id_prefix) for i in range(ask.n)]
    if knobs.reply_text is not None:
        replies = [scripted(r, knobs.reply_text, ask.max_tokens) for r in replies]
    if knobs.tool_args is not None:
        replies = [with_args(r, knobs.tool_args) for r in replies]
    cached = int(prompt * knobs.cache_ratio)
    return Outcome(replies, prompt, cached, knobs.reasoning_tokens)


def join_prompt(texts: list[str]) -> str:
    """The RNG key text for a conversation (format-independent)."""
    return "\x1f".join(texts)


def steer_tools(ask: Ask, tool_call: str) -> Reply | None:
    """The `tool_call` knob: "none" calls no tool unless the request forces one; a tool's name
    calls that tool whenever it is offered, and answers the conversation its result ends with
    "Tool result: <the result's text>", so a test sees that the result reached the model."""
    if ask.tool_choice not in (None, "auto", "required"):
        return None  # forced by name: the request decides
    if tool_call == "none":
        if ask.tool_choice != "required":
            ask.tools = []
        return None
    if ask.last_is_tool_result and ask.tool_result:
        words = ("Tool result: " + ask.tool_result[:400]).split()
        pieces = tuple(w if i == 0 else " " + w for i, w in enumerate(words))
        if ask.max_tokens is not None:
            pieces = pieces[: ask.max_tokens]
        return Reply(pieces, "stop", len(pieces))
    offered = [(name, schema) for name, schema in ask.tools if name == tool_call]
    if offered:
        ask.tools = offered
    return None


def scripted(reply: Reply, text: str, max_tokens: int | None) -> Reply:
    """The `reply_text` knob: a text answer says `text`, in 4-character pieces (so a stream splits
    a word across chunks), cut at max_tokens; a tool call is left as generated."""
    if reply.tool_call is not None or reply.is_json:
        return reply
    pieces = json_pieces(text)
    finish = "stop"
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces, finish = pieces[:max_tokens], "length"
    return Reply(pieces, finish, len(pieces))


def with_args(reply: Reply, args: dict) -> Reply:
    """A reply's tool call with the `tool_args` knob's arguments (a custom tool's call: its
    `input`, as the function a translating gateway offers in its place is called)."""
    call = reply.tool_call
    if call is None:
        return reply
    text = args["input"] if call.custom and isinstance(args.get("input"), str) else orjson.dumps(args).decode()
    pieces = json_pieces(text)
    return dataclasses.replace(reply, output_tokens=len(pieces),
                               tool_call=ToolCall(call.call_id, call.name, text, pieces, custom=call.custom))
