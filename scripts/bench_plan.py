#!/usr/bin/env python
"""Benchmark planning: what the chat pipeline's step 4 costs per request with the demo config.

Times, in thread-CPU microseconds per request (median of rounds), what chat.py does before
admit to choose the deployments: reading the request's needs (when a model declares
`supports`) and `Planner.plan` with the conversation for pool affinity, on an `auto` request
with a system prompt. Features the checked-out code does not have yet are left out, so an older
commit's figure is what its own pipeline did.

    python scripts/bench_plan.py [--src DIR] [--rounds 30] [--calls 2000]

``--src`` benchmarks the ``gateway`` package in another directory (a ``git worktree`` of an older
commit); run this checkout's and the other's alternately, in the same minutes, to compare them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent


def planner_call(src: Path) -> Callable[[], Any]:
    sys.path.insert(0, str(src))
    import yaml

    from gateway.config import ApiKey, parse_config
    from gateway.routing.plan import Planner
    text = (src / "configs" / "demo.yaml").read_text()
    text = text.replace("${SIMULATOR_PORT:-9100}", "9100").replace("${SIMULATOR_HOST:-127.0.0.1}", "127.0.0.1")
    planner = Planner(parse_config(yaml.safe_load(text), "demo.yaml", {"SIMULATOR_API_KEY": "x"}))
    key = ApiKey(name="bench", sha256=b"\0" * 32)
    body = {"model": "auto", "messages": [
        {"role": "system", "content": "You are a helpful assistant for Acme support. " * 4},
        {"role": "user", "content": "Write a haiku about Redis"}]}
    try:
        from gateway.routing.needs import NO_NEEDS, request_needs
    except ImportError:  # before capability-aware routing
        return lambda: planner.plan("auto", key, 600, None, "simple_chat", 0.9, "user-1")

    def call() -> Any:
        needs = request_needs(body) if planner.checks_needs else NO_NEEDS
        return planner.plan("auto", key, 600, None, "simple_chat", 0.9, "user-1", needs=needs,
                            conversation=body["messages"])
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--src", type=Path, default=ROOT)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    call = planner_call(args.src.resolve())
    for _ in range(args.calls):
        call()
    samples = []
    for _ in range(args.rounds):
        start = time.thread_time_ns()
        for _ in range(args.calls):
            call()
        samples.append((time.thread_time_ns() - start) / args.calls / 1000)
    print(f"{args.src}: plan p50 {statistics.median(samples):.2f} us/request "
          f"[{min(samples):.2f}-{max(samples):.2f}] thread CPU, {args.rounds} rounds of {args.calls}")


if __name__ == "__main__":
    main()
