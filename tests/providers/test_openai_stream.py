"""The OpenAI stream decoder relays plain content chunks unparsed, and still gets usage, errors
and the content-length estimate right."""

from __future__ import annotations

import orjson
import pytest

from gateway.providers import openai as oa
from gateway.providers import StreamError
from gateway.providers.openai import StreamDecoder
from tests.providers.helpers import deployment

DEP = deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1")


def chunk(content: str | None = None, usage: dict | None = None, usage_key: bool = True, spaced: bool = False) -> bytes:
    body: dict = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
                  "choices": [] if content is None else [{"index": 0, "delta": {"content": content}}]}
    if usage_key:
        body["usage"] = usage
    if spaced:  # another server's spacing: `"usage": null`
        return orjson.dumps(body).replace(b'":', b'": ')
    return orjson.dumps(body)


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@pytest.mark.parametrize("spaced", [False, True])
@pytest.mark.parametrize("include_usage", [False, True])
def test_content_relayed_as_is_usage_taken_and_dropped_unless_asked(include_usage: bool, spaced: bool) -> None:
    d = StreamDecoder(DEP, include_usage)
    frames = [chunk("Hel", spaced=spaced), chunk('lo "usage" \\"x\\"', spaced=spaced),
              chunk(usage=USAGE, spaced=spaced)]
    out = [f for data in frames for f in d.feed(b"", data)]
    assert d.feed(b"", b"[DONE]") == [] and d.done
    d.finish()
    assert out[:2] == [b"data: " + frames[0] + b"\n\n", b"data: " + frames[1] + b"\n\n"]
    assert out[2:] == ([b"data: " + frames[2] + b"\n\n"] if include_usage else [])
    assert (d.usage.prompt_tokens, d.usage.completion_tokens) == (11, 7)


@pytest.mark.parametrize("n", [3, StreamDecoder.DEFER_LIMIT * 2 + 5])
def test_without_usage_the_content_is_counted_at_the_end(n: int) -> None:
    d = StreamDecoder(DEP, False)
    for _ in range(n):
        d.feed(b"", chunk("abcd", usage_key=False))
    d.finish()
    reference = StreamDecoder(DEP, False)
    reference._chars = 4 * n
    reference.finish()
    assert not d.usage.reported and d.usage.completion_tokens == reference.usage.completion_tokens > 0
    assert len(d._deferred) == 0


def test_error_event_and_garbage_are_parsed_and_raise() -> None:
    with pytest.raises(StreamError):
        StreamDecoder(DEP, False).feed(b"", b'{"error": {"message": "overloaded", "code": "server_error"}}')
    with pytest.raises(ValueError):
        StreamDecoder(DEP, False).feed(b"", b"not json")
    with pytest.raises(ValueError):
        StreamDecoder(DEP, False).feed(b"", b"[1, 2]")


def test_has_usage_sees_the_key_not_text() -> None:
    assert oa._has_usage(b'{"usage":{"prompt_tokens":1}}')
    assert oa._has_usage(b'{"usage" : {"prompt_tokens":1}}')
    assert not oa._has_usage(b'{"usage":null}')
    assert not oa._has_usage(b'{"usage": null}')
    assert not oa._has_usage(b'{"choices":[{"delta":{"content":"the \\"usage\\" key"}}]}')
