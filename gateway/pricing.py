"""Usage blocks and their cost in integer micro-dollars, through one function.

Prices are kept as micro-dollars per million tokens, so a cost is an exact integer: no float
ever reaches a budget counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Price


@dataclass(slots=True)
class Usage:
    """Token counts of one request, in the provider-neutral shape every translator maps onto."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    reported: bool = False  # False: counted by the gateway on the way through (stream cut short)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def cost_micro(usage: Usage, price: Price) -> int:
    """Cost in micro-dollars, rounded up: cached input at its own price, reasoning tokens at theirs
    when the provider bills them apart from (and not inside) the completion tokens."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    scaled = fresh * price.input + cached * price.cached_input + usage.completion_tokens * price.output
    if price.reasoning is not None:
        reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
        scaled += reasoning * (price.reasoning - price.output)
    return max(0, -(-scaled // 1_000_000))  # tokens x micro-dollars per million, rounded up


def max_cost_micro(prompt_tokens: int, max_output_tokens: int, price: Price) -> int:
    """Worst-case cost of a request, reserved against budgets before the upstream call."""
    scaled = prompt_tokens * price.input + max_output_tokens * max(price.output, price.reasoning or 0)
    return -(-scaled // 1_000_000)


def estimate_tokens(chars: int) -> int:
    """A cheap prompt-token estimate (about four characters a token), at least one."""
    return chars // 4 + 1
