"""`gateway classifier adapt FILE.jsonl`: the task classifier refitted to an operator's own labelled
requests (a few hundred rows of their traffic), without the training data.

FILE has the rows of `gateway classifier eval` (``{"messages": [...], "label": "<task>"}``, an
optional ``weight``). The refit (:mod:`gateway.offline.adapt_fit`) starts from the weights this
process would classify with ($GATEWAY_CLASSIFIER_WEIGHTS or the shipped file). The report shows:

* k-fold cross-validation on FILE: the base weights on every row (before) against weights adapted
  on the other folds (after): macro-F1, accuracy, per-task precision / recall / F1, and the
  out-of-fold calibration error;
* the held-out set of general traffic (``tests/data/heldout_tasks.jsonl`` or ``--heldout``) with
  the base weights and the weights adapted on all of FILE: the file is written only if macro-F1
  there drops by at most ``--max-drop`` points (``--force`` writes anyway).

The temperature is the base file's: the weights are refitted in the loaded model's calibrated
space, so the features FILE never fires keep the calibration measured on thousands of training
rows; the report gives the out-of-fold ECE on FILE and the temperature a refit there would choose.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from gateway.offline.classifier_eval import Report
from gateway.routing.classify import TASKS, WEIGHTS_ENV, WEIGHTS_PATH, _Model, extract_features, load_model

HELDOUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "heldout_tasks.jsonl"
INSTALL_HINT = "pip install 'gateway[train]' (from a checkout: pip install -e '.[train]')"
STRENGTH = 5.0  # docs/classifier.md, "Adapting to your traffic": 1, 3, 5, 10 on two files
MAX_DROP = 2.0  # points of held-out macro-F1


def folds(keys: list[str], k: int = 5, seed: int = 13) -> list[int]:
    """A fold per row, stratified by key (a label; scripts/train_classifier.py: file + label), the
    same for the same file."""
    rng = random.Random(seed)
    fold = [0] * len(keys)
    for key in sorted(set(keys)):
        idx = [i for i, x in enumerate(keys) if x == key]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            fold[i] = n % k
    return fold


def _report(gold: list[int], pred: list[int]) -> Report:
    rep = Report()
    for g, p in zip(gold, pred):
        rep.cm[g][p] += 1
    return rep


def ece(probs: list[list[float]], gold: list[int], bins: int = 10) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins)."""
    acc, conf, n = [0.0] * bins, [0.0] * bins, [0] * bins
    for p, g in zip(probs, gold):
        k = p.index(max(p))
        b = min(bins - 1, int(p[k] * bins))
        n[b] += 1
        conf[b] += p[k]
        acc[b] += k == g
    return sum(abs(acc[b] - conf[b]) for b in range(bins) if n[b]) / max(1, len(gold))


