#!/usr/bin/env python
"""Evaluate the task classifier and write the Results section of docs/classifier.md.

    python scripts/eval_classifier.py --data DIR [--extra PATH] [--heldout PATH] [--variants LIST]
                                      [--no-write]

``--data`` is the task-routing data directory (default: $TASK_ROUTING_DATA). For each model
variant (``--variants``, default all):

* realistic_train, dev and human_train 5-fold CV: each fold of one file is scored by a model
  trained on every other training row (the other folds and the other files), with the shipped
  hyper-parameters; human_train also leave-one-dataset-out (all rows of a source dataset left
  out at once: how the model does on a writing style it has never seen);
* human_val.jsonl, measured only: the variant trained on all training rows (for ``combined``,
  the shipped weights file). Nothing is fitted or tuned on it.

The variants are model families over the same training rows: ``rules`` (the hand rules, no
training), ``tokens`` (logistic regression on words only), ``nobigram`` (the previous feature set:
words + hand rules), ``combined`` (shipped: + word bigrams), ``private`` (combined, with private
feature copies for the human_train rows: see train_classifier.PRIVATE), ``chars`` (combined +
character 4-grams of the words), ``ensemble`` (mean of the combined and chars scores). The held-out set
(tests/data/heldout_tasks.jsonl) is scored with the shipped weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_classifier as T  # noqa: E402

from gateway.routing import classify as C  # noqa: E402

DOC = ROOT / "docs" / "classifier.md"
DEFAULT_HELDOUT = ROOT / "tests" / "data" / "heldout_tasks.jsonl"
APP_FIXTURE = ROOT / "tests" / "data" / "app_tasks.jsonl"  # measured only, like the held-out set
VARIANTS = ("rules", "tokens", "nobigram", "combined", "private", "chars", "ensemble")
SHORT = ("chat", "code", "summ", "reason")


def transform(variant: str, feats: list[T.Feats]) -> list[T.Feats]:
    if variant == "nobigram":
        return [({f for f in s if " " not in f}, w) for s, w in feats]
    if variant == "chars":
        out = []
        for s, w in feats:
            grams = set()
            for t in s:
                if t[0] != "#" and " " not in t:
                    t = "<" + t + ">"
                    grams.update("~" + t[i : i + 4] for i in range(len(t) - 3))
            out.append((s | grams, w))
        return out
    return feats


def metrics(gold: list[int], pred: list[int]) -> dict:
    cm = [[0] * 4 for _ in range(4)]
    for g, p in zip(gold, pred):
        cm[g][p] += 1
    prf = []
    for k in range(4):
        tp, col, row = cm[k][k], sum(cm[j][k] for j in range(4)), sum(cm[k])
        p, r = tp / col if col else 0.0, tp / row if row else 0.0
        prf.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
    return {"macro_f1": sum(x[2] for x in prf) / 4, "acc": sum(cm[k][k] for k in range(4)) / max(1, len(gold)),
            "prf": prf, "cm": cm, "n": len(gold)}


class Bench:
    """Training rows with their features per variant, and the CV runs over them."""

    def __init__(self, sets: dict[str, list[dict]], embedding: T.Embedding | None = None,
                 augment_scale: dict[str, float] | None = None) -> None:
        self.rows, self.weights, self.files = T.training_set(sets, augment_scale=augment_scale)
        # augmented copies (train_classifier --augment): trained on only while their origin is not tested
        self.origin = T.origins(self.rows, self.files)
        self.embedding = embedding  # the word embeddings the combined and private variants train with
        self.base = T.featurize(self.rows)
        self.gold = [C.TASKS.index(r["label"]) for r in self.rows]
        self.feats: dict[str, list[T.Feats]] = {}

    def f(self, variant: str) -> list[T.Feats]:
        v = "combined" if variant in ("combined", "tokens", "ensemble", "private") else variant
        if v not in self.feats:
            self.feats[v] = transform(v, self.base)
        return self.feats[v]

    def scorer(self, variant: str, train: list[int]):
        """A function feats -> scores of ``variant`` trained on the rows ``train``."""
        if variant == "rules":
            return lambda x: C.rule_scores(x[0])
        if variant == "ensemble":
            a, b = self.scorer("combined", train), self.scorer("chars", train)
            return lambda x: [(p + q) / 2 for p, q in zip(a(x), b(transform("chars", [x])[0]))]
        feats = self.f(variant)
        drop = ("#",) if variant == "tokens" else ()
        private = ("human_train",) if variant == "private" else T.PRIVATE
        m = C._Model(T.fit([feats[i] for i in train], [self.rows[i]["label"] for i in train],
                           [self.weights[i] for i in train], drop_prefixes=drop,
                           domains=[self.files[i] for i in train], private=private, styled=T.STYLED,
                           embedding=self.embedding if variant in ("combined", "private") else None))
        return lambda x: m.scores(*x)

    def cv(self, variant: str, target: str, loso: bool = False) -> dict:
        """Out-of-fold predictions for the rows of file ``target``."""
        idx = [i for i, f in enumerate(self.files) if f == target]
        keys = [T.dataset(self.rows[i]) if loso else self.rows[i]["label"] for i in idx]
        fold = [sorted(set(keys)).index(k) for k in keys] if loso else T.folds(keys)
        pred = {}
        for f in sorted(set(fold)):
            test = {idx[j] for j in range(len(idx)) if fold[j] == f}
            score = self.scorer(variant, [i for i in range(len(self.rows))
                                          if i not in test and self.origin[i] not in test])
            src = self.base if variant in ("rules", "ensemble") else self.f(variant)
            for i in test:
                s = score(src[i])
                pred[i] = max(range(4), key=s.__getitem__)
        m = metrics([self.gold[i] for i in idx], [pred[i] for i in idx])
        m["by_source"] = T.per_source_report([self.rows[i] for i in idx], [target] * len(idx),
                                             [self.gold[i] for i in idx], [pred[i] for i in idx])
        return m


def fmt_cm(m: dict) -> str:
    lines = ["| gold \\ predicted | " + " | ".join(SHORT) + " | P | R | F1 |", "|---|" + "---|" * 7]
    for k, t in enumerate(C.TASKS):
        p, r, f = m["prf"][k]
        lines.append(f"| {t} | " + " | ".join(map(str, m["cm"][k])) + f" | {p:.3f} | {r:.3f} | {f:.3f} |")
    return "\n".join(lines)


def show(name: str, m: dict) -> str:
    return f"{name}: macro-F1 {m['macro_f1']:.4f}, accuracy {m['acc']:.4f} (n={m['n']})"


def shipped_eval(rows: list[dict]) -> tuple[dict, dict, float]:
    """Metrics of the shipped classifier (with and without its low-confidence policy) and ECE."""
    gold = [C.TASKS.index(r["label"]) for r in rows]
    pred = [C.TASKS.index(C.classify(r["messages"]).task) for r in rows]
    model = C._MODEL
    probs = [C._softmax(model.scores(*C.extract_features(r["messages"]))) for r in rows] if model else []
    raw = [max(range(4), key=p.__getitem__) for p in probs] or pred
    return metrics(gold, pred), metrics(gold, raw), T.ece(probs, gold) if probs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help=f"the task-routing data directory (default: ${T.DATA_ENV})")
    ap.add_argument("--extra", default=str(T.DEFAULT_EXTRA))
    ap.add_argument("--heldout", default=str(DEFAULT_HELDOUT))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-write", action="store_true", help="do not rewrite docs/classifier.md")
    ap.add_argument("--embeddings", metavar="PATH", help="as in train_classifier.py (the shipped weights use them)")
    args = ap.parse_args()
    t0 = time.time()
    directory = T.data_dir(args.data)
    bench = Bench(T.load_training(directory, args.extra), T.E.load(args.embeddings) if args.embeddings else None)
    val = T.load_jsonl(directory / "human_val.jsonl")
    if not val:
        sys.exit(f"{directory / 'human_val.jsonl'}: data not found")
    val_feats = T.featurize(val)
    val_gold = [C.TASKS.index(r["label"]) for r in val]
    table, res = [], {}
    everything = list(range(len(bench.rows)))
    for v in args.variants.split(","):
        row = {k: bench.cv(v, k) for k in ("realistic_train", "dev", "human_train", "app") if k in bench.files}
        if v in ("combined", "private"):
            row["loso"] = bench.cv(v, "human_train", loso=True)
        score = bench.scorer(v, everything)
        vf = val_feats if v in ("rules", "ensemble") else transform(v, val_feats)
        row["val"] = metrics(val_gold, [max(range(4), key=score(x).__getitem__) for x in vf])
        res[v] = row
        print(f"[{v}] " + "  ".join(f"{k} {m['macro_f1']:.4f}" for k, m in row.items()), flush=True)
        table.append(f"| {v} | " + " | ".join(f"{row[k]['macro_f1']:.3f}" if k in row else "–" for k in
                                            ("realistic_train", "dev", "human_train", "loso", "app", "val")) + " |")
    held = T.load_jsonl(args.heldout)
    h_pol, h_raw, h_ece = shipped_eval(held)
    v_pol, v_raw, v_ece = shipped_eval(val)
    fixtures = fixture_evals()
    print("\n" + show("held-out [shipped]", h_pol) + f"; without the low-confidence policy {h_raw['macro_f1']:.4f}")
    for name, (m, raw) in fixtures.items():
        print(show(f"{name} [shipped]", m) + f"; without the policy {raw['macro_f1']:.4f}")
    print(show("human_val [shipped]", v_pol) + f"; without the policy {v_raw['macro_f1']:.4f}; ECE {v_ece:.4f}")
    print(fmt_cm(v_pol))
    if "combined" in res:
        print("\nhuman_train, per source (5-fold CV):\n" + res["combined"]["human_train"]["by_source"])
        print("human_train, leave one dataset out:\n" + res["combined"]["loso"]["by_source"])
    print(f"\n({time.time() - t0:.0f}s)")
    if not args.no_write and "combined" in res:
        write_doc(table, res["combined"], (h_pol, h_raw, h_ece), (v_pol, v_raw, v_ece), val, bench, fixtures)
        print(f"wrote {DOC.relative_to(ROOT)}")


def fixture_evals() -> dict[str, tuple[dict, dict]]:
    """The shipped classifier on the fixtures written for this repository (measured only): the
    app-style requests (tests/data/app_tasks.jsonl) and the agent-shaped ones (tests/agent_fixture.py)."""
    from tests.agent_fixture import labelled

    out = {}
    for name, rows in (("app fixture", T.load_jsonl(APP_FIXTURE)),
                       ("agent fixture", [{"messages": m, "label": lbl} for m, lbl, _ in labelled()])):
        if rows:
            m, raw, _ = shipped_eval(rows)
            out[name] = (m, raw)
    return out


def per_dataset(rows: list[dict]) -> str:
    gold = [C.TASKS.index(r["label"]) for r in rows]
    pred = [C.TASKS.index(C.classify(r["messages"]).task) for r in rows]
    return T.per_source_report(rows, ["human_val"] * len(rows), gold, pred)


def write_doc(table: list[str], comb: dict, held: tuple, val: tuple, val_rows: list[dict], bench: Bench,
              fixtures: dict[str, tuple[dict, dict]]) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    counts = ", ".join(f"{bench.files.count(k)} {k}" for k in dict.fromkeys(bench.files))
    fixture_lines = "\n".join(f"**{name.capitalize()}, shipped weights** — {show(name, m)}; without the policy "
                              f"{raw['macro_f1']:.4f}." for name, (m, raw) in fixtures.items())
    block = f"""{start}
