"""Validating pools: equivalent deployments of one model (two Azure regions, several OpenAI keys or
organisations, Claude on Anthropic and on Bedrock) under one name that stands wherever a model
name does: a chain's primary or fallbacks, an experiment, a client's `model`, a key's
`allowed_models`.

    pools:
      gpt-5.4-any:
        members: [gpt-5.4, azure-gpt-5.4]
        weights: {azure-gpt-5.4: 2}      # optional; a member not named has weight 1

A member is a chat model (not a route or another pool). A weight of 0 takes no first-choice
traffic but keeps the member as the pool's spillover (draining a deployment without removing it).
"""

from __future__ import annotations

from typing import Any

from gateway.config.model import Deployment, Pool
from gateway.config.reader import Reader


def parse_pools(r: Reader, doc: Any, deployments: dict[str, Deployment], gone: dict[str, str]) -> dict[str, Pool]:
    """The pools, without the members left out with their provider (`gone`: model -> its key
    variable). A pool whose every member is left out is added to `gone`, so the routes naming it
    are pruned like a model left out (gateway/config/leftout.py)."""
    pdoc = r.mapping(doc, "pools")
    pools: dict[str, Pool] = {}
    for name, body in pdoc.items():
        path = f"pools.{name}"
        if name in deployments or name in gone:
            raise r.fail(path, name, "a pool may not share its name with a model")
        body = r.mapping(body, path, required=True)
        r.known(body, path, {"members", "weights"})
        members = r.strings(body, "members", path)
        if not members:
            raise r.fail(f"{path}.members", members, "a pool needs at least one model")
        for j, model in enumerate(members):
            where = f"{path}.members[{j}]"
            if model in pdoc:
                raise r.fail(where, model, "a pool's member is a model, not another pool")
            if model not in deployments and model not in gone:
                raise r.fail(where, model, f"unknown model; defined: {sorted(deployments)}")
            if model in members[:j]:
                raise r.fail(where, model, "named twice")
            if model in deployments and deployments[model].kind != "chat":
                raise r.fail(where, model, f"is an {deployments[model].kind} model; a pool's members are chat models")
        wdoc = r.mapping(body.get("weights"), f"{path}.weights")
        for model in wdoc:
            if model not in members:
                raise r.fail(f"{path}.weights.{model}", model, "is not a member of the pool")
        weights = {m: r.number(wdoc, m, f"{path}.weights", 1.0) for m in members}
        if not any(w > 0 for w in weights.values()):
            raise r.fail(f"{path}.weights", wdoc, "at least one member needs a weight above 0")
        kept = tuple(m for m in members if m not in gone)
        if not kept:
            gone[name] = ", ".join(sorted({gone[m] for m in members}))
            continue
        pools[name] = Pool(name=name, members=kept, weights=tuple(weights[m] for m in kept))
    return pools
