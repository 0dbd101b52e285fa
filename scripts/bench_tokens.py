"""p50/p99 of gateway.pipeline.tokens on the hot path's inputs: a one-line prompt and 8,000 characters.

    python scripts/bench_tokens.py [--rounds 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.pipeline.tokens import chat_prompt_bound, text_bound  # noqa: E402

CASES = {
    "one line (en)": "Write a haiku about Redis",
    "8,000 chars (en prose+code)": (Path(__file__).resolve().parent.parent / "README.md").read_text()[:8000],
    "8,000 chars (zh)": ("数据库连接池在高并发下耗尽，请帮我分析原因并给出修复方案。" * 300)[:8000],
    "8,000 chars (ru)": ("Пожалуйста, кратко перескажи эту переписку с клиентом. " * 200)[:8000],
}


def timed(fn, arg, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn(arg)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20000)
    rounds = ap.parse_args().rounds
    print("| input | text_bound p50 / p99 (us) | chat_prompt_bound p50 / p99 (us) |\n|---|---|---|")
    for name, text in CASES.items():
        body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        t50, t99 = timed(text_bound, text, rounds)
        c50, c99 = timed(chat_prompt_bound, body, rounds)
        print(f"| {name} | {t50:.1f} / {t99:.1f} | {c50:.1f} / {c99:.1f} |")


if __name__ == "__main__":
    main()