_Generated by `scripts/eval_classifier.py --data DIR` (training rows: {counts}; {len(val_rows)} human_val rows, {held[0]['n']} held-out rows)._

Macro-F1 by model family (CV columns: each fold scored by a model trained on every other training
row; "leave one dataset out": each human_train source dataset scored by a model trained without it;
human_val: trained on all training rows, measured only):

| variant | realistic_train CV | dev CV | human_train CV | human_train leave one dataset out | app CV | human_val |
|---|---|---|---|---|---|---|
{chr(10).join(table)}

**human_val, shipped weights** — {show('human_val', val[0])}; without the low-confidence policy
{val[1]['macro_f1']:.4f}; expected calibration error {val[2]:.4f}.

{fmt_cm(val[0])}

```
{per_dataset(val_rows)}
```

**Held-out set, shipped weights** — {show('held-out', held[0])}; without the policy {held[1]['macro_f1']:.4f}.

{fmt_cm(held[0])}

{fixture_lines}

**realistic_train 5-fold CV (combined)** — {show('realistic_train', comb['realistic_train'])}

{fmt_cm(comb['realistic_train'])}

**dev 5-fold CV (combined)** — {show('dev', comb['dev'])}

**human_train, per source dataset (combined)**: 5-fold CV, then leave one dataset out:

```
{comb['human_train']['by_source']}
{comb['loso']['by_source']}
```
{end}"""
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = (text.rstrip() + "\n\n## Results\n\n" if text else "# Task classifier\n\n## Results\n\n") + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
