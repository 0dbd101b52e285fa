#!/usr/bin/env python
"""Time the guardrail scan: one text through every built-in detector, and whole requests through
a policy (`gateway.guard.apply.check`), median of `--n` calls after a warm-up, in µs.

Texts: a one-line prompt, and an 8,000-character prompt (prose, code and numbers that look like
findings but are not: dates, prices, versions, UUIDs, order numbers) without findings and with a
few (an e-mail, a phone number, a card, a key). Requests: Claude Code's late-session Anthropic
body (~50 kB, `scripts/agent_bodies.py`, the canonical messages and the client's own copy both
scanned) and the same conversation as an OpenAI chat body, each under `redact` and `log` (a fresh
body per call), as a session's first turn (the scanner's memo of long texts empty) and as a later
turn (the memo holding the texts the turn before also sent). Text rows start with the memo empty.
Answers (a policy's `output`): 1 kB of answer streamed as canonical chunks of 4 characters (a
token each, as providers send them) through `GuardedStream` (gateway/guard/stream.py), without
and with findings, against the same frames with no policy; and the same kB as a whole answer.

    python scripts/bench_guard.py [--n 200]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import orjson  # noqa: E402
from agent_bodies import claude_code, openai_chat  # noqa: E402

from gateway.config.guardrails import parse_guardrails  # noqa: E402
from gateway.config.reader import Reader  # noqa: E402
from gateway.guard.answer import check_answer  # noqa: E402
from gateway.guard.apply import check  # noqa: E402
from gateway.guard.detectors import BUILTIN  # noqa: E402
from gateway.guard.scanner import Scanner  # noqa: E402
from gateway.guard.stream import GuardedStream  # noqa: E402
from gateway.inbound.anthropic import AnthropicMessages  # noqa: E402
from gateway.inbound.openai_chat import OpenAIChat  # noqa: E402
from gateway.pipeline.record import Call  # noqa: E402

ONE_LINE = "Summarise the attached quarterly report in three bullet points for the board meeting."
FILLER = ("The release on 2024-03-15 moved the service to version 2.14.3 and cut p99 latency from 840 ms to "
          "310 ms; order 100234 shipped for $1,249.99 (request id 123e4567-e89b-12d3-a456-426614174000). "
          "def total(items):\n    return sum(i.price * i.qty for i in items)  # 3.14159 rounding\n")
HITS = (" Reach me at dana.miller@example.com or +44 20 7946 0958; the card is 4111 1111 1111 1111 and the "
        "key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t. ")


def long_text(hits: bool) -> str:
    text = (FILLER * 40)[:8000 - (len(HITS) if hits else 0)]
    return text[:4000] + HITS + text[4000:] if hits else text


def timed(fn: Callable[[], Any], n: int) -> float:
    for _ in range(min(20, n)):
        fn()
    runs = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    scanner = Scanner(tuple(BUILTIN.values()))
    rows: list[tuple[str, float, str]] = []
    for name, text in (("one line", ONE_LINE), ("8,000 chars, no findings", long_text(False)),
                       ("8,000 chars, 4 findings", long_text(True))):
        def cold(t: str = text) -> None:
            scanner.clear()
            scanner.find(t)
        rows.append((f"text: {name}", timed(cold, n), f"{len(scanner.find(text))} found"))
    policies = parse_guardrails(Reader("bench"), {
        "redact": {"detect": list(BUILTIN), "action": "redact"},
        "log": {"detect": list(BUILTIN), "action": "log"}})
    anthropic = AnthropicMessages()
    raw = orjson.dumps(claude_code())
    chat_body = openai_chat()
    for label, make in (("Claude Code body (Anthropic: canonical + own copy)", lambda: anthropic.parse(raw).body),
                        ("the same as an OpenAI chat body", lambda: copy.deepcopy(chat_body))):
        size = len(orjson.dumps(make()))
        for action in ("redact", "log"):
            policy = policies[action]
            bodies = iter([make() for _ in range(2 * n + 40)])

            def first_turn() -> None:
                policy.scanner.clear()
                check(policy, next(bodies))

            rows.append((f"request: {label}, {action}, first turn", timed(first_turn, n), f"{size // 1000} kB"))
            rows.append((f"request: {label}, {action}, next turn", timed(lambda: check(policy, next(bodies)), n),
                         "long texts seen before"))
    rows += answers(policies["redact"], n)
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'µs':>9}  note")
    for what, us, note in rows:
        print(f"{what:<{width}}  {us:>9.1f}  {note}")


def frames_of(text: str) -> list[bytes]:
    """`text` as canonical chunks of 4 characters, then the finish."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return b"data: " + orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                         "model": "m", "choices": [{"index": 0, "delta": delta,
                                                                    "finish_reason": finish}]}) + b"\n\n"
    return [chunk({"content": text[i:i + 4]}) for i in range(0, len(text), 4)] + [chunk({}, "stop")]


def answers(policy: Any, n: int) -> list[tuple[str, float, str]]:
    """A policy's `output` (here: every built-in detector, redact) on 1 kB of answer."""
    output = policy.__class__(policy.name, policy.action, Scanner(policy.scanner.detectors, remember=False))
    rows = []
    for name, text in (("no findings", long_text(False)[:1000]), ("4 findings", (HITS + long_text(False))[:1000])):
        frames = frames_of(text)
        encoder = OpenAIChat()

        def plain() -> None:
            enc = encoder.stream(None)  # type: ignore[arg-type]
            for f in frames:
                enc.feed(f)
            enc.finish()

        def guarded() -> None:
            enc = GuardedStream(encoder.stream(None), output, Call.start(None))  # type: ignore[arg-type]
            for f in frames:
                enc.feed(f)
            enc.finish()

        base = timed(plain, n)
        rows.append((f"answer stream: 1 kB in 4-char chunks, {name}, redact", timed(guarded, n),
                     f"{len(frames)} frames; {base:.0f} µs without a policy"))
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        rows.append((f"whole answer: 1 kB, {name}, redact",
                     timed(lambda: check_answer(output, copy.deepcopy(answer)), n), ""))
    return rows


if __name__ == "__main__":
    main()
