"""Reading canonical SSE frames back, for translators that re-encode a stream."""

from __future__ import annotations

from typing import Any, Iterator

import orjson


def chunks(frames: bytes) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects in whole `data: {...}\\n\\n` frames. A frame that is not
    a JSON object (an OpenAI-compatible provider's oddity, relayed as is on the chat path) has
    nothing a translator could carry over: it is skipped."""
    for frame in frames.split(b"\n\n"):
        if not frame.startswith(b"data: "):
            continue
        try:
            chunk = orjson.loads(frame[6:])
        except orjson.JSONDecodeError:
            continue
        if isinstance(chunk, dict):
            yield chunk
