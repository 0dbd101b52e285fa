"""The task classifier's linear scorer: class scores from packed integer weights.

A weights file (scripts/train_classifier.py) holds per-feature weights for the four classes, a
bias, ``alpha`` (the value of a context feature) and, optionally, one of two blocks:

* ``embedding``: what the classifier knows of words it never saw in training. Each word of a
  static word-embedding table (GloVe; ``words``, and the weights by class in ``lanes``) has four
  class weights, ``k * V^T u(word)`` folded at training time (scripts/classifier_embedding.py),
  and a request's scores get their sum over its words divided by ``sqrt(n)`` (``pool: "sqrt"``)
  or ``n`` (``"mean"``), ``n`` the number of such words (context words counting ``alpha *
  weak``). Pooled rather than summed, so a long pasted document does not outvote its instruction.
* ``style`` and ``gate`` (``--styled``, not shipped): scores = shared + P(person) * style, P(person)
  the gate's logistic probability.

Every feature's weights ride in one int, 40 bits per lane (:func:`pack`): lanes 0-3 the class
weights, 4-7 the embedding (or style) weights, 8 the embedding count (or the gate). Scoring a
request is one ``sum(map(dict.get, features))`` in C and a few shifts, whatever the blocks.
"""

from __future__ import annotations

from itertools import repeat
from math import exp, sqrt
from typing import Any

from gateway.config.tasks import TASKS

__all__ = ["LOW_CONFIDENCE", "RUNNER_UP_MIN", "LinearModel", "pack"]

LANE = 40  # bits per class in a packed weight
_HALF = 1 << (LANE - 1)
_MASK = (1 << LANE) - 1
SCALE = 1_000_000  # weights have 4 decimals, alpha (0.8) 1 or 2: scaled, w and alpha*w are exact integers
_OFFSET = sum(_HALF << (LANE * k) for k in range(4))  # makes every lane of a sum non-negative
_OFFSET9 = sum(_HALF << (LANE * k) for k in range(9))  # the same with the lanes of a block
_2LANE, _3LANE, _4LANE, _5LANE, _6LANE, _7LANE, _8LANE = (k * LANE for k in range(2, 9))
_ZEROS = repeat(0)
_MAX_FEATURES = 10_000  # far more than one request yields (the windows bound the text read)
POOLS = ("sqrt", "mean")
# The low-confidence policy's thresholds (gateway.routing.classify.decide) when a file does not set them
LOW_CONFIDENCE = 0.55
RUNNER_UP_MIN = 0.2


def pack(w: list[float]) -> int:
    """The weights of a feature as one int, 40 bits (two's complement) per lane: one
    ``sum(map(weights.get, features, ...))`` over such ints adds all lanes at once, in C,
    exactly (integer arithmetic)."""
    return sum(round(float(x) * SCALE) << (LANE * k) for k, x in enumerate(w))


def _add_words(table: dict[str, int], words: list[str], lanes: list[list[float]], value: float) -> None:
    """Add each word's embedding lanes (4-7, times ``value``) and its count (lane 8, ``value``),
    unrolled: a file with an embedding block has ~50,000 words to pack at start-up."""
    r, s = round, SCALE * value
    count = round(s) << _8LANE
    get = table.get
    for word, e0, e1, e2, e3 in zip(words, *lanes, strict=True):
        table[word] = get(word, 0) + count + ((r(e0 * s) << _4LANE) + (r(e1 * s) << _5LANE)
                                              + (r(e2 * s) << _6LANE) + (r(e3 * s) << _7LANE))


def _lane(t: int, shift: int) -> float:
    return (((t >> shift) & _MASK) - _HALF) / SCALE


