"""Planning: which deployments may serve this request, and in which order.

A request names a route alias (`auto` is the default route) or a concrete model. For a route the
task picks a chain: an ordered primary + fallbacks, or "every model whose quality for this task
meets the threshold, cheapest first" ranked by the expected cost of *this* request (its prompt
estimate plus the output length each model really produces for the task, observed by settle), so
a model cheap per token but verbose is ranked by what it costs. An experiment may swap the chain
for a sticky share of end users. When the classifier is unsure of the task (confidence under the
route's `uncertain_below`), the route's `on_uncertain` policy picks the chain instead. Then what the key may not use and what cannot hold the prompt
is removed, and for a request only its own wire format can serve (a Gemini `cachedContent`) every
link but that format's on one provider, and every model lacking a capability the request needs
(`models.<name>.supports`: images, tools... gateway.routing.needs). Breakers, rate limits and
budgets are applied by admit, in Redis.

A pool (`pools.<name>`, named in a chain or asked for as the model) stands for all its members,
ordered per request by weighted rendezvous hashing on the conversation (routing/affinity.py): one
conversation stays on one deployment, conversations spread by weight, and the other members stay
behind it as fallbacks, so admit spills over when one is full or its breaker is open. Deployments
of equal expected cost in a `cheapest` chain are ordered by the same hash, not by name.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

from gateway.config import (ALL_CAPABILITIES, CAPABILITIES, NO_WEB_SEARCH, PRIORITY_RANK, WEB_SEARCH_OPT_IN, ApiKey,
                            Chain, Config, Deployment, Pool, Route)
from gateway.errors import GatewayError, bad_request, forbidden, model_not_found, shown
from gateway.pricing import estimate_tokens
from gateway.providers import adapter_for
from gateway.providers.base import VENDOR_ONLY
from gateway.routing.affinity import conversation_start, rendezvous, subject_key
from gateway.routing.tokstats import TokenStats

RANK = PRIORITY_RANK


@dataclass(slots=True)
class Plan:
    route: str
    task: str
    confidence: float
    priority: str
    deployments: tuple[Deployment, ...]
    expected_cost_micro: tuple[int, ...]  # per deployment, same order
    experiment: str = ""  # "name:treatment" / "name:control", or ""
    skipped: tuple[tuple[str, str], ...] = ()
    task_policy: str = ""  # the route's on_uncertain policy, when it chose the chain
    pools: tuple[tuple[str, str], ...] = ()  # (deployment, the pool it was chosen from)


class Subject:
    """Whose conversation this is, read and hashed only when a pool or a cost tie needs it: the
    conversation's start (routing.affinity.conversation_start), or the messages it is read from."""

    __slots__ = ("user", "conversation", "_key")

    def __init__(self, user: str, conversation: str | list[dict[str, Any]]) -> None:
        self.user, self.conversation, self._key = user, conversation, b""

    @property
    def key(self) -> bytes:
        if not self._key:
            start = self.conversation if isinstance(self.conversation, str) else conversation_start(self.conversation)
            self._key = subject_key(self.user, start)
        return self._key


def pool_order(pool: Pool, members: list[Deployment], subject: Subject) -> list[Deployment]:
    """A pool's members (those the chain kept) in this conversation's rendezvous order."""
    weight = dict(zip(pool.members, pool.weights))
    return rendezvous(members, [d.name for d in members], [weight[d.name] for d in members], subject.key)


def ties_by_subject(ranked: list[tuple[int, Deployment]], subject: Subject) -> list[Deployment]:
    """Deployments ranked by expected cost, each run of equal cost in the subject's rendezvous
    order (weight 1 each), so identical deployments share the traffic instead of the first name
    taking all of it."""
    out: list[Deployment] = []
    for _, run in itertools.groupby(ranked, key=lambda cd: cd[0]):
        deps = [d for _, d in run]
        out.extend(deps if len(deps) == 1 else rendezvous(deps, [d.name for d in deps], [1.0] * len(deps), subject.key))
    return out


