"""The packed scorer (gateway/routing/scorer.py) computes what a weights file defines, in floats.

Checked on the shipped file as it is, and on copies with made-up blocks (style and gate; embedding
blocks with each pooling rule), so every lane is checked whatever the shipped file holds."""

from __future__ import annotations

import json
import math

import pytest

from gateway.routing import classify as C
from gateway.routing import features as F
from gateway.routing.scorer import LinearModel
from tests.test_classify_features import _random_inputs, _rows


def _float_scores(data: dict, strong: set[str], weak: set[str]) -> list[float]:
    """The scores as the file defines them: the linear part, plus P(person) * style (a style
    block) or the word weights pooled over the words found (an embedding block)."""
    al = data["alpha"]

    def lin(table: dict, bias: list[float], k: int) -> float:
        return bias[k] + sum(table[f][k] for f in strong if f in table) + al * sum(table[f][k] for f in weak if f in table)

    shared = [lin(data["weights"], data["bias"], k) for k in range(4)]
    if "style" in data:
        gate = data["gate"]["weights"]
        g = data["gate"]["bias"] + sum(gate.get(f, 0.0) for f in strong) + al * sum(gate.get(f, 0.0) for f in weak)
        p = 1 / (1 + math.exp(-g))
        return [shared[k] + p * lin(data["style"]["weights"], data["style"]["bias"], k) for k in range(4)]
    emb = data.get("embedding")
    if not emb:
        return shared
    words = {w: [c[i] for c in emb["lanes"]] for i, w in enumerate(emb["words"])}
    share = al * emb.get("weak", 1.0)
    n = sum(1 for f in strong if f in words) + share * sum(1 for f in weak if f in words)
    if n == 0:
        return shared
    d = math.sqrt(n) if emb["pool"] == "sqrt" else n
    return [shared[k] + (sum(words[f][k] for f in strong if f in words)
                         + share * sum(words[f][k] for f in weak if f in words)) / d for k in range(4)]


def _plain(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("embedding", "style", "gate")}


def _styled(data: dict) -> dict:
    """Made-up style weights and gate (every third feature)."""
    names = sorted(data["weights"])
    style = {f: [((i * 7 + k) % 11 - 5) / 10 for k in range(4)] for i, f in enumerate(names[::3])}
    gate = {f: ((i * 5) % 9 - 4) / 4 for i, f in enumerate(names[1::3])}
    return {**_plain(data), "style": {"files": ["made-up"], "weights": style, "bias": [0.1, -0.2, 0.3, -0.4]},
            "gate": {"weights": gate, "bias": -0.5}}


def _embedded(data: dict, pool: str, weak: float) -> dict:
    """Made-up word weights for every tenth word feature and for words no feature names."""
    names = [f for f in sorted(data["weights"]) if f[0] != "#" and " " not in f][::10]
    names += ["condense", "abridge", "refactor", "kubernetes", "syllogism", "gist"]
    words = list(dict.fromkeys(names))
    lanes = [[((i * 7 + k) % 13 - 6) / 10 for i in range(len(words))] for k in range(4)]
    return {**_plain(data), "embedding": {"pool": pool, "weak": weak, "source": "made-up", "words": words,
                                          "lanes": lanes}}


CASES = {
    "shipped": lambda d: d,
    "plain": _plain,
    "styled": _styled,
    "sqrt": lambda d: _embedded(d, "sqrt", 1.0),
    "mean": lambda d: _embedded(d, "mean", 1.0),
    "mean, no context words": lambda d: _embedded(d, "mean", 0.0),
    "sqrt, half context": lambda d: _embedded(d, "sqrt", 0.5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_packed_scores_equal_float_scores(case: str):
    data = CASES[case](json.loads(C.WEIGHTS_PATH.read_text()))
    model = LinearModel(data)
    words = set(data.get("embedding", {}).get("words", ()))
    hits = 0
    inputs = _random_inputs(300, seed=3) + _rows()[:300] + [
        [{"role": "user", "content": "Please condense and abridge this; the gist only."}],
        [{"role": "user", "content": "gist"}, {"role": "assistant", "content": "?"}, {"role": "user", "content": "ok"}],
    ]
    for msgs in inputs:
        strong, weak = F.extract_features(msgs)
        hits += any(f in words for f in strong | weak)
        expect = _float_scores(data, strong, weak)
        got = model.scores(strong, weak)
        assert all(abs(a - b) < 1e-9 for a, b in zip(got, expect)), (got, expect)
        if "gate" in data:
            assert 0.0 <= model.person(strong, weak) <= 1.0
    assert not words or hits > 100  # the words were met, so the pooled lanes were exercised


def test_blocks_are_checked():
    data = _plain(json.loads(C.WEIGHTS_PATH.read_text()))
    empty = {"pool": "mean", "words": [], "lanes": [[], [], [], []]}
    with pytest.raises(ValueError, match="pool"):
        LinearModel({**data, "embedding": {**empty, "pool": "max"}})
    with pytest.raises(ValueError, match="both"):
        LinearModel({**_styled(data), "embedding": empty})
    with pytest.raises(ValueError, match="too large"):
        LinearModel({**data, "embedding": {**empty, "words": ["word"], "lanes": [[-1e6], [0], [0], [0]]}})
    with pytest.raises(ValueError, match="four lanes"):
        LinearModel({**data, "embedding": {**empty, "words": ["word"], "lanes": [[1], [0], [0]]}})