def best_temperature(probs: list[list[float]], gold: list[int]) -> float:
    """The extra temperature minimising the out-of-fold negative log-likelihood (reported only)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(np.array(probs), 1e-300, None))
    g = np.array(gold)

    def nll(t: float) -> float:
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(g)), g] - np.log(np.exp(z).sum(axis=1))).mean())

    return float(minimize_scalar(nll, bounds=(0.25, 8.0), method="bounded").x)


def _side_by_side(before: Report, after: Report, left: str, right: str) -> list[str]:
    acc = lambda r: sum(r.cm[k][k] for k in range(4)) / max(1, r.n)  # noqa: E731
    lines = [f"{'':<18} {left:>24}   {right:>24}",
             f"{'macro-F1':<18} {before.macro_f1():>24.4f}   {after.macro_f1():>24.4f}",
             f"{'accuracy':<18} {acc(before):>24.4f}   {acc(after):>24.4f}",
             f"{'task (P / R / F1)':<18} {'':>24}   {'':>24}    n"]
    for k, (b, a) in enumerate(zip(before.prf(), after.prf())):
        cell = lambda x: f"{x[0]:.3f} / {x[1]:.3f} / {x[2]:.3f}"  # noqa: E731
        lines.append(f"{TASKS[k]:<18} {cell(b):>24}   {cell(a):>24} {sum(before.cm[k]):>4}")
    return lines


def load_rows(path: str | Path) -> tuple[list[dict], int]:
    """The usable rows of a labelled file and how many lines were skipped (no known label/messages)."""
    rows = [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]
    good = [r for r in rows if isinstance(r, dict) and r.get("label") in TASKS and isinstance(r.get("messages"), list)]
    return good, len(rows) - len(good)


def adapt(args: argparse.Namespace) -> int:
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
    except ImportError:
        print(f"gateway: classifier adapt needs numpy and scipy, the train extra: {INSTALL_HINT}")
        return 2
    from gateway.offline import adapt_fit as A

    base_path = Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_PATH)
    try:
        base: dict[str, Any] = orjson.loads(base_path.read_bytes())
        base_model = load_model(base_path)
        rows, skipped = load_rows(args.file)
    except (OSError, orjson.JSONDecodeError, ValueError) as exc:
        print(f"gateway: {exc}")
        return 2
    if base_model is None:
        print(f"gateway: no classifier weights at {base_path}")
        return 2
    if len(rows) < 2 * args.folds:
        print(f"gateway: {args.file}: {len(rows)} labelled rows; {args.folds}-fold CV needs at least {2 * args.folds}")
        return 2
    t0 = time.time()
    feats = [extract_features(r["messages"]) for r in rows]
    labels = [r["label"] for r in rows]
    weights = [float(r.get("weight", 1.0)) for r in rows]
    gold = [TASKS.index(x) for x in labels]
    counts = {t: n for t in TASKS if (n := Counter(labels)[t])}
    print(f"base weights {base_model.version} ({base_model.hash}) from {base_path}")
    print(f"{args.file}: {len(rows)} rows {counts}" + (f" ({skipped} lines skipped)" if skipped else "")
          + f"; strength {args.strength}")

    fold = folds(labels, args.folds)
    oof_pred, oof_probs = [0] * len(rows), [[0.0] * 4] * len(rows)
    for f in range(args.folds):
        tr = [i for i in range(len(rows)) if fold[i] != f]
        m = _Model(A.refit(base, [feats[i] for i in tr], [labels[i] for i in tr], args.strength,
                           [weights[i] for i in tr]).data)
        for i in range(len(rows)):
            if fold[i] == f:
                oof_pred[i], oof_probs[i] = A.predict(m, feats[i]), A.probs(m, feats[i])
    base_pred = [A.predict(base_model, x) for x in feats]
    base_probs = [A.probs(base_model, x) for x in feats]
    print(f"\n{args.folds}-fold cross-validation on {args.file}")
    print("\n".join(_side_by_side(_report(gold, base_pred), _report(gold, oof_pred),
                                  "before (base weights)", "after (adapted, CV)")))
    print(f"calibration (kept: the base temperature): out-of-fold ECE {ece(base_probs, gold):.4f} -> "
          f"{ece(oof_probs, gold):.4f}; a refit there would scale the scores by 1/{best_temperature(oof_probs, gold):.3f}")

    fitted = A.refit(base, feats, labels, args.strength, weights)
    adapted = _Model(fitted.data)
    print(f"\nadapted on all {len(rows)} rows: {fitted.changed} shipped features changed, {fitted.added} new")
    drop = 0.0
    heldout = Path(args.heldout) if args.heldout else HELDOUT
    if heldout.exists():
        hrows, _ = load_rows(heldout)
        hf = [extract_features(r["messages"]) for r in hrows]
        hg = [TASKS.index(r["label"]) for r in hrows]
        before = _report(hg, [A.predict(base_model, x) for x in hf])
        after = _report(hg, [A.predict(adapted, x) for x in hf])
        drop = 100 * (before.macro_f1() - after.macro_f1())
        print(f"\nheld-out general traffic {heldout} ({len(hrows)} rows)")
        print("\n".join(_side_by_side(before, after, "before (base weights)", "after (adapted)")))
        print(f"held-out macro-F1 drop: {drop:.2f} points (refused above --max-drop {args.max_drop})")
    elif not args.force:
        print(f"gateway: no held-out set at {heldout}: give --heldout FILE (or --force to write unchecked)")
        return 2
    if drop > args.max_drop and not args.force:
        print(f"\nnot written: the held-out macro-F1 drops {drop:.2f} points > {args.max_drop} "
              "(a larger --strength keeps closer to the base; --force writes anyway)")
        return 1
    if args.dry_run:
        print(f"\n--dry-run: nothing written ({time.time() - t0:.0f}s)")
        return 0
    version = args.version or f"{base_model.version}+adapt.{time.strftime('%Y-%m-%d', time.gmtime())}"
    data = A.stamp(fitted, base, version, {"rows": counts, "strength": args.strength, "file": Path(args.file).name,
                                           "heldout_drop_points": round(drop, 2), "temperature": "base"})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(data))
    check = load_model(out)  # what every replica will do with it: hash verified, packed
    print(f"\nwrote {out}: version {check.version} hash {check.hash} ({time.time() - t0:.0f}s)\n"
          f"roll it out: {WEIGHTS_ENV}={out.resolve()} on every replica (docs/operations.md)")
    return 0


def add_parser(sub: Any) -> None:
    a = sub.add_parser("adapt", help="refit the classifier to your own labelled requests (needs the train extra)")
    a.add_argument("file", help='JSON Lines: {"messages": [...], "label": "<task>"} per line (optional "weight")')
    a.add_argument("--out", default="classifier_weights.adapted.json", help="weights file to write")
    a.add_argument("--strength", type=float, default=STRENGTH,
                   help="pull towards the base weights (the L2 term strength * ||w - w0||^2)")
    a.add_argument("--version", help="version to write (default: <base version>+adapt.<date>)")
    a.add_argument("--folds", type=int, default=5, help="cross-validation folds on FILE")
    a.add_argument("--heldout", help=f"general-traffic labelled set (default: {HELDOUT.relative_to(HELDOUT.parents[2])})")
    a.add_argument("--max-drop", type=float, default=MAX_DROP, help="refuse when held-out macro-F1 drops more (points)")
    a.add_argument("--force", action="store_true", help="write even past --max-drop or without a held-out set")
    a.add_argument("--dry-run", action="store_true", help="report only")
