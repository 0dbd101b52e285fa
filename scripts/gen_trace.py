"""Generate a synthetic request trace for `gateway whatif --trace` (JSON Lines, token counts only).

    python scripts/gen_trace.py --requests-per-day 100000 --days 1 --seed 1 --out /tmp/trace.jsonl

Shape (see docs/cost.md): requests evenly spaced in time (so N requests over D days stand for
exactly D days), each with a task drawn from TASK_MIX and prompt / completion lengths drawn from a
log-normal distribution per task with the means and spreads in LENGTHS (clipped to [MIN, MAX]).

The lengths are calibrated to a 2026 industry pricing write-up:
100,000 requests a day all on gpt-5.5 ($5 in / $30 out per M tokens) cost about $4,500 a month,
i.e. about $0.0015 a request, so 5 x mean_in + 30 x mean_out ~= 1,500 for the mix below. Short
requests (a chat product, not a document pipeline) are what that figure implies.

Every line: {"ts", "task", "prompt_tokens", "completion_tokens", "user"}; `user` is one of
USERS end users so sticky experiments split the traffic as configured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.offline.sample_trace import LENGTHS, TASK_MIX, USERS, generate  # noqa: E402

__all__ = ["LENGTHS", "TASK_MIX", "USERS", "generate", "main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests-per-day", type=int, default=100_000)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="-", help="file to write (default: stdout)")
    args = p.parse_args(argv)
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    try:
        for line in generate(args.requests_per_day, args.days, args.seed):
            out.write(orjson.dumps(line) + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
