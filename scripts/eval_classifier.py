#!/usr/bin/env python
"""Evaluate the task classifier and write docs/classifier.md.

* dev 5-fold CV: train on four dev folds + realistic_train (+ extra rows), score the fifth;
  for three variants: hand rules only, token model only (no rule features), combined;
* realistic_train 5-fold CV (train on dev + four realistic folds): the tuning signal;
* held-out (tests/data/heldout_tasks.jsonl) with the *shipped* weights, plus rules-only and
  model-only variants trained on all training data, for the comparison.

    python scripts/eval_classifier.py [--dev PATH] [--realistic PATH] [--extra PATH]
                                      [--heldout PATH] [--no-heldout] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_classifier as T  # noqa: E402

from gateway import classify as C  # noqa: E402

TOKEN_ONLY_DROP = ("#",)  # token model only: no hand-rule / shape features
DOC = ROOT / "docs" / "classifier.md"
DEFAULT_HELDOUT = ROOT / "tests" / "data" / "heldout_tasks.jsonl"


def folds(labels: list[str], k: int = 5, seed: int = 13) -> list[int]:
    """Stratified fold id per row."""
    rng = random.Random(seed)
    fold = [0] * len(labels)
    for task in C.TASKS:
        idx = [i for i, lbl in enumerate(labels) if lbl == task]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            fold[i] = n % k
    return fold


def metrics(gold: list[str], pred: list[str]) -> dict:
    n = len(C.TASKS)
    cm = [[0] * n for _ in range(n)]
    for g, p in zip(gold, pred):
        cm[C.TASKS.index(g)][C.TASKS.index(p)] += 1
    f1 = []
    for i in range(n):
        tp = cm[i][i]
        fp = sum(cm[j][i] for j in range(n)) - tp
        fn = sum(cm[i]) - tp
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    acc = sum(cm[i][i] for i in range(n)) / max(len(gold), 1)
    return {"macro_f1": sum(f1) / n, "acc": acc, "f1": f1, "cm": cm, "n": len(gold)}


def predict_with(model: dict | None, feats: list[tuple[set[str], set[str]]], policy: bool = True) -> list[str]:
    m = C._Model(model) if model is not None else None
    out = []
    for strong, weak in feats:
        s = m.scores(strong, weak) if m is not None else C.rule_scores(strong)
        probs = C._softmax(s)
        if policy:
            out.append(C.decide(probs).task)
        else:
            out.append(C.TASKS[max(range(4), key=probs.__getitem__)])
    return out


def cv_dev(dev, realistic, extra, fd, fr, fe, variant: str, k: int = 5):
    """5-fold CV on dev; each fold trains on 4 dev folds + realistic + extra."""
    fold = folds([r["label"] for r in dev], k)
    gold, pred = [], []
    for f in range(k):
        tr = [i for i in range(len(dev)) if fold[i] != f]
        te = [i for i in range(len(dev)) if fold[i] == f]
        gold += [dev[i]["label"] for i in te]
        if variant == "rules":
            pred += predict_with(None, [fd[i] for i in te])
            continue
        feats = [fd[i] for i in tr] + fr + fe
        labels = [dev[i]["label"] for i in tr] + [r["label"] for r in realistic + extra]
        weights = [1.0] * len(tr) + [T.REALISTIC_WEIGHT] * (len(realistic) + len(extra))
        drop = TOKEN_ONLY_DROP if variant == "model" else ()
        model = T.fit(feats, labels, weights, drop_prefixes=drop)
        pred += predict_with(model, [fd[i] for i in te])
    return metrics(gold, pred)


def cv_realistic(dev, realistic, extra, fd, fr, fe, variant: str, k: int = 5):
    fold = folds([r["label"] for r in realistic], k)
    gold, pred = [], []
    for f in range(k):
        tr = [i for i in range(len(realistic)) if fold[i] != f]
        te = [i for i in range(len(realistic)) if fold[i] == f]
        gold += [realistic[i]["label"] for i in te]
        if variant == "rules":
            pred += predict_with(None, [fr[i] for i in te])
            continue
        feats = fd + [fr[i] for i in tr] + fe
        labels = [r["label"] for r in dev] + [realistic[i]["label"] for i in tr] + [r["label"] for r in extra]
        weights = [1.0] * len(dev) + [T.REALISTIC_WEIGHT] * (len(tr) + len(extra))
        drop = TOKEN_ONLY_DROP if variant == "model" else ()
        model = T.fit(feats, labels, weights, drop_prefixes=drop)
        pred += predict_with(model, [fr[i] for i in te])
    return metrics(gold, pred)


def fmt_cm(m: dict) -> str:
    short = ["chat", "code", "summ", "reason"]
    lines = ["| gold \\ predicted | " + " | ".join(short) + " | F1 |", "|---|" + "---|" * 5]
    for i, t in enumerate(C.TASKS):
        lines.append(f"| {t} | " + " | ".join(str(x) for x in m["cm"][i]) + f" | {m['f1'][i]:.3f} |")
    return "\n".join(lines)


def show(name: str, m: dict) -> str:
    return f"{name}: macro-F1 {m['macro_f1']:.4f}, accuracy {m['acc']:.4f} (n={m['n']})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default=str(T.DEFAULT_DEV))
    ap.add_argument("--realistic", default=str(T.DEFAULT_REALISTIC))
    ap.add_argument("--extra", default=str(T.DEFAULT_EXTRA))
    ap.add_argument("--heldout", default=str(DEFAULT_HELDOUT))
    ap.add_argument("--no-heldout", action="store_true", help="skip the held-out set (use while tuning)")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite docs/classifier.md")
    ap.add_argument("--variants", default="rules,model,combined")
    args = ap.parse_args()
    t0 = time.time()
    dev, realistic, extra = T.load_jsonl(args.dev), T.load_jsonl(args.realistic), T.load_jsonl(args.extra)
    fd, fr, fe = T.featurize(dev), T.featurize(realistic), T.featurize(extra)
    variants = args.variants.split(",")
    res: dict[str, dict] = {}
    for v in variants:
        res["dev_" + v] = cv_dev(dev, realistic, extra, fd, fr, fe, v)
        print(show(f"dev 5-fold CV [{v}]", res["dev_" + v]), flush=True)
        res["real_" + v] = cv_realistic(dev, realistic, extra, fd, fr, fe, v)
        print(show(f"realistic 5-fold CV [{v}]", res["real_" + v]), flush=True)
    if "combined" in variants:
        print("\ndev CV confusion matrix (combined):\n" + fmt_cm(res["dev_combined"]))
        print("\nrealistic CV confusion matrix (combined):\n" + fmt_cm(res["real_combined"]))

    if not args.no_heldout:
        held = T.load_jsonl(args.heldout)
        fh = T.featurize(held)
        gold = [r["label"] for r in held]
        res["held_shipped"] = metrics(gold, [C.classify(r["messages"]).task for r in held])
        print("\n" + show("held-out [shipped weights, combined]", res["held_shipped"]))
        print(fmt_cm(res["held_shipped"]))
        res["held_rules"] = metrics(gold, predict_with(None, fh))
        print(show("held-out [rules only]", res["held_rules"]))
        if "model" in variants:
            rows, w = T.training_set(dev, realistic, extra)
            m = T.fit(fd + fr + fe, [r["label"] for r in rows], w, drop_prefixes=TOKEN_ONLY_DROP)
            res["held_model"] = metrics(gold, predict_with(m, fh))
            print(show("held-out [token model only, trained on all]", res["held_model"]))
        model = C._MODEL
        if model is not None:
            raw = [C._softmax(model.scores(s, wk)) for s, wk in fh]
            res["held_nopolicy"] = metrics(gold, [C.TASKS[max(range(4), key=p.__getitem__)] for p in raw])
            print(show("held-out [shipped weights, no low-confidence policy]", res["held_nopolicy"]))
    print(f"\n({time.time() - t0:.0f}s)")
    if not args.no_write and not args.no_heldout and all(k in res for k in ("dev_combined", "held_shipped")):
        write_doc(res, len(dev), len(realistic), len(extra), len(T.load_jsonl(args.heldout)))
        print(f"wrote {DOC.relative_to(ROOT)}")


def write_doc(res: dict, n_dev: int, n_real: int, n_extra: int, n_held: int) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    rows = []
    for v, label in (("rules", "hand rules only"), ("model", "token model only (LR, no rule features)"), ("combined", "combined (shipped)")):
        d, r = res.get("dev_" + v), res.get("real_" + v)
        h = res.get("held_shipped") if v == "combined" else res.get("held_" + v)
        if d is None:
            continue
        rows.append(
            f"| {label} | {d['macro_f1']:.3f} | {r['macro_f1']:.3f} | "
            + (f"{h['macro_f1']:.3f} / {h['acc']:.3f}" if h else "–")
            + " |"
        )
    block = f"""{start}
_Generated by `scripts/eval_classifier.py` ({n_dev} dev rows, {n_real} realistic_train rows, {n_extra} extra rows, {n_held} held-out rows)._

| variant | dev 5-fold CV macro-F1 | realistic_train 5-fold CV macro-F1 | held-out macro-F1 / accuracy |
|---|---|---|---|
{chr(10).join(rows)}

Held-out with the shipped weights but **without** the low-confidence policy: macro-F1 {res['held_nopolicy']['macro_f1']:.3f}, accuracy {res['held_nopolicy']['acc']:.3f}.

**Dev 5-fold CV (combined)** — {show('dev', res['dev_combined'])}

{fmt_cm(res['dev_combined'])}

**realistic_train 5-fold CV (combined)** — {show('realistic', res['real_combined'])}

{fmt_cm(res['real_combined'])}

**Held-out set, shipped weights** — {show('held-out', res['held_shipped'])}

{fmt_cm(res['held_shipped'])}
{end}"""
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = (text.rstrip() + "\n\n## Results\n\n" if text else "# Task classifier\n\n## Results\n\n") + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


if __name__ == "__main__":
    main()