class LinearModel:
    """Linear scorer over packed integer weights (see :func:`pack`). Context ("weak") features
    have their own table with the weights already multiplied by ``alpha``, so strong and weak
    features add up in one integer."""

    __slots__ = ("alpha", "bias", "weights", "weak_weights", "low_conf", "runner_min", "version", "hash",
                 "style_bias", "gate_bias", "pool")

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["tasks"]) != TASKS:
            raise ValueError("classifier weights were trained for other labels")
        self.alpha = al = float(data["alpha"])
        self.bias = tuple(float(b) for b in data["bias"])
        tables: dict[str, list[float]] = {name: list(w) for name, w in data["weights"].items()}
        self.style_bias: tuple[float, ...] | None = None
        self.gate_bias = 0.0
        self.pool: str | None = None
        style, gate, emb = data.get("style"), data.get("gate"), data.get("embedding")
        if emb is not None and style is not None:
            raise ValueError("classifier weights have both an embedding and a style block")
        if style is not None and gate is not None:
            self.style_bias = tuple(float(b) for b in style["bias"])
            self.gate_bias = float(gate["bias"])
            names = tables.keys() | style["weights"].keys() | gate["weights"].keys()
            zeros = [0.0] * 4
            tables = {name: [*tables.get(name, zeros), *style["weights"].get(name, zeros),
                             float(gate["weights"].get(name, 0.0))] for name in names}
        words: list[str] = emb["words"] if emb is not None else []
        lanes: list[list[float]] = emb["lanes"] if emb is not None else []
        if emb is not None and (len(lanes) != 4 or any(len(c) != len(words) for c in lanes)):
            raise ValueError("classifier weights: the embedding block needs four lanes, one weight per word")
        biggest = max(max((abs(x) for w in tables.values() for x in w), default=0.0),
                      max((max(c, default=0.0) for c in lanes), default=0.0),
                      -min((min(c, default=0.0) for c in lanes), default=0.0))
        if biggest * _MAX_FEATURES * max(1.0, al) >= _HALF / SCALE:
            raise ValueError("classifier weights too large for the packed scorer")
        self.weights: dict[str, int] = {name: pack(w) for name, w in tables.items()}
        self.weak_weights: dict[str, int] = {name: pack([al * x for x in w]) for name, w in tables.items()}
        if emb is not None:
            if emb.get("pool") not in POOLS:
                raise ValueError(f"classifier weights: embedding pool must be one of {POOLS}")
            self.pool = emb["pool"]
            _add_words(self.weights, words, lanes, 1.0)
            share = float(emb.get("weak", 1.0))  # a context word counts alpha * share
            if share:
                _add_words(self.weak_weights, words, lanes, al * share)
        self.low_conf = float(data.get("low_confidence", LOW_CONFIDENCE))
        self.runner_min = float(data.get("runner_up_min", RUNNER_UP_MIN))
        self.version, self.hash = str(data.get("version", "")), ""

    def scores(self, strong: set[str], weak: set[str]) -> list[float]:
        total = sum(map(self.weights.get, strong, _ZEROS))
        if weak:
            total += sum(map(self.weak_weights.get, weak, _ZEROS))
        # per-class sums of the lanes (each |sum| stays below 2**39 / SCALE, about 550,000: far
        # above any real score); the offset makes every lane non-negative
        b0, b1, b2, b3 = self.bias
        if self.pool is None and self.style_bias is None:
            t = total + _OFFSET
            return [
                ((t & _MASK) - _HALF) / SCALE + b0,
                (((t >> LANE) & _MASK) - _HALF) / SCALE + b1,
                (((t >> _2LANE) & _MASK) - _HALF) / SCALE + b2,
                (((t >> _3LANE) & _MASK) - _HALF) / SCALE + b3,
            ]
        t = total + _OFFSET9
        if self.pool is not None:
            n = ((t >> _8LANE) & _MASK) - _HALF  # the words found, times SCALE (an exact integer)
            if n > 0:  # each word lane over n (mean) or sqrt(n) (sqrt), SCALE cancelling out
                d = n if self.pool == "mean" else sqrt(n * SCALE)
                return [
                    ((t & _MASK) - _HALF) / SCALE + b0 + (((t >> _4LANE) & _MASK) - _HALF) / d,
                    (((t >> LANE) & _MASK) - _HALF) / SCALE + b1 + (((t >> _5LANE) & _MASK) - _HALF) / d,
                    (((t >> _2LANE) & _MASK) - _HALF) / SCALE + b2 + (((t >> _6LANE) & _MASK) - _HALF) / d,
                    (((t >> _3LANE) & _MASK) - _HALF) / SCALE + b3 + (((t >> _7LANE) & _MASK) - _HALF) / d,
                ]
        s = [
            ((t & _MASK) - _HALF) / SCALE + b0,
            (((t >> LANE) & _MASK) - _HALF) / SCALE + b1,
            (((t >> _2LANE) & _MASK) - _HALF) / SCALE + b2,
            (((t >> _3LANE) & _MASK) - _HALF) / SCALE + b3,
        ]
        if self.pool is not None:  # no word of the table
            return s
        g = _lane(t, _8LANE) + self.gate_bias
        p = 1.0 / (1.0 + exp(-g)) if g > -700.0 else 0.0
        h0, h1, h2, h3 = self.style_bias  # type: ignore[misc]
        return [s[0] + p * (_lane(t, _4LANE) + h0), s[1] + p * (_lane(t, _5LANE) + h1),
                s[2] + p * (_lane(t, _6LANE) + h2), s[3] + p * (_lane(t, _7LANE) + h3)]

    def person(self, strong: set[str], weak: set[str]) -> float:
        """The gate's probability that the request was written by a person (0 without a gate)."""
        if self.style_bias is None:
            return 0.0
        total = sum(map(self.weights.get, strong, _ZEROS)) + sum(map(self.weak_weights.get, weak, _ZEROS))
        g = _lane(total + _OFFSET9, _8LANE) + self.gate_bias
        return 1.0 / (1.0 + exp(-g)) if g > -700.0 else 0.0