def sticky_share(experiment: str, subject: str) -> float:
    """A stable number in [0, 1) for (experiment, end user): the same user always lands in the same arm."""
    digest = hashlib.blake2b(f"{experiment}\x00{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def per_subject(config: Config, model: str) -> bool:
    """Whether plans for `model` depend on the end user and conversation: an experiment's split,
    a pool's order, or a `cheapest` chain's order among deployments of equal cost. Offline
    replays (gateway/offline/strategies.py) memoise plans per subject only then."""
    if model in config.pools:
        return True
    route = config.routes.get(config.default_route if model == "auto" else model)
    if route is None:
        return False
    chains = (route.default, *route.tasks.values(), *(e.chain for e in route.experiments))
    return bool(route.experiments) or any(c.pools or c.strategy == "cheapest" for c in chains)


def native_links(deps: list[Deployment], only: tuple[str, str], model: str,
                 skipped: list[tuple[str, str]]) -> list[Deployment]:
    """The links that can serve a request naming something only its own wire format holds
    (`only` = (format, field), gateway.providers.base.native_only): adapters of that native format
    on the provider of the first of them, since a Gemini context cache lives in one project
    (one API key's, or one Vertex project and location). Every other link is skipped rather than
    sent the request without it; none left is a 400 naming the field. A resource only the vendor's
    own API holds (VENDOR_ONLY: an Anthropic file, container, MCP server) skips its clouds too."""
    fmt, name = only
    vendor = only in VENDOR_ONLY  # then the vendor's own API, not a cloud reselling its models
    home = next((d.provider.name for d in deps if adapter_for(d.provider.format).native_format == fmt
                 and (not vendor or d.provider.format == fmt)), None)
    kept = [d for d in deps if d.provider.name == home]
    skipped.extend((d.name, "native_only") for d in deps if d.provider.name != home)
    if not kept:
        raise bad_request(f"'{name}' can only be served by a {fmt} deployment, and {shown(model)} has none: "
                          f"ask for a {fmt} model, or send the content itself.", name)
    return kept


# A capability as an error message names it, and the request field that asks for it
NEED_SHOWN = {"vision": ("images", "messages"), "audio": ("audio input", "messages"),
              "files": ("files (PDF or document parts)", "messages"), "tools": ("tools", "tools"),
              "json_schema": ("response_format json_schema", "response_format"),
              "web_search": ("server-side web search", "tools")}


def capable_links(deps: list[Deployment], needs: frozenset[str], model: str, route: bool,
                  skipped: list[tuple[str, str]]) -> list[Deployment]:
    """The links whose `supports` holds every capability the request needs; each other one is
    skipped as `lacks:<capabilities>`. None left is a 400 naming what is missing where, clearer
    than the provider's own refusal (or an answer that ignored the image)."""
    kept = []
    lacking: dict[str, list[str]] = {}
    for dep in deps:
        missing = needs - dep.supports
        if missing:
            lacking[dep.name] = [c for c in CAPABILITIES if c in missing]
            skipped.append((dep.name, "lacks:" + ",".join(lacking[dep.name])))
        else:
            kept.append(dep)
    if kept:
        return kept
    blocking = [c for c in CAPABILITIES if any(c in m for m in lacking.values())]
    what = " and ".join(NEED_SHOWN[c][0] for c in blocking)
    if route:
        detail = "; ".join(f"{name} lacks {', '.join(m)}" for name, m in lacking.items())
        message = (f"No model of route {shown(model)} accepts {what} (models.<name>.supports): {detail}. "
                   "Ask for a model that does, or add one to the route.")
    else:
        fmt = deps[0].provider.format
        why = (NO_WEB_SEARCH.get(fmt) or WEB_SEARCH_OPT_IN.get(fmt)) if "web_search" in blocking else None
        message = (f"The model {shown(model)} does not accept {what} (models.{model}.supports: "
                   f"[{', '.join(c for c in CAPABILITIES if c in deps[0].supports)}]"
                   + (f"; {why}" if why else "") + ").")
    raise bad_request(message, NEED_SHOWN[blocking[0]][1], "unsupported_capability")


class Planner:
    def __init__(self, config: Config, stats: TokenStats | None = None) -> None:
        self.config = config
        self.stats = stats or TokenStats()
        # whether any model declares `supports`: else no request's needs are read or checked
        self.checks_needs = any(d.supports != ALL_CAPABILITIES for d in config.deployments.values())
        # (chain, task, kind) -> the deployments good enough for it, for `strategy: cheapest`
        self._pools: dict[tuple[int, str, str], list[Deployment]] = {}  # (not `pools.<name>`)
        # (chain, task) -> its links (a pool: the members good enough) and the models dropped
        self._fixed: dict[tuple[int, str], tuple[tuple[tuple[Pool | None, tuple[Deployment, ...]], ...],
                                                  tuple[tuple[str, str], ...]]] = {}
        self._pools_of: dict[str, tuple[str, ...]] = {}  # deployment -> the pools it is a member of
        for pool in config.pools.values():
            for member in pool.members:
                self._pools_of[member] = self._pools_of.get(member, ()) + (pool.name,)

    def expected_cost(self, dep: Deployment, task: str, prompt_tokens: int, max_tokens: int | None) -> int:
        out = self.stats.avg_out(dep.name, task)
        if max_tokens is not None:
            out = min(out, max_tokens)
        return -(-(prompt_tokens * dep.price.input + out * dep.price.output) // 1_000_000)

    def _candidates(self, chain: Chain, task: str, prompt_tokens: int, max_tokens: int | None,
                    skipped: list[tuple[str, str]], subject: Subject, from_pool: list[tuple[str, str]],
                    kind: str = "chat") -> list[Deployment]:
        if chain.strategy == "cheapest":
            pool = self._pools.get((id(chain), task, kind))
            if pool is None:  # the quality filter depends on the config only: computed once
                pool = self._pools[(id(chain), task, kind)] = [
                    d for d in self.config.deployments.values()
                    if d.kind == kind and (dict(d.quality).get(task, 0.0) if task else 1.0) >= chain.min_quality]
            ranked = sorted(((self.expected_cost(d, task, prompt_tokens, max_tokens), d) for d in pool),
                            key=lambda cd: (cd[0], cd[1].name))
            return ties_by_subject(ranked, subject)
        fixed = self._fixed.get((id(chain), task))
        if fixed is None:  # a named chain's quality filter depends on the config only: computed once
            links, dropped = [], []
            pools = {p.name: p for p in chain.pools}
            for name in chain.links:
                chosen = []
                for member in pools[name].members if name in pools else (name,):
                    dep = self.config.deployments[member]
                    score = dict(dep.quality).get(task)
                    if chain.min_quality and score is not None and score < chain.min_quality:
                        dropped.append((member, "quality"))
                    else:
                        chosen.append(dep)
                if chosen:
                    links.append((pools.get(name), tuple(chosen)))
            fixed = self._fixed[(id(chain), task)] = (tuple(links), tuple(dropped))
        skipped.extend(fixed[1])
        if not chain.pools:
            return [deps[0] for _, deps in fixed[0]]
        out: dict[str, Deployment] = {}  # each deployment once, at its first place in the chain
        for pool, deps in fixed[0]:
            for dep in deps if pool is None else pool_order(pool, list(deps), subject):
                if dep.name not in out:
                    out[dep.name] = dep
                    if pool is not None:
                        from_pool.append((dep.name, pool.name))
        return list(out.values())

    def _experiment(self, route: Route, task: str, priority: str, subject: str) -> tuple[Chain | None, str]:
        for exp in route.experiments:
            if (exp.task is None or exp.task == task) and priority in exp.priorities:
                if sticky_share(exp.name, subject) < exp.weight:
                    return exp.chain, f"{exp.name}:treatment"
                return None, f"{exp.name}:control"
        return None, ""

    def plan(self, model: str, key: ApiKey, prompt_chars: int, max_tokens: int | None, task: str = "",
             confidence: float = 0.0, user: str | None = None, kind: str = "chat",
             longest_input_chars: int | None = None, only: tuple[str, str] | None = None,
             needs: frozenset[str] = frozenset(), conversation: str | list[dict[str, Any]] = "") -> Plan:
        """`longest_input_chars` (embeddings): each input is embedded on its own, so the longest
        one, not the sum of a batch, must fit the context window. `only`: see `native_links`.
        `needs`: the capabilities the request needs (gateway.routing.needs), see `capable_links`.
        `conversation`: its stable start (routing.affinity.conversation_start), or its messages to
        read the start from only when a pool or a cost tie asks, for pool affinity."""
        prompt_tokens = estimate_tokens(prompt_chars)
        skipped: list[tuple[str, str]] = []
        from_pool: list[tuple[str, str]] = []
        subject = Subject(user or key.name, conversation)
        experiment = policy = ""
        if model == "auto":
            model = (self.config.embedding_route or "auto") if kind == "embedding" else self.config.default_route
        route = self.config.routes.get(model)
        if route is not None:
            chain = route.chain_for(task)
            if route.on_uncertain and task and confidence < route.uncertain_below:
                chain, policy = route.uncertain_chain(), route.on_uncertain  # unsure of the task
            priority = _capped(max(chain.priority, key.priority or "low", key=RANK.__getitem__), key)
            swapped, experiment = self._experiment(route, task, priority, user or key.name)
            chain = swapped or chain
            chain_deps = self._candidates(chain, task, prompt_tokens, max_tokens, skipped, subject, from_pool, kind)
            route_name = route.name
        elif model in self.config.pools:
            pool = self.config.pools[model]
            chain_deps = pool_order(pool, [self.config.deployments[m] for m in pool.members], subject)
            from_pool.extend((d.name, pool.name) for d in chain_deps)
            route_name, priority = model, _capped(key.priority or "normal", key)
        elif model in self.config.deployments:
            chain_deps = [self.config.deployments[model]]
            route_name, priority = model, _capped(key.priority or "normal", key)
        else:
            raise model_not_found(model)
        chain_deps = [d for d in chain_deps if d.kind == kind]
        if not chain_deps:
            raise bad_request(f"{shown(model)} has no {kind} model for this request.", "model", "model_not_found")
        if only is not None:
            chain_deps = native_links(chain_deps, only, model, skipped)
        if needs and self.checks_needs:
            chain_deps = capable_links(chain_deps, needs, route_name, route is not None or model in self.config.pools,
                                       skipped)
        allowed = []
        for dep in chain_deps:
            if not key.allowed_models or dep.name in key.allowed_models or route_name in key.allowed_models \
                    or any(p in key.allowed_models for p in self._pools_of.get(dep.name, ())):
                allowed.append(dep)
            else:
                skipped.append((dep.name, "not_allowed"))
        if not allowed:
            raise forbidden(f"This API key may not use {shown(model)}.")
        if longest_input_chars is None:
            need = prompt_tokens + (max_tokens or 0)
        else:
            need = estimate_tokens(longest_input_chars)
        fitting = []
        for dep in allowed:
            if need <= dep.context_window:
                fitting.append(dep)
            else:
                skipped.append((dep.name, "context_window"))
        if not fitting:
            what, param = ("The prompt", "messages") if longest_input_chars is None else ("The longest input", "input")
            raise GatewayError(400, f"{what} (about {need} tokens{' with max_tokens' if max_tokens else ''}) is "
                                    f"longer than every candidate model's context window.", "invalid_request_error",
                               "context_length_exceeded", param)
        costs = tuple(self.expected_cost(d, task, prompt_tokens, max_tokens) for d in fitting)
        return Plan(route=route_name, task=task, confidence=confidence, priority=priority,
                    deployments=tuple(fitting), expected_cost_micro=costs, experiment=experiment,
                    skipped=tuple(skipped), task_policy=policy, pools=tuple(from_pool))


def _capped(priority: str, key: ApiKey) -> str:
    """A batch line's key (`priority_cap`) lowers its requests' priority: the pace moves them to
    cheaper models before any interactive request."""
    return priority if key.priority_cap is None else min(priority, key.priority_cap, key=RANK.__getitem__)
