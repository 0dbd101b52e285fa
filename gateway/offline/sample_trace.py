"""The built-in sample trace of `gateway whatif` (and `scripts/gen_trace.py`): token counts only,
shaped after a 2026 industry pricing write-up (100,000 requests a day all on gpt-5.5 cost about
$4,500 a month). See docs/cost.md for its shape and why its requests are short.

Requests are evenly spaced in time (so N requests over D days stand for exactly D days), each with
a task drawn from TASK_MIX and prompt / completion lengths drawn from a log-normal distribution
per task with the means and spreads in LENGTHS (clipped to [MIN, MAX]). Every line: {"ts",
"task", "prompt_tokens", "completion_tokens", "user"}; `user` is one of USERS end users, so
sticky experiments split the traffic as configured.
"""

from __future__ import annotations

import math
import random
from typing import Iterator

START_TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z
USERS = 5_000

# share of requests per task (the write-up: the frontier model serves ~15% of requests)
TASK_MIX: dict[str, float] = {
    "simple_chat": 0.55,
    "summarization": 0.20,
    "code_generation": 0.10,
    "complex_reasoning": 0.15,
}

# task -> (mean prompt tokens, sigma of ln), (mean completion tokens, sigma of ln)
LENGTHS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "simple_chat": ((70, 0.6), (18, 0.5)),
    "summarization": ((320, 0.7), (30, 0.4)),
    "code_generation": ((160, 0.8), (45, 0.7)),
    "complex_reasoning": ((150, 0.7), (41, 0.6)),
}
MIN_TOKENS, MAX_PROMPT, MAX_COMPLETION = 1, 20_000, 8_000


def _lognormal(rng: random.Random, mean: float, sigma: float, hi: int) -> int:
    mu = math.log(mean) - sigma * sigma / 2  # so that E[exp(N(mu, sigma))] == mean
    return max(MIN_TOKENS, min(hi, round(rng.lognormvariate(mu, sigma))))


def generate(requests_per_day: int, days: float, seed: int) -> Iterator[dict]:
    rng = random.Random(seed)
    n = int(round(requests_per_day * days))
    tasks = list(TASK_MIX)
    weights = [TASK_MIX[t] for t in tasks]
    step = days * 86_400.0 / max(1, n)
    for i in range(n):
        task = rng.choices(tasks, weights)[0]
        (pin, sin), (pout, sout) = LENGTHS[task]
        yield {
            "ts": round(START_TS + i * step, 3),
            "task": task,
            "prompt_tokens": _lognormal(rng, pin, sin, MAX_PROMPT),
            "completion_tokens": _lognormal(rng, pout, sout, MAX_COMPLETION),
            "user": f"u{rng.randrange(USERS)}",
        }
