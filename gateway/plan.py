"""Planning: which deployments may serve this request, in which order.

A request names a route alias (`auto` is the default route), or a concrete model. The plan is
the candidate chain after removing what the key may not use and what cannot hold the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import ApiKey, Config, Deployment
from gateway.errors import GatewayError, bad_request, forbidden, model_not_found
from gateway.pricing import estimate_tokens


@dataclass(frozen=True, slots=True)
class Plan:
    route: str
    task: str
    confidence: float
    priority: str
    deployments: tuple[Deployment, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def _allowed(key: ApiKey, route: str | None, dep: Deployment) -> bool:
    if not key.allowed_models:
        return True
    return dep.name in key.allowed_models or (route is not None and route in key.allowed_models)


def make_plan(config: Config, model: str, key: ApiKey, prompt_chars: int, max_tokens: int | None,
              task: str = "", confidence: float = 0.0, kind: str = "chat") -> Plan:
    if model == "auto":
        model = config.default_route
    route = config.routes.get(model)
    if route is not None:
        chain = [config.deployments[name] for name in route.chain]
        route_name, priority = route.name, route.priority
    elif model in config.deployments:
        chain = [config.deployments[model]]
        route_name, priority = model, key.priority
    else:
        raise model_not_found(model)
    chain = [d for d in chain if d.kind == kind]
    if not chain:
        raise bad_request(f"'{model}' has no {kind} models.", "model", "model_not_found")
    skipped: list[tuple[str, str]] = []
    allowed = []
    for dep in chain:
        if _allowed(key, route.name if route else None, dep):
            allowed.append(dep)
        else:
            skipped.append((dep.name, "not_allowed"))
    if not allowed:
        raise forbidden(f"This API key may not use '{model}'.")
    need = estimate_tokens(prompt_chars) + (max_tokens or 0)
    fitting = []
    for dep in allowed:
        if need <= dep.context_window:
            fitting.append(dep)
        else:
            skipped.append((dep.name, "context_window"))
    if not fitting:
        raise GatewayError(400, f"The prompt (about {need} tokens with max_tokens) is longer than every candidate "
                                f"model's context window.", "invalid_request_error", "context_length_exceeded",
                           "messages")
    return Plan(route=route_name, task=task, confidence=confidence, priority=priority,
                deployments=tuple(fitting), skipped=tuple(skipped))
