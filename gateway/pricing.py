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
    cache_write_tokens: int = 0  # prompt tokens written to the provider's cache (part of prompt_tokens)
    cache_write_1h_tokens: int = 0  # of those, written for an hour (Anthropic's 1-hour cache)
    web_searches: int = 0  # server-side web searches the provider ran (and bills per call)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def cost_micro(usage: Usage, price: Price) -> int:
    """Cost in micro-dollars, rounded up: cached input, cache writes (Anthropic bills them above
    the input price) and reasoning tokens at their own prices, the last when the provider bills
    them apart from (and not inside) the completion tokens."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    hour = min(usage.cache_write_1h_tokens, written)
    fresh = usage.prompt_tokens - cached - written
    write = price.input if price.cache_write is None else price.cache_write
    write_1h = write if price.cache_write_1h is None else price.cache_write_1h
    scaled = (fresh * price.input + cached * price.cached_input + (written - hour) * write + hour * write_1h
              + usage.completion_tokens * price.output)
    if price.reasoning is not None:
        reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
        scaled += reasoning * (price.reasoning - price.output)
    scaled += search_units(usage.web_searches, price) * price.web_search * 1_000  # per 1,000 calls, scaled to per million
    return max(0, -(-scaled // 1_000_000))  # tokens x micro-dollars per million, rounded up


def search_units(searches: int, price: Price) -> int:
    """How many web search charges `searches` calls make: one each, or one for the request
    (Gemini 2.x bills a grounded prompt once, whatever number of queries it ran; OpenAI's chat
    search models search for every request, and their answers say nothing of it)."""
    if price.web_search_every_request:
        return 1
    searches = max(0, searches)
    return min(searches, 1) if price.web_search_per_request else searches


def max_cost_micro(prompt_tokens: int, max_output_tokens: int, price: Price, searches: int = 0) -> int:
    """Worst-case cost of a request, reserved against budgets before the upstream call: every
    prompt token at the dearest input price it may be billed at (a cache write can cost more),
    plus the web searches the request allows (gateway.pipeline.searches)."""
    dearest_input = max(price.input, price.cache_write or 0, price.cache_write_1h or 0)
    scaled = prompt_tokens * dearest_input + max_output_tokens * max(price.output, price.reasoning or 0)
    scaled += search_units(searches, price) * price.web_search * 1_000
    return -(-scaled // 1_000_000)


def estimate_tokens(chars: int) -> int:
    """A cheap prompt-token estimate (about four characters a token), at least one."""
    return chars // 4 + 1
