#!/usr/bin/env python
"""What native Gemini and Anthropic answers cost, and save, per request (best of 7 runs, three rounds):

- the check every chat request now pays (the OpenAI chat path included): is the request marked
  for its own format only (`native_only`), does the inbound answer natively, is this adapter its
  format (ChatAttempt);
- a Gemini stream (the golden `stream_text.sse`, 3 events) through its decoder and back to a
  Gemini client: re-encoded from canonical frames, against relayed as it came;
- a whole generateContent answer: canonical body → Gemini body, against the bytes as they came;
- the same for Anthropic: a web search answer (`message_web_search.json`, its model rewritten to
  the deployment's) and stream (`stream_web_search.sse`, 17 events), and Bedrock's event stream of
  11 base64 chunks unwrapped into plain SSE against re-encoded from canonical frames.

    python scripts/bench_native.py
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from gateway.inbound.anthropic import AnthropicMessages  # noqa: E402
from gateway.inbound.gemini import GeminiGenerate  # noqa: E402
from gateway.providers.bedrock.eventstream import EventStreamParser  # noqa: E402
from gateway.inbound.openai_chat import OpenAIChat  # noqa: E402
from gateway.pipeline.native import ProviderEvents  # noqa: E402
from gateway.providers import adapter_for  # noqa: E402
from gateway.providers.base import NATIVE, native_only  # noqa: E402
from gateway.pipeline.request import chat_request  # noqa: E402
from tests.providers.helpers import deployment, events  # noqa: E402
from tests.providers.test_bedrock_invoke import STREAM as BEDROCK_STREAM  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "tests/providers/golden/gemini"
DEP = deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com")
ADAPTER = adapter_for("gemini")
OPENAI = adapter_for("openai")
PAIRS = events("gemini/stream_text.sse")
CHAT = chat_request({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})
ANSWER = (GOLDEN / "response_text.json").read_bytes()
CLAUDE = deployment("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com")
CLAUDE_ANSWER = (GOLDEN.parent / "anthropic/message_web_search.json").read_bytes()
CLAUDE_PAIRS = events("anthropic/stream_web_search.sse")
BEDROCK = deployment("bedrock_anthropic", "claude-sonnet-4-5", "https://bedrock-runtime.us-east-1.amazonaws.com")
BEDROCK_PAIRS = [pair for raw in BEDROCK_STREAM for pair in EventStreamParser().feed(raw)]


def best_us(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=n, repeat=7)) / n * 1e6


def per_request_check() -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    inbound = OpenAIChat()

    def check() -> None:  # gateway.pipeline.chat and ChatAttempt, as written there
        _ = native_only(body) if NATIVE in body else None
        native = inbound if NATIVE in body and getattr(inbound, "native_format", "") else None
        _ = native if native is not None and OPENAI.native_format == native.native_format else None

    def empty() -> None:
        pass

    print(f"  per chat request (OpenAI chat inbound): {best_us(check, 200_000) * 1000:.0f} ns "
          f"(an empty call: {best_us(empty, 200_000) * 1000:.0f} ns)")


def stream(native: bool) -> bytes:
    inbound = GeminiGenerate("gemini-2.5-flash", streaming=True)
    decoder = ADAPTER.StreamDecoder(DEP, True)
    if native:
        decoder, encoder = ProviderEvents(decoder), inbound.native_stream(CHAT, DEP.upstream)
    else:
        encoder = inbound.stream(CHAT)
    out = [encoder.feed(b"".join(decoder.feed(e, d))) for e, d in PAIRS]
    decoder.finish()
    return b"".join(out) + encoder.finish()


def reply(native: bool) -> bytes:
    answer, _ = ADAPTER.from_upstream(ANSWER, DEP)  # read for the usage either way
    inbound = GeminiGenerate("gemini-2.5-flash")
    return inbound.native_reply(ANSWER, CHAT, DEP.upstream) if native else inbound.reply(answer, CHAT)


def claude_stream(dep, pairs, native: bool) -> bytes:  # type: ignore[no-untyped-def]
    inbound = AnthropicMessages()
    decoder = adapter_for(dep.provider.format).StreamDecoder(dep, True)
    if native:
        decoder, encoder = ProviderEvents(decoder), inbound.native_stream(CHAT, dep.upstream)
    else:
        encoder = inbound.stream(CHAT)
    out = [encoder.feed(b"".join(decoder.feed(e, d))) for e, d in pairs]
    return b"".join(out) + encoder.feed(b"".join(decoder.finish())) + encoder.finish()


def claude_reply(native: bool) -> bytes:
    answer, _ = adapter_for("anthropic").from_upstream(CLAUDE_ANSWER, CLAUDE)
    inbound = AnthropicMessages()
    return inbound.native_reply(CLAUDE_ANSWER, CHAT, CLAUDE.upstream) if native else inbound.reply(answer, CHAT)


def main() -> None:
    for round_ in range(3):
        print(f"round {round_ + 1}")
        per_request_check()
        print(f"  Gemini stream, 3 events: {best_us(lambda: stream(False), 5_000):.1f} us re-encoded, "
              f"{best_us(lambda: stream(True), 5_000):.1f} us as it came")
        print(f"  Gemini answer: {best_us(lambda: reply(False), 5_000):.1f} us re-encoded, "
              f"{best_us(lambda: reply(True), 5_000):.1f} us as it came")
        print(f"  Anthropic answer (web search): {best_us(lambda: claude_reply(False), 5_000):.1f} us re-encoded, "
              f"{best_us(lambda: claude_reply(True), 5_000):.1f} us as it came")
        for name, dep, pairs in (("Anthropic stream, 17 events", CLAUDE, CLAUDE_PAIRS),
                                 ("Bedrock InvokeModel stream, 11 chunks", BEDROCK, BEDROCK_PAIRS)):
            print(f"  {name}: {best_us(lambda: claude_stream(dep, pairs, False), 2_000):.1f} us re-encoded, "
                  f"{best_us(lambda: claude_stream(dep, pairs, True), 2_000):.1f} us as it came")


if __name__ == "__main__":
    main()
