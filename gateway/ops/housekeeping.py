"""Background work of a worker: what one replica at a time does under a Redis lease (provider
health probes that feed the breakers, the token-inflation watch), and what every worker does
(register its config hash so operators see replicas that disagree; refresh the alert gauges).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from gateway import __version__
from gateway.observe.log import get_logger
from gateway.ops import series
from gateway.ops.inflation import InflationWatch, gauge_values, read_alerts
from gateway.ops.spend import today
from gateway.providers import adapter_for
from gateway.routing.classify import weights_info

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

LEASE = "housekeeping"


def probe_outcome(status: int | None) -> str:
    """Network failure or 5xx/429: failure; 2xx: success; anything else tells nothing."""
    if status is None or status >= 500 or status == 429:
        return "failure"
    return "success" if 200 <= status < 300 else "neutral"


class Housekeeper:
    def __init__(self, gw: "Gateway") -> None:
        self.gw = gw
        self.cfg = gw.config.housekeeping
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self.log = get_logger("gateway.ops.housekeeping")
        self.watch = InflationWatch(recent_s=self.cfg.inflation_recent_s, baseline_s=self.cfg.inflation_baseline_s,
                                    threshold=self.cfg.inflation_threshold,
                                    min_requests=self.cfg.inflation_min_requests,
                                    alert_ttl_s=max(60, int(self.cfg.interval_s * 4)), logger=self.log)

    async def run_forever(self) -> None:
        await every(self.cfg.interval_s, self.tick, "housekeeping_failed")

    async def tick(self) -> None:
        state = self.gw.state
        await self.register()
        ttl_ms = int(self.cfg.interval_s * 3000)
        if await state.acquire_lease(LEASE, self.replica, ttl_ms):
            await self.probe_providers()
            await self.watch.tick(state.ops, time.time())
        self.gw.metrics.inflation.values = dict(gauge_values(await read_alerts(state.ops)))
        await series.sample(self.gw)  # the dashboard's spend series and cluster-wide refusal counts

    async def register(self) -> None:
        """Every worker says which config and classifier weights it runs, so `GET /admin/cluster`
        can flag a mismatch; `replica` (host:port, from `gateway serve`) groups a replica's workers.
        Entries of this host's workers that no longer run (a restart) are dropped at once, not
        after the heartbeat window."""
        w = weights_info()
        host = socket.gethostname()
        entry = {"config_hash": self.gw.config.hash, "version": __version__, "seen": time.time(),
                 "classifier_version": w["version"], "classifier_hash": w["hash"], "host": host,
                 "replica": os.environ.get("GATEWAY_REPLICA") or self.replica}
        ops = self.gw.state.ops
        await ops.register_replica(self.replica, entry)
        dead = [name for name in await ops.replica_names() if _dead_here(name, host)]
        if dead:
            await ops.drop_replicas(dead)

    async def deregister(self) -> None:
        """A worker stopping takes its entry with it, so `gateway status` never shows it."""
        await self.gw.state.ops.drop_replicas([self.replica])

    async def probe_providers(self) -> None:
        """Probe each provider once (its adapter's `health_probe`); open breakers past their cooldown close on a healthy answer,
        and failures count toward opening closed ones, before users meet them."""
        deps_by_provider: dict[str, list[str]] = {}
        for dep in self.gw.config.deployments.values():
            deps_by_provider.setdefault(dep.provider.name, []).append(dep.name)
        for name, deps in deps_by_provider.items():
            provider = self.gw.config.providers[name]
            target = adapter_for(provider.format).health_probe(provider)
            if target is None:
                continue
            url, headers = target
            status = await self.gw.upstream.probe(url, headers, self.cfg.probe_timeout_s, provider.egress)
            outcome = probe_outcome(status)
            if outcome == "neutral":
                continue
            for dep in deps:
                current = await self.gw.state.breaker_state(dep)
                # a success only matters to a breaker waiting for a probe; reporting it to a
                # closed one would hide consecutive request failures behind a healthy /models
                if outcome == "success" and current["effective"] != "half_open":
                    continue
                state, gen = await self.gw.state.report_breaker(dep, outcome)
                if state != current["effective"]:  # an untouched breaker has no stored state
                    self.log.warning("breaker_changed_by_probe", deployment=dep, provider=name, state=state,
                                     probe_status=status)


def _dead_here(field: str, host: str) -> bool:
    """A `host:pid` registration of this host whose process is gone."""
    name, _, pid = field.rpartition(":")
    if name != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


async def every(interval_s: float, step: Callable[[], Awaitable[Any]], failed_event: str) -> None:
    """Run `step` every `interval_s`, forever. A failure (a Redis blip) is logged once per kind
    of error, and the next interval tries again."""
    log = get_logger("gateway.ops.housekeeping")
    failing = ""
    while True:
        try:
            await step()
            failing = ""
        except Exception as exc:
            if type(exc).__name__ != failing:
                failing = type(exc).__name__
                log.warning(failed_event, error=failing, detail=str(exc)[:200])
        await asyncio.sleep(interval_s)


async def fold_forever(gw: "Gateway", interval_s: float) -> None:
    """Fold the ledger's settled entries into the spend counters (lua/fold.lua), forever, so
    they trail settle by about `interval_s` (cost:total and cost:key:<k>, which admission
    reads, never do). Every worker runs it: the script is atomic and keeps its own cursor, so
    concurrent folds split the work instead of repeating it; entries wait in the ledger while
    Redis is away."""
    await every(interval_s, lambda: gw.state.fold(today(gw)), "fold_failed")
