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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gateway.config import (ALL_CAPABILITIES, CAPABILITIES, NO_WEB_SEARCH, PRIORITY_RANK, WEB_SEARCH_OPT_IN, ApiKey,
                            Chain, Config, Deployment, Route)
from gateway.errors import GatewayError, bad_request, forbidden, model_not_found, shown
from gateway.pricing import estimate_tokens
from gateway.providers import adapter_for
from gateway.providers.base import VENDOR_ONLY
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


def sticky_share(experiment: str, subject: str) -> float:
    """A stable number in [0, 1) for (experiment, end user): the same user always lands in the same arm."""
    digest = hashlib.blake2b(f"{experiment}\x00{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


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
        self._pools: dict[tuple[int, str, str], list[Deployment]] = {}
        self._fixed: dict[tuple[int, str], tuple[tuple[Deployment, ...], tuple[tuple[str, str], ...]]] = {}

    def expected_cost(self, dep: Deployment, task: str, prompt_tokens: int, max_tokens: int | None) -> int:
        out = self.stats.avg_out(dep.name, task)
        if max_tokens is not None:
            out = min(out, max_tokens)
        return -(-(prompt_tokens * dep.price.input + out * dep.price.output) // 1_000_000)

    def _candidates(self, chain: Chain, task: str, prompt_tokens: int, max_tokens: int | None,
                    skipped: list[tuple[str, str]], kind: str = "chat") -> list[Deployment]:
        if chain.strategy == "cheapest":
            pool = self._pools.get((id(chain), task, kind))
            if pool is None:  # the quality filter depends on the config only: computed once
                pool = self._pools[(id(chain), task, kind)] = [
                    d for d in self.config.deployments.values()
                    if d.kind == kind and (dict(d.quality).get(task, 0.0) if task else 1.0) >= chain.min_quality]
            return sorted(pool, key=lambda d: (self.expected_cost(d, task, prompt_tokens, max_tokens), d.name))
        fixed = self._fixed.get((id(chain), task))
        if fixed is None:  # a named chain's quality filter depends on the config only: computed once
            chosen, dropped = [], []
            for name in chain.models:
                dep = self.config.deployments[name]
                score = dict(dep.quality).get(task)
                if chain.min_quality and score is not None and score < chain.min_quality:
                    dropped.append((name, "quality"))
                else:
                    chosen.append(dep)
            fixed = self._fixed[(id(chain), task)] = (tuple(chosen), tuple(dropped))
        skipped.extend(fixed[1])
        return list(fixed[0])

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
             needs: frozenset[str] = frozenset()) -> Plan:
        """`longest_input_chars` (embeddings): each input is embedded on its own, so the longest
        one, not the sum of a batch, must fit the context window. `only`: see `native_links`.
        `needs`: the capabilities the request needs (gateway.routing.needs), see `capable_links`."""
        prompt_tokens = estimate_tokens(prompt_chars)
        skipped: list[tuple[str, str]] = []
        experiment = policy = ""
        if model == "auto":
            model = (self.config.embedding_route or "auto") if kind == "embedding" else self.config.default_route
        route = self.config.routes.get(model)
        if route is not None:
            chain = route.chain_for(task)
            if route.on_uncertain and task and confidence < route.uncertain_below:
                chain, policy = route.uncertain_chain(), route.on_uncertain  # unsure of the task
            priority = max(chain.priority, key.priority or "low", key=RANK.__getitem__)
            swapped, experiment = self._experiment(route, task, priority, user or key.name)
            chain = swapped or chain
            chain_deps = self._candidates(chain, task, prompt_tokens, max_tokens, skipped, kind)
            route_name = route.name
        elif model in self.config.deployments:
            chain_deps = [self.config.deployments[model]]
            route_name, priority = model, key.priority or "normal"
        else:
            raise model_not_found(model)
        chain_deps = [d for d in chain_deps if d.kind == kind]
        if not chain_deps:
            raise bad_request(f"{shown(model)} has no {kind} model for this request.", "model", "model_not_found")
        if only is not None:
            chain_deps = native_links(chain_deps, only, model, skipped)
        if needs and self.checks_needs:
            chain_deps = capable_links(chain_deps, needs, route_name, route is not None, skipped)
        allowed = []
        for dep in chain_deps:
            if not key.allowed_models or dep.name in key.allowed_models or route_name in key.allowed_models:
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
                    skipped=tuple(skipped), task_policy=policy)
