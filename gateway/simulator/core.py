"""From a parsed `Ask` and the model's knobs to replies and token counts, format-neutral."""

from __future__ import annotations

from dataclasses import dataclass

from .knobs import ModelKnobs
from .text import Ask, Reply, billed_prompt_tokens, generate


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
    replies = [generate(ask, seed, i, want, id_prefix) for i in range(ask.n)]
    cached = int(prompt * knobs.cache_ratio)
    return Outcome(replies, prompt, cached, knobs.reasoning_tokens)


def join_prompt(texts: list[str]) -> str:
    """The RNG key text for a conversation (format-independent)."""
    return "\x1f".join(texts)
