"""Prior-centred refit of the task classifier on an operator's own labelled requests.

The shipped weights ``w0`` are the prior: the refit minimises the (row-weighted) log-loss on the
operator's rows plus ``strength * ||w - w0||^2`` over the bias and the weights of the features those
rows fire. Features the rows never fire are not touched (their shipped weights are copied exactly);
features the rows fire that the shipped vocabulary lacks (at least ``MIN_DF`` rows) start at 0 and
may get weights.

It works in the loaded model's own space: a weights file holds ``w / temperature`` with the rule
value folded in (scripts/train_classifier.py), and a row's scores are ``bias + sum(strong w) +
alpha * sum(weak w)``, so the design matrix here is 1 per strong feature, ``alpha`` per weak one,
and the shipped calibration is the starting point. A ``style``/``gate`` block (a file trained with
``--styled``) is kept as it is: its contribution to each row is a fixed offset of the fit.

Needs numpy and scipy (the ``train`` extra); nothing here runs in the gateway's request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.routing.classify import TASKS, _Model, _softmax, decide, nothing_to_read, weights_hash

Feats = tuple[set[str], set[str]]
MIN_DF = 2  # a feature the shipped vocabulary lacks needs this many operator rows (as in training)
PRUNE = 0.01  # a new feature whose largest |weight| stays below this is not written
DECIMALS = 4  # the packed scorer's weights are exact at 4 decimals (gateway.routing.scorer.pack)


@dataclass(frozen=True)
class Fitted:
    """An adapted weights dict (no version or hash yet) and what the refit changed."""

    data: dict[str, Any]
    changed: int  # shipped features whose weights moved
    added: int  # features the shipped vocabulary lacked


def predict(model: _Model, feats: Feats) -> int:
    """The task index classify() would return with ``model`` (same empty-input rule and policy)."""
    if nothing_to_read(*feats):
        return 0
    return TASKS.index(decide(probs(model, feats), model.low_conf, model.runner_min).task)


def probs(model: _Model, feats: Feats) -> list[float]:
    """Class probabilities (ordered as TASKS), as classify() computes them."""
    return _softmax(model.scores(*feats))


def columns(base: dict[str, Any], feats: list[Feats]) -> list[str]:
    """The features the refit may change: every fired shipped feature, and new ones in MIN_DF rows."""
    df: dict[str, int] = {}
    for strong, weak in feats:
        for f in strong | weak:
            df[f] = df.get(f, 0) + 1
    known = base["weights"]
    return sorted(f for f, n in df.items() if f in known or n >= MIN_DF)


def design(feats: list[Feats], index: dict[str, int], alpha: float):
    """Sparse rows x features: 1 per strong feature, ``alpha`` per weak one (both when in both)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for r, (strong, weak) in enumerate(feats):
        for group, v in ((strong, 1.0), (weak, alpha)):
            for f in group:
                j = index.get(f)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(v)
    return csr_matrix((vals, (rows, cols)), shape=(len(feats), len(index)), dtype=np.float64)


def refit(base: dict[str, Any], feats: list[Feats], labels: list[str], strength: float,
          weights: list[float] | None = None) -> Fitted:
    """Fit ``base``'s bias and fired weights to the rows, pulled towards ``base`` by ``strength``."""
    import numpy as np
    from scipy.optimize import minimize

    if strength <= 0:
        raise ValueError("strength must be > 0 (it keeps the refit near the shipped weights)")
    model = _Model(base)
    names = columns(base, feats)
    index = {f: j for j, f in enumerate(names)}
    X = design(feats, index, float(base["alpha"]))
    zero = [0.0] * 4
    W0 = np.array([base["weights"].get(f, zero) for f in names], dtype=np.float64).reshape(len(names), 4)
    b0 = np.array(base["bias"], dtype=np.float64)
    # what the fitted part does not explain (a style block's share): fixed during the fit
    full = np.array([model.scores(*f) for f in feats], dtype=np.float64).reshape(len(feats), 4)
    offset = full - (X @ W0 + b0)
    Y = np.zeros((len(feats), 4))
    Y[np.arange(len(feats)), [TASKS.index(lbl) for lbl in labels]] = 1.0
    s = np.ones(len(feats)) if weights is None else np.asarray(weights, dtype=np.float64)
    theta0 = np.concatenate([b0, W0.ravel()])

    def loss(theta):
        b, W = theta[:4], theta[4:].reshape(-1, 4)
        z = X @ W + b + offset
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        d = theta - theta0
        value = -(s * (Y * logp).sum(axis=1)).sum() + strength * d @ d
        G = s[:, None] * (np.exp(logp) - Y)
        grad = np.concatenate([G.sum(axis=0), (X.T @ G).ravel()]) + 2 * strength * d
        return value, grad

    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-8})
    theta = res.x
    bias = [round(float(x), DECIMALS) for x in theta[:4]]
    out = dict(base["weights"])
    changed = added = 0
    for f, w in zip(names, theta[4:].reshape(-1, 4)):
        w = [round(float(x), DECIMALS) for x in w]
        if f in out:
            changed += w != out[f]
            out[f] = w
        elif max(abs(x) for x in w) >= PRUNE:
            out[f] = w
            added += 1
    data = {k: v for k, v in base.items() if k not in ("hash", "version")}
    return Fitted({**data, "bias": bias, "weights": out}, changed, added)


def stamp(fitted: Fitted, base: dict[str, Any], version: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The file to write: ``version``, an ``adapted`` block (base version and hash, what changed,
    ``meta``), then the content hash over it all (classify.weights_hash), as the loader checks."""
    note = {"base_version": str(base.get("version", "")), "base_hash": weights_hash(base),
            "changed_features": fitted.changed, "new_features": fitted.added, **meta}
    data = {**fitted.data, "version": version, "adapted": note}
    data["hash"] = weights_hash(data)
    return data
