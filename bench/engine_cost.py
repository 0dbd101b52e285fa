"""Engine time per admit and per settle, for one or several checkouts, interleaved.

Each run starts a fresh engine (gateway.state.engine.start_single), loads the scripts through the
checkout's own StateStore, and sends N sequential admit+settle pairs for two cases:

  config  a key of the config file, no team (key rpm/tpm, a key and a global budget, a paced
          daily budget, one candidate with rpm/tpm)
  team    a runtime key (monthly budget) in a team with rpm, tpm, daily and monthly budgets
          (skipped for a checkout without runtime keys)

The engine's own accounting gives the figures: `INFO commandstats` before and after each call,
so `usec` of cmdstat_evalsha is each script run's time in the engine (no client, no network), and
the other commands' `calls` are the redis.call()s the script made. The figure is the median call
(a call the loaded machine descheduled midway does not move it); the mean is printed too.

    python bench/engine_cost.py --trees /tmp/engine-old . --rounds 3 -n 1500

runs `--rounds` rounds; in each, every tree (in alternating order) runs once in its own process
with that tree first on PYTHONPATH. Prints µs per admit and per settle (median of the rounds).
Whole runs vary by up to 20% on the loaded machine; to see a few µs between script versions,

    python bench/engine_cost.py --lua /tmp/engine-main/lua lua -n 1500

runs every lua dir on one engine with this checkout's Python (same arguments, a key prefix per
dir), pair by pair in alternating order. See docs/benchmarks.md for figures.
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


async def _setup(store, case: str) -> tuple[str, dict]:
    """The key (and the admit's extra fields) of a case; a team and a runtime key for `team`."""
    if case != "team":
        return "demo", {}
    from gateway.state.records import Records

    rec = Records(store)
    await rec.team_write("create", "team-a", "bench", {"rpm": "100000000", "tpm": "1000000000",
                                                       "daily_micro": "90000000000",
                                                       "monthly_micro": "900000000000"})
    digest = hashlib.sha256(b"bench-secret").hexdigest()
    await rec.key_write("create", "key-a", "bench", {"name": "a", "team": "team-a",
                                                      "monthly_micro": "800000000000"}, digest)
    version = (await rec.key("key-a")).version
    return "key-a", dict(key_id="key-a", key_version=version, team="team-a", key_monthly_micro=800_000_000_000)


async def _pair(store, raw, case: str, key: str, extra: dict) -> tuple[int, int, int, int]:
    """One admit and its settle: (admit µs, settle µs, admit's redis.calls, settle's)."""
    from gateway.state import store as st

    rid = uuid.uuid4().hex[:12]
    cand = st.Candidate("dep-a", 100_000_000, 1_000_000_000, 2_000, st.BreakerParams())
    a = st.AdmitRequest(rid, key, 100_000_000, 1_000_000_000, 10_000_000_000, 100_000_000_000, DAY,
                        1_200, (cand,), pace=st.PaceArgs(50_000_000_000, 0), **extra)
    s0 = _stats(await raw.info("commandstats"))
    adm = await store.admit(a)
    s1 = _stats(await raw.info("commandstats"))
    assert adm.ok, adm
    kw = dict(req_id=rid, key=key, deployment="dep-a", provider="prov", model="model-a",
              task="code_generation", route="auto", day=DAY, cost_micro=1_500, tokens_in=400,
              tokens_out=300, cached_tokens=0, outcome="success", breaker_gen=adm.breaker_gen,
              tpm=1_000_000_000, key_tpm=1_000_000_000)
    if "latency_us" in {f.name for f in dataclasses.fields(st.SettleRequest)}:
        kw["latency_us"] = 250_000
    else:  # before the ledger kept µs
        kw["latency_ms"] = 250
    if case == "team":
        kw.update(team="team-a", monthly=True)
    assert await store.settle(st.SettleRequest(**kw))
    s2 = _stats(await raw.info("commandstats"))
    return s1[1] - s0[1], s2[1] - s1[1], s1[2] - s0[2], s2[2] - s1[2]


def _summary(got: list[tuple[int, int, int, int]]) -> dict:
    # the median call: a call the busy machine descheduled midway does not move it
    n = len(got)
    return {"admit_us": statistics.median(g[0] for g in got), "settle_us": statistics.median(g[1] for g in got),
            "admit_mean_us": sum(g[0] for g in got) / n, "settle_mean_us": sum(g[1] for g in got) / n,
            "admit_calls": sum(g[2] for g in got) / n, "settle_calls": sum(g[3] for g in got) / n}


async def _measure(stores: list, raw, case: str, n: int) -> list[dict]:
    """n pairs per store, the stores taking turns pair by pair (first 50 rounds: warm-up)."""
    setup = [await _setup(s, case) for s in stores]
    got: list[list] = [[] for _ in stores]
    for i in range(n + 50):
        order = range(len(stores)) if i % 2 == 0 else reversed(range(len(stores)))
        for j in order:
            r = await _pair(stores[j], raw, case, *setup[j])
            if i >= 50:
                got[j].append(r)
    return [_summary(g) for g in got]


async def _worker(n: int, lua_dirs: list[str]) -> dict:
    """One engine. Without lua_dirs: this checkout's StateStore as the gateway connects it. With
    them: one store per lua dir (its own key prefix), the same arguments, calls interleaved."""
    import redis.asyncio as aioredis

    from gateway.state import store as st
    from gateway.state.engine import start_single
    from gateway.state.scripts import Scripts

    engine = start_single()
    try:
        raw = aioredis.from_url(engine.url)
        if lua_dirs:
            stores = []
            for i, d in enumerate(lua_dirs):
                s = st.StateStore.from_client(aioredis.from_url(engine.url), prefix=f"v{i}")
                s.scripts = Scripts(s.client, root=Path(d))
                await s.load()
                stores.append(s)
        else:
            stores = [await st.StateStore.connect(engine.url, timeout_s=5.0)]
        out: dict = {"tree": str(Path(st.__file__).resolve().parents[2]), "lua": lua_dirs}
        cases = ["config"] + (["team"] if "team" in {f.name for f in dataclasses.fields(st.AdmitRequest)} else [])
        for case in cases:
            out[case] = await _measure(stores, raw, case, n)
        for s in stores:
            await s.close()
        await raw.aclose()
        return out
    finally:
        engine.stop()


def _run_tree(tree: Path, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "-n", str(n)],
                       env=env, capture_output=True, text=True, check=True, cwd=str(tree))
    got = json.loads(p.stdout.strip().splitlines()[-1])
    return {k: (v[0] if isinstance(v, list) and k in ("config", "team") else v) for k, v in got.items()}


