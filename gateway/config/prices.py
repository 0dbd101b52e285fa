"""A model's `price`: USD per million tokens in the file, integer micro-dollars per million in
`Price`, with the defaults that keep a short price list from under-counting."""

from __future__ import annotations

import re
from typing import Any

from gateway.config.aws import CLAUDE_ID
from gateway.config.media import MEDIA_FIELDS
from gateway.config.model import Price, Provider
from gateway.config.reader import Reader, usd_to_micro

FIELDS = {"input", "output", "cached_input", "reasoning", "cache_write", "cache_write_1h", "web_search",
          "web_search_unit"}
SEARCH_UNITS = ("call", "request")  # a charge per search call, or one per request that searched
GEMINI_2 = re.compile(r"gemini-(1|2)[.-]")  # Gemini 2.x and older bill grounding per grounded prompt


def cache_write_defaults(provider: Provider, upstream: str, input_micro: int) -> tuple[int | None, int | None]:
    """Claude bills a prompt token written to its cache at 1.25 x input (5-minute cache) or 2 x
    (1 hour), on Anthropic, Vertex and Bedrock alike: the default for Claude deployments, so a
    price list without these fields never under-counts. Other providers bill no write."""
    claude = provider.format in ("anthropic", "vertex_anthropic", "bedrock_anthropic") or (
        provider.format == "bedrock" and CLAUDE_ID.search(upstream) is not None)
    return (-(-input_micro * 5 // 4), 2 * input_micro) if claude else (None, None)


UNCOUNTED_FORMATS = ("openai", "azure")  # chat completions: a search model's answer reports no search count


def web_search_defaults(provider: Provider, upstream: str) -> tuple[float, str]:
    """List prices of the server-side web search, USD per 1,000, and what one is, per wire format
    (docs/cost.md, "Server-side tools"): Claude's web search tool $10 per 1,000 searches; OpenAI's
    `web_search` tool $10 per 1,000 calls; Gemini's grounding with Google Search $14 per 1,000
    search queries on Gemini 3, $35 per 1,000 grounded prompts on Gemini 2.x. Formats whose
    answers carry no count (chat completions, Bedrock Converse) default to 0."""
    fmt = provider.format
    if fmt in ("anthropic", "vertex_anthropic", "bedrock_anthropic", "openai_responses"):
        return 10.0, "call"
    if fmt in ("gemini", "vertex_gemini"):
        return (35.0, "request") if GEMINI_2.search(upstream) else (14.0, "call")
    return 0.0, "call"


def parse_price(r: Reader, doc: dict[str, Any], path: str, provider: Provider, upstream: str) -> Price:
    r.known(doc, path, FIELDS | MEDIA_FIELDS)
    for name in MEDIA_FIELDS & set(doc):
        raise r.fail(f"{path}.{name}", name, "only a media model (`kind: transcription`, `speech`, `image`, "
                                             "`moderation`) is priced in these units")
    pin = r.number(doc, "input", path)
    write, write_1h = cache_write_defaults(provider, upstream, usd_to_micro(pin))
    search, unit = web_search_defaults(provider, upstream)

    def optional(field: str, default: int | None) -> int | None:
        return usd_to_micro(r.number(doc, field, path)) if doc.get(field) is not None else default

    search_micro = usd_to_micro(r.number(doc, "web_search", path, search))
    per_request = r.string(doc, "web_search_unit", path, unit, SEARCH_UNITS) == "request"
    return Price(
        input=usd_to_micro(pin),
        output=usd_to_micro(r.number(doc, "output", path, 0.0)),
        cached_input=usd_to_micro(r.number(doc, "cached_input", path, pin)),
        reasoning=optional("reasoning", None),
        cache_write=optional("cache_write", write),
        cache_write_1h=optional("cache_write_1h", write_1h),
        web_search=search_micro,
        web_search_per_request=per_request,
        # chat-completions answers carry no search count: a declared per-request fee is every answer's
        web_search_every_request=per_request and search_micro > 0 and provider.format in UNCOUNTED_FORMATS,
    )
