"""Engine time per admit and per settle, for one or several checkouts, interleaved.

Each run starts a fresh engine (gateway.state.engine.start_single), loads the scripts through the
checkout's own StateStore, and sends N sequential admit+settle pairs for two cases:

  config  a key of the config file, no team (key rpm/tpm, a key and a global budget, a paced
          daily budget, one candidate with rpm/tpm)
  team    a runtime key (monthly budget) in a team with rpm, tpm, daily and monthly budgets
          (skipped for a checkout without runtime keys)

The engine's own accounting gives the figures: `INFO commandstats` before and after each call,
so `usec` of cmdstat_evalsha is each script run's time in the engine (no client, no network), and
the other commands' `calls` are the redis.call()s the script made. The figure is the median run
(a run the loaded machine descheduled midway does not move it); the mean is printed too.

    python -m bench.engine_cost --trees /tmp/engine-old . --rounds 3 -n 1500

runs `--rounds` rounds; in each, every tree (in alternating order) runs once in its own process
with that tree first on PYTHONPATH. Prints µs per admit and per settle (median of the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

DAY = "2026-11-30"


def _stats(info: dict) -> tuple[int, int, int]:
    """(evalsha calls, evalsha usec, calls of every other command) from INFO commandstats."""
    ev = info.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    other = sum(v["calls"] for k, v in info.items() if k not in ("cmdstat_evalsha", "cmdstat_info"))
    return ev["calls"], ev["usec"], other


async def _case(store, raw, case: str, n: int) -> dict:
    from gateway.state import store as st

    fields = {f.name for f in dataclasses.fields(st.SettleRequest)}
    pace = st.PaceArgs(50_000_000_000, 0)
    cand = st.Candidate("dep-a", 100_000_000, 1_000_000_000, 2_000, st.BreakerParams())
    extra: dict = {}
    key = "demo"
    if case == "team":
        from gateway.state.records import Records

        rec = Records(store)
        await rec.team_write("create", "team-a", "bench", {"rpm": "100000000", "tpm": "1000000000",
                                                           "daily_micro": "90000000000",
                                                           "monthly_micro": "900000000000"})
        digest = hashlib.sha256(b"bench-secret").hexdigest()
        await rec.key_write("create", "key-a", "bench", {"name": "a", "team": "team-a",
                                                          "monthly_micro": "800000000000"}, digest)
        version = (await rec.key("key-a")).version
        key = "key-a"
        extra = dict(key_id="key-a", key_version=version, team="team-a", key_monthly_micro=800_000_000_000)
    adm_us: list[int] = []
    set_us: list[int] = []
    adm_calls, set_calls = 0, 0
    for i in range(n + 50):  # the first 50 warm the engine up and are not counted
        rid = uuid.uuid4().hex[:12]
        a = st.AdmitRequest(rid, key, 100_000_000, 1_000_000_000, 10_000_000_000, 100_000_000_000, DAY,
                            1_200, (cand,), pace=pace, **extra)
        s0 = _stats(await raw.info("commandstats"))
        adm = await store.admit(a)
        s1 = _stats(await raw.info("commandstats"))
        assert adm.ok, adm
        kw = dict(req_id=rid, key=key, deployment="dep-a", provider="prov", model="model-a",
                  task="code_generation", route="auto", day=DAY, cost_micro=1_500, tokens_in=400,
                  tokens_out=300, cached_tokens=0, outcome="success", breaker_gen=adm.breaker_gen,
                  tpm=1_000_000_000, key_tpm=1_000_000_000)
        if "latency_us" in fields:
            kw["latency_us"] = 250_000
        else:  # before the ledger kept µs
            kw["latency_ms"] = 250
        if case == "team":
            kw.update(team="team-a", monthly=True)
        assert await store.settle(st.SettleRequest(**kw))
        s2 = _stats(await raw.info("commandstats"))
        if i >= 50:
            adm_us.append(s1[1] - s0[1])
            set_us.append(s2[1] - s1[1])
            adm_calls += s1[2] - s0[2]
            set_calls += s2[2] - s1[2]
    # the median call: a call the busy machine descheduled midway does not move it
    return {"admit_us": statistics.median(adm_us), "settle_us": statistics.median(set_us),
            "admit_mean_us": sum(adm_us) / n, "settle_mean_us": sum(set_us) / n,
            "admit_calls": adm_calls / n, "settle_calls": set_calls / n}


async def _worker(n: int) -> dict:
    import redis.asyncio as aioredis

    from gateway.state import store as st
    from gateway.state.engine import start_single

    engine = start_single()
    try:
        store = await st.StateStore.connect(engine.url, timeout_s=5.0)
        raw = aioredis.from_url(engine.url)
        out = {"tree": str(Path(st.__file__).resolve().parents[2])}
        cases = ["config"] + (["team"] if "team" in {f.name for f in dataclasses.fields(st.AdmitRequest)} else [])
        for case in cases:
            out[case] = await _case(store, raw, case, n)
        await raw.aclose()
        await store.close()
        return out
    finally:
        engine.stop()


def _run_tree(tree: Path, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "-n", str(n)],
                       env=env, capture_output=True, text=True, check=True, cwd=str(tree))
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", nargs="+", default=["."], help="checkouts to compare (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=1500, help="admit+settle pairs per case and run")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args.n))))
        return
    trees = [Path(t).resolve() for t in args.trees]
    runs: dict[Path, list[dict]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for t in (trees if r % 2 == 0 else trees[::-1]):
            got = _run_tree(t, args.n)
            runs[t].append(got)
            line = "  ".join(f"{c}: admit {got[c]['admit_us']:.1f} settle {got[c]['settle_us']:.1f}"
                             for c in ("config", "team") if c in got)
            print(f"round {r + 1} {t}: {line}", flush=True)
    print(f"\nµs of engine time per call (median of {args.rounds} rounds, n={args.n}); "
          "calls = redis.call()s per script run")
    for t in trees:
        for c in ("config", "team"):
            rs = [x[c] for x in runs[t] if c in x]
            if rs:
                med = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
                print(f"{str(t):32s} {c:6s} admit {med['admit_us']:6.1f} µs ({med['admit_calls']:.0f} calls)  "
                      f"settle {med['settle_us']:6.1f} µs ({med['settle_calls']:.0f} calls)  "
                      f"pair {med['admit_us'] + med['settle_us']:6.1f} µs  "
                      f"(means: {med['admit_mean_us']:.1f} + {med['settle_mean_us']:.1f})")


if __name__ == "__main__":
    main()