def _print(label: str, c: str, med: dict) -> None:
    print(f"{label:32s} {c:6s} admit {med['admit_us']:6.1f} µs ({med['admit_calls']:.0f} calls)  "
          f"settle {med['settle_us']:6.1f} µs ({med['settle_calls']:.0f} calls)  "
          f"pair {med['admit_us'] + med['settle_us']:6.1f} µs  "
          f"(means: {med['admit_mean_us']:.1f} + {med['settle_mean_us']:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", nargs="+", default=["."], help="checkouts to compare (default: this one)")
    ap.add_argument("--lua", nargs="+", default=[],
                    help="lua dirs to compare pair by pair on one engine, with this checkout's Python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=1500, help="admit+settle pairs per case and run")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker or args.lua:
        got = asyncio.run(_worker(args.n, [str(Path(d).resolve()) for d in args.lua]))
        if args.worker:
            print(json.dumps(got))
            return
        print(f"µs of engine time per call (median call, n={args.n} pairs each, interleaved pair by pair); "
              "calls = redis.call()s per script run")
        for c in ("config", "team"):
            for d, med in zip(got["lua"], got.get(c, [])):
                _print(d, c, med)
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
                _print(str(t), c, {k: statistics.median(x[k] for x in rs) for k in rs[0]})


if __name__ == "__main__":
    main()
