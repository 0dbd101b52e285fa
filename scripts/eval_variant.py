#!/usr/bin/env python
"""Measure one training variant: the training files' CV and the fixtures, in one table row.

    python scripts/eval_variant.py --data DIR [--extra FILE[:WEIGHT] ...] [--augment FILE[:SCALE] ...]
                                   [--weights PATH] [--measure FILE ...] [--name NAME]
                                   [--fold-seed S] [--targets FILE,...]

The training rows are those of scripts/train_classifier.py with the same ``--extra`` files. Each
training file (realistic_train, dev, human_train and every ``--extra`` file) gets a 5-fold CV in the
protocol of scripts/eval_classifier.py: each fold scored by a model trained on every other training
row, argmax (``--fold-seed`` draws other folds). Rows of ``--augment`` files (noised copies,
scripts/augment_rows.py) are trained on only while the row they copy is not in the tested fold.
``--weights`` is the weights file that ``train_classifier.py`` wrote for the same
rows (calibrated; default: the shipped one); with it, ``classify`` and its low-confidence policy
score the held-out set, the agent and app fixtures and each ``--measure`` file (measured only:
nothing here is fitted on them). Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def macro_present(m: dict) -> float:
    """Macro-F1 over the classes the file has (the Dolly rows have two of the four)."""
    present = [k for k in range(4) if sum(m["cm"][k])]
    return sum(m["prf"][k][2] for k in present) / max(1, len(present))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the task-routing data directory (default: $TASK_ROUTING_DATA)")
    ap.add_argument("--extra", action="append", metavar="FILE[:WEIGHT]", help="as in train_classifier.py")
    ap.add_argument("--weights", help="weights file trained on the same rows (default: the shipped one)")
    ap.add_argument("--measure", action="append", default=[], metavar="FILE", help="more files to score")
    ap.add_argument("--name", default="variant")
    ap.add_argument("--no-cv", action="store_true", help="only the fixtures and --measure files")
    ap.add_argument("--embeddings", metavar="PATH", help="as in train_classifier.py")
    ap.add_argument("--augment", action="append", metavar="FILE[:SCALE]",
                    help="as in train_classifier.py: noised copies of training rows, never trained on while "
                         "their origin row is tested, and not cross-validated themselves")
    ap.add_argument("--fold-seed", type=int, help="another split of every file (default: the protocol's, 13)")
    ap.add_argument("--targets", help="the training files to cross-validate (default: all but --augment)")
    args = ap.parse_args()
    if args.weights:  # before the classifier module loads its weights
        os.environ["GATEWAY_CLASSIFIER_WEIGHTS"] = str(Path(args.weights).resolve())
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    import eval_classifier as E
    import train_classifier as T

    t0 = time.time()
    cells: dict[str, float] = {}
    if not args.no_cv:
        sets = T.load_training(T.data_dir(args.data))
        extras, extra_weight = T.load_extras(args.extra)
        sets.update(extras)
        augmented, scale = T.load_augmented(args.augment)
        sets.update(augmented)
        T.ROW_WEIGHT.update(extra_weight)  # Bench weighs the rows by T.ROW_WEIGHT
        if args.fold_seed is not None:
            T.folds.__defaults__ = (5, args.fold_seed)
        bench = E.Bench(sets, T.E.load(args.embeddings) if args.embeddings else None, scale)
        targets = args.targets.split(",") if args.targets else ("realistic_train", "dev", "human_train", *extras)
        for target in targets:
            m = bench.cv("combined", target)
            cells[f"{target} CV"] = macro_present(m)
            print(E.show(f"{target} CV", m), flush=True)
            if target in extras:
                print(m["by_source"])
    held = T.load_jsonl(E.DEFAULT_HELDOUT)
    cells["held-out"] = E.shipped_eval(held)[0]["macro_f1"]
    for name, (m, _) in E.fixture_evals().items():
        cells[name.replace(" fixture", "")] = m["macro_f1"]
    for path in args.measure:
        rows = T.load_jsonl(path)
        m = E.shipped_eval(rows)[0]
        cells[Path(path).stem] = macro_present(m)
        print(E.show(Path(path).stem, m) + f"; over the classes present {macro_present(m):.4f}")
        print(E.fmt_cm(m))
        gold = [E.C.TASKS.index(r["label"]) for r in rows]
        print(T.per_source_report(rows, [Path(path).stem] * len(rows), gold,
                                  [E.C.TASKS.index(E.C.classify(r["messages"]).task) for r in rows]))
    print(f"weights {E.C.weights_info()}; {time.time() - t0:.0f}s")
    print("| variant | " + " | ".join(cells) + " |")
    print(f"| {args.name} | " + " | ".join(f"{v:.4f}" for v in cells.values()) + " |")


if __name__ == "__main__":
    main()
