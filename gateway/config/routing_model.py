"""What a model name a client asks for means: routes, their per-task chains, experiments, pools."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.tasks import EXPERIMENT_PRIORITIES, TASK_TIER, TASKS

# on_uncertain: a request classified with a confidence under this is routed by the policy. The
# classifier's confidence is calibrated: under 0.5 its top task is more often wrong than right.
UNCERTAIN_BELOW = 0.5
UNCERTAIN_POLICIES = ("quality_first", "default_route", "cheapest")
# quality_first's tie-break between chains of equal min_quality: the later task is the more
# demanding one (TASK_TIER; equal tiers in TASKS order).
UNCERTAIN_ORDER = tuple(sorted(TASKS, key=TASK_TIER.__getitem__))


@dataclass(frozen=True, slots=True)
class Pool:
    """Equivalent deployments that share a name's traffic (`pools.<name>`): each request orders
    them by weighted rendezvous hashing on its conversation (gateway/routing/affinity.py)."""

    name: str
    members: tuple[str, ...]
    weights: tuple[float, ...]  # same order as members


@dataclass(frozen=True, slots=True)
class Chain:
    """Candidates for one task: an ordered chain, or every model good enough, cheapest first.
    `primary` and `fallbacks` are the names as written; a pool among them is in `pools`."""

    primary: str | None
    fallbacks: tuple[str, ...] = ()
    min_quality: float = 0.0
    priority: str = "normal"
    strategy: str = "ordered"  # ordered | cheapest
    pools: tuple[Pool, ...] = ()

    @property
    def links(self) -> tuple[str, ...]:
        return ((self.primary,) if self.primary else ()) + self.fallbacks

    @property
    def models(self) -> tuple[str, ...]:
        """The deployments the chain may land on: each pool as its members, each name once."""
        pools = {p.name: p.members for p in self.pools}
        return tuple(dict.fromkeys(m for link in self.links for m in pools.get(link, (link,))))


@dataclass(frozen=True, slots=True)
class Experiment:
    """A sticky weighted split: `weight` of the traffic (per end user) takes `chain` instead."""

    name: str
    weight: float
    chain: Chain
    task: str | None = None
    priorities: frozenset[str] = frozenset(EXPERIMENT_PRIORITIES)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    default: Chain
    tasks: dict[str, Chain] = field(default_factory=dict)
    experiments: tuple[Experiment, ...] = ()
    on_uncertain: str = ""  # "" (off) | quality_first | default_route | cheapest
    uncertain_below: float = UNCERTAIN_BELOW  # a classified task with a lower confidence is uncertain
    guardrail: str | None = None  # a policy's name (`guardrails`), "none", or None: `default_guardrail`

    def chain_for(self, task: str) -> Chain:
        return self.tasks.get(task, self.default)

    def uncertain_chain(self) -> Chain:
        """The chain for a request whose task the classifier is unsure of: ``quality_first`` takes
        the most demanding chain (highest min_quality; on a tie the more demanding task's, in
        UNCERTAIN_ORDER), ``cheapest`` the least demanding one, ``default_route`` the route's
        task-independent chain."""
        if self.on_uncertain == "default_route" or not self.tasks:
            return self.default
        ranked = sorted(self.tasks.items(), key=lambda kv: (kv[1].min_quality, UNCERTAIN_ORDER.index(kv[0])))
        return ranked[-1][1] if self.on_uncertain == "quality_first" else ranked[0][1]
