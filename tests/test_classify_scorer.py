"""The packed scorer (gateway/routing/scorer.py) computes what a weights file defines, in floats.

The weights here are the shipped ones plus made-up embedding blocks, so every lane and pooling rule
is checked whatever the shipped file holds."""

from __future__ import annotations

import json
import math

import pytest

from gateway.routing import classify as C
from gateway.routing import features as F
from gateway.routing.scorer import LinearModel
from tests.test_classify_features import _random_inputs, _rows


def _with_embedding(data: dict, pool: str, weak: float) -> dict:
    """Made-up word weights for every tenth feature name that is a word, and for words no weight names."""
    names = [f for f in sorted(data["weights"]) if f[0] != "#" and " " not in f][::10]
    names += ["condense", "abridge", "refactor", "kubernetes", "syllogism", "gist"]
    words = {w: [((i * 7 + k) % 13 - 6) / 10 for k in range(4)] for i, w in enumerate(dict.fromkeys(names))}
    return {**data, "embedding": {"pool": pool, "weak": weak, "source": "made-up", "weights": words}}


def _float_scores(data: dict, strong: set[str], weak: set[str]) -> list[float]:
    """The scores as the file defines them: linear part + pooled word weights."""
    al = data["alpha"]
    table = data["weights"]
    s = [data["bias"][k] + sum(table[f][k] for f in strong if f in table)
         + al * sum(table[f][k] for f in weak if f in table) for k in range(4)]
    emb = data.get("embedding")
    if not emb:
        return s
    words, share = emb["weights"], al * emb["weak"]
    n = sum(1 for f in strong if f in words) + share * sum(1 for f in weak if f in words)
    if n == 0:
        return s
    d = math.sqrt(n) if emb["pool"] == "sqrt" else n
    return [s[k] + (sum(words[f][k] for f in strong if f in words)
                    + share * sum(words[f][k] for f in weak if f in words)) / d for k in range(4)]


@pytest.mark.parametrize("pool,weak", [("sqrt", 1.0), ("mean", 1.0), ("mean", 0.0), ("sqrt", 0.5)])
def test_embedding_scores_equal_float_scores(pool: str, weak: float):
    data = _with_embedding(json.loads(C.WEIGHTS_PATH.read_text()), pool, weak)
    model = LinearModel(data)
    hits = 0
    texts = _random_inputs(200, seed=13) + _rows()[:200] + [
        [{"role": "user", "content": "Please condense and abridge this; the gist only."}],
        [{"role": "user", "content": "gist"}, {"role": "assistant", "content": "?"}, {"role": "user", "content": "ok"}],
    ]
    for msgs in texts:
        strong, weak_f = F.extract_features(msgs)
        hits += any(f in data["embedding"]["weights"] for f in strong | weak_f)
        expect = _float_scores(data, strong, weak_f)
        got = model.scores(strong, weak_f)
        assert all(abs(a - b) < 1e-9 for a, b in zip(got, expect)), (got, expect)
    assert hits > 100  # the made-up words were met, so the pooled lanes were exercised


def test_embedding_block_is_checked():
    data = json.loads(C.WEIGHTS_PATH.read_text())
    with pytest.raises(ValueError, match="pool"):
        LinearModel({**data, "embedding": {"pool": "max", "weights": {}}})
    style = {"files": ["x"], "weights": {}, "bias": [0, 0, 0, 0]}
    with pytest.raises(ValueError, match="both"):
        LinearModel({**data, "style": style, "gate": {"weights": {}, "bias": 0},
                     "embedding": {"pool": "mean", "weights": {}}})
