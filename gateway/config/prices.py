"""A model's `price`: USD per million tokens in the file, integer micro-dollars per million in
`Price`, with the defaults that keep a short price list from under-counting."""

from __future__ import annotations

from typing import Any

from gateway.config.aws import CLAUDE_ID
from gateway.config.model import Price, Provider
from gateway.config.reader import Reader, usd_to_micro

FIELDS = {"input", "output", "cached_input", "reasoning", "cache_write", "cache_write_1h"}


def cache_write_defaults(provider: Provider, upstream: str, input_micro: int) -> tuple[int | None, int | None]:
    """Claude bills a prompt token written to its cache at 1.25 x input (5-minute cache) or 2 x
    (1 hour), on Anthropic, Vertex and Bedrock alike: the default for Claude deployments, so a
    price list without these fields never under-counts. Other providers bill no write."""
    claude = provider.format in ("anthropic", "vertex_anthropic", "bedrock_anthropic") or (
        provider.format == "bedrock" and CLAUDE_ID.search(upstream) is not None)
    return (-(-input_micro * 5 // 4), 2 * input_micro) if claude else (None, None)


def parse_price(r: Reader, doc: dict[str, Any], path: str, provider: Provider, upstream: str) -> Price:
    r.known(doc, path, FIELDS)
    pin = r.number(doc, "input", path)
    write, write_1h = cache_write_defaults(provider, upstream, usd_to_micro(pin))

    def optional(field: str, default: int | None) -> int | None:
        return usd_to_micro(r.number(doc, field, path)) if doc.get(field) is not None else default

    return Price(
        input=usd_to_micro(pin),
        output=usd_to_micro(r.number(doc, "output", path, 0.0)),
        cached_input=usd_to_micro(r.number(doc, "cached_input", path, pin)),
        reasoning=optional("reasoning", None),
        cache_write=optional("cache_write", write),
        cache_write_1h=optional("cache_write_1h", write_1h),
    )
