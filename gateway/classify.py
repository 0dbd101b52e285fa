"""Task classifier: labels a chat request ``simple_chat``, ``code_generation``,
``summarization`` or ``complex_reasoning`` with a confidence in [0, 1].

Pure Python (stdlib + orjson), in-process, deterministic, no network.

Model: multinomial logistic regression over sparse binary features; the weights ship in
``gateway/data/classifier_weights.json`` and are trained by ``scripts/train_classifier.py``
(see ``docs/classifier.md``). Features (:func:`extract_features`):

* lower-cased word tokens of the last user turn (a bounded head + tail of long texts),
  CJK character bigrams near the start and end of the turn;
* tokens of the rest of the conversation (system prompt, earlier turns, tool results),
  bounded per message, counted at weight ``alpha``;
* hand-rule features (all start with ``#``): multilingual lexicons (summarize / prove /
  trade-off / step-by-step / code words / greetings / rewrite ...), structural markers
  (code fences, stack traces, diffs, shell, SQL, YAML/Terraform/Dockerfile, log lines,
  e-mail headers, speaker lines, math notation), where the instruction sits (head/tail),
  length / line / number / symbol-density buckets and the conversation's shape, plus the
  lexicon/structure of earlier turns, the system prompt and trailing tool output.

Low-confidence policy (:func:`decide`): if the winning probability is below
``LOW_CONFIDENCE`` and a *more demanding* class (tier: simple_chat < summarization <
code_generation = complex_reasoning) has probability >= ``RUNNER_UP_MIN``, the most likely
of those more demanding classes is returned instead, so uncertain requests go to the
higher-quality side. A request with no text at all is ``simple_chat`` with confidence 0.

Module layout: this module is the public API and the scorers; features are extracted in
:mod:`gateway.classify_features` from the lexicons in :mod:`gateway.classify_lexicon`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.classify_features import extract_features

__all__ = ["TASKS", "Classification", "classify", "decide", "extract_features", "rule_scores"]

TASKS: tuple[str, ...] = ("simple_chat", "code_generation", "summarization", "complex_reasoning")

# Tier used by the low-confidence policy: higher = needs a stronger model.
TIER: dict[str, int] = {"simple_chat": 0, "summarization": 1, "code_generation": 2, "complex_reasoning": 2}
LOW_CONFIDENCE = 0.55
RUNNER_UP_MIN = 0.2

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "classifier_weights.json"


@dataclass(frozen=True, slots=True)
class Classification:
    task: str
    confidence: float  # 0..1


# --------------------------------------------------------------------------- hand-rule baseline

_RULE_W: dict[str, tuple[float, float, float, float]] = {
    # simple_chat, code_generation, summarization, complex_reasoning
    "#summ": (0, 0, 3.0, 0),
    "#hsumm": (0, 0, 1.0, 0),
    "#tsumm": (0, 0, 1.0, 0),
    "#proof": (0, 0, 0, 3.0),
    "#tradeoff": (0, 0, 0, 1.5),
    "#steps": (0, 0, 0, 1.5),
    "#math": (0, 0, 0, 1.2),
    "#money": (0, 0, 0, 0.5),
    "#pct": (0, 0, 0, 0.3),
    "#codeword": (0, 1.5, 0, 0),
    "#fence": (0, 2.0, 0, 0),
    "#stack": (0, 2.5, 0, 0),
    "#diff": (0, 2.5, 0, 0),
    "#shell": (0, 1.5, 0, 0),
    "#sql": (0, 2.0, 0, 0),
    "#config": (0, 2.0, 0, 0),
    "#syntax": (0, 1.2, 0, 0),
    "#fix": (0, 0.7, 0, 0),
    "#greet": (1.5, 0, 0, 0),
    "#greet_first": (1.5, 0, 0, 0),
    "#rewrite": (1.5, 0, 0, 0),
    "#explain": (0.3, 0, 0, 0),
    "#logline": (0, 0.5, 0.8, 0),
    "#speakers0": (0, 0, 1.0, 0),
    "#speakers1": (0, 0, 1.5, 0),
    "#speakers2": (0, 0, 2.0, 0),
    "#email": (0, 0, 1.0, 0),
    "#ticket": (0, 0, 0.8, 0),
    "#happened": (0, 0, 1.2, 0),
    "#len0": (1.5, 0, 0, 0),
    "#len1": (1.2, 0, 0, 0),
    "#len2": (1.0, 0, 0, 0),
    "#len3": (0.6, 0, 0, 0.2),
    "#len6": (0, 0, 0.3, 0.3),
    "#len7": (0, 0, 1.0, 0),
    "#len8": (0, 0, 1.5, 0),
    "#len9": (0, 0, 2.0, 0),
    "#len10": (0, 0, 2.5, 0),
    "#len11": (0, 0, 2.5, 0),
    "#nums3": (0, 0, 0, 0.7),
    "#nums4": (0, 0, 0, 1.0),
    "#nums5": (0, 0, 0, 1.2),
}


def rule_scores(strong: set[str]) -> list[float]:
    """Hand-rule baseline scores (the fallback if no weights file, and the comparison baseline)."""
    s = [0.5, 0.0, 0.0, 0.0]
    for f in _RULE_W.keys() & strong:
        w = _RULE_W[f]
        s[0] += w[0]
        s[1] += w[1]
        s[2] += w[2]
        s[3] += w[3]
    return s


# --------------------------------------------------------------------------- model


class _Model:
    """Linear scorer. Weights are packed as two complex numbers per feature, so one C-level
    ``sum(map(...))`` over the matched features accumulates two classes at once."""

    __slots__ = ("alpha", "bias", "w01", "w23", "low_conf", "runner_min")

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["tasks"]) != TASKS:
            raise ValueError("classifier weights were trained for other labels")
        self.alpha = float(data["alpha"])
        self.bias = [float(b) for b in data["bias"]]
        self.w01: dict[str, complex] = {}
        self.w23: dict[str, complex] = {}
        for name, w in data["weights"].items():
            self.w01[name] = complex(w[0], w[1])
            self.w23[name] = complex(w[2], w[3])
        self.low_conf = float(data.get("low_confidence", LOW_CONFIDENCE))
        self.runner_min = float(data.get("runner_up_min", RUNNER_UP_MIN))

    def scores(self, strong: set[str], weak: set[str]) -> list[float]:
        w01, w23 = self.w01, self.w23
        hit = w01.keys() & strong
        a = sum(map(w01.__getitem__, hit), 0j)
        b = sum(map(w23.__getitem__, hit), 0j)
        if weak:
            hitw = w01.keys() & weak
            if hitw:
                al = self.alpha
                a += al * sum(map(w01.__getitem__, hitw), 0j)
                b += al * sum(map(w23.__getitem__, hitw), 0j)
        bias = self.bias
        return [a.real + bias[0], a.imag + bias[1], b.real + bias[2], b.imag + bias[3]]


def _softmax(s: list[float]) -> list[float]:
    m = max(s)
    e = [math.exp(x - m) for x in s]
    t = sum(e)
    return [x / t for x in e]


def load_model(path: Path | str = WEIGHTS_PATH) -> _Model | None:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    return _Model(data)


_MODEL: _Model | None = load_model()


def decide(probs: list[float], low_conf: float = LOW_CONFIDENCE, runner_min: float = RUNNER_UP_MIN) -> Classification:
    """Apply the low-confidence policy to class probabilities (ordered as TASKS)."""
    best = max(range(4), key=probs.__getitem__)
    if probs[best] < low_conf:
        tier = TIER[TASKS[best]]
        alt = -1
        for i in range(4):
            if TIER[TASKS[i]] > tier and probs[i] >= runner_min and (alt < 0 or probs[i] > probs[alt]):
                alt = i
        if alt >= 0:
            best = alt
    return Classification(TASKS[best], round(probs[best], 4))


def classify(messages: list[dict]) -> Classification:
    """Classify an OpenAI-style chat request. Never raises on odd message shapes."""
    try:
        strong, weak = extract_features(messages)
    except Exception:  # malformed input: route to the safe side rather than fail the request
        return Classification("complex_reasoning", 0.0)
    if "#empty" in strong or ("#notext" in strong and not weak and "#image" not in strong):
        return Classification("simple_chat", 0.0)  # nothing to read at all
    model = _MODEL
    if model is None:
        return decide(_softmax(rule_scores(strong)))
    return decide(_softmax(model.scores(strong, weak)), model.low_conf, model.runner_min)
