"""The prompt-prefix cache of the APIs that cache only a prefix the request marks: Bedrock
Converse's `cachePoint` blocks (bedrock_extras.py) and Claude's `cache_control` marks
(anthropic_cache.py). Each mark closes a prefix; a prefix of at least MIN_CACHE_TOKENS that an
earlier request of the model wrote is read (the longest one read), and the rest of the prompt up
to the last mark is written, for the next request that repeats it. The cache lives as long as the
simulator (or until `/_sim/reset`).
"""

from __future__ import annotations

MIN_CACHE_TOKENS = 1024  # Claude's smallest cacheable prefix (Claude 3.7 Sonnet, Sonnet 4, Opus 4)
MAX_CACHE_POINTS = 4


def cache_use(found: list[tuple[str, int]], cache: set[str], prompt: int) -> tuple[int, int] | None:
    """(tokens read, tokens written) for a request whose marks close the prefixes `found` ((key,
    prompt tokens) each, in order); None without any."""
    points = [(key, min(tokens, prompt)) for key, tokens in found]
    if not points:
        return None
    points = [(key, tokens) for key, tokens in points if tokens >= MIN_CACHE_TOKENS]
    read = max((tokens for key, tokens in points if key in cache), default=0)
    last = points[-1][1] if points else 0
    cache.update(key for key, _ in points)
    return read, max(0, last - read)
