#!/usr/bin/env python
"""Train the task classifier and write gateway/data/classifier_weights.json.

Multinomial logistic regression (scikit-learn, training only) over the sparse binary
features of gateway.classify.extract_features. Needs the ``train`` extra:
``pip install -e '.[train]'``.

    python scripts/train_classifier.py [--dev PATH] [--realistic PATH] [--extra PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.classify import TASKS, WEIGHTS_PATH, extract_features  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data" / "task_routing"
DEFAULT_DEV = DATA_DIR / "dev.jsonl"
DEFAULT_REALISTIC = DATA_DIR / "realistic_train.jsonl"
DEFAULT_EXTRA = ROOT / "tests" / "data" / "extra_train_tasks.jsonl"

# Hyper-parameters (tuned by CV on dev + realistic_train only, never on the held-out set).
ALPHA = 0.4  # value of context features relative to last-user-turn features
C = 4.0  # inverse L2 strength
REALISTIC_WEIGHT = 5.0  # sample weight of realistic/extra rows vs dev rows
RULE_VALUE = 2.0  # feature value of hand-rule/shape features ("#..."): less shrinkage than tokens
MIN_DF = 2
PRUNE = 0.01  # drop features whose largest |weight| is below this


def load_jsonl(path: Path | str) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [orjson.loads(line) for line in p.read_bytes().splitlines() if line.strip()]


def featurize(rows: list[dict]) -> list[tuple[set[str], set[str]]]:
    return [extract_features(r["messages"]) for r in rows]


def fit(
    feats: list[tuple[set[str], set[str]]],
    labels: list[str],
    weights: list[float],
    *,
    alpha: float = ALPHA,
    c: float = C,
    min_df: int = MIN_DF,
    prune: float = PRUNE,
    rule_value: float = RULE_VALUE,
    drop_prefixes: tuple[str, ...] = (),
) -> dict:
    """Fit and return the weights-file dict."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    df: dict[str, int] = {}
    for strong, weak in feats:
        for f in strong | weak:
            df[f] = df.get(f, 0) + 1
    vocab = sorted(f for f, n in df.items() if n >= min_df and not f.startswith(drop_prefixes))
    index = {f: i for i, f in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, (strong, weak) in enumerate(feats):
        for f in strong:
            j = index.get(f)
            if j is not None:
                rows.append(r)
                cols.append(j)
                vals.append(rule_value if f[0] == "#" else 1.0)
        for f in weak:
            j = index.get(f)
            if j is not None:
                rows.append(r)
                cols.append(j)
                vals.append(alpha)
    X = csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocab)), dtype=np.float64)
    y = np.array([TASKS.index(lbl) for lbl in labels])
    clf = LogisticRegression(C=c, max_iter=3000, tol=1e-5)
    clf.fit(X, y, sample_weight=np.array(weights))
    W = clf.coef_.T  # (n_features, 4)
    out: dict[str, list[float]] = {}
    for f, w in zip(vocab, W):
        if f[0] == "#":
            w = w * rule_value  # fold the feature value into the shipped weight
        if np.abs(w).max() >= prune:
            out[f] = [round(float(x), 4) for x in w]
    return {
        "version": 1,
        "tasks": list(TASKS),
        "alpha": alpha,
        "bias": [round(float(b), 4) for b in clf.intercept_],
        "weights": out,
    }


def training_set(dev: list[dict], realistic: list[dict], extra: list[dict]) -> tuple[list[dict], list[float]]:
    rows = dev + realistic + extra
    w = [1.0] * len(dev) + [REALISTIC_WEIGHT] * (len(realistic) + len(extra))
    return rows, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default=str(DEFAULT_DEV))
    ap.add_argument("--realistic", default=str(DEFAULT_REALISTIC))
    ap.add_argument("--extra", default=str(DEFAULT_EXTRA))
    ap.add_argument("--out", default=str(WEIGHTS_PATH))
    args = ap.parse_args()
    t0 = time.time()
    dev, realistic, extra = load_jsonl(args.dev), load_jsonl(args.realistic), load_jsonl(args.extra)
    if not dev:
        sys.exit(f"no training data at {args.dev}")
    rows, weights = training_set(dev, realistic, extra)
    model = fit(featurize(rows), [r["label"] for r in rows], weights)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(model))
    print(
        f"trained on {len(dev)} dev + {len(realistic)} realistic + {len(extra)} extra rows; "
        f"{len(model['weights'])} features -> {out} ({out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
