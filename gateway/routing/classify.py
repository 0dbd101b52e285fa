"""Task classifier: labels a chat request ``simple_chat``, ``code_generation``,
``summarization`` or ``complex_reasoning`` with a confidence in [0, 1].

Pure Python (stdlib + orjson), in-process, deterministic, no network.

Model: multinomial logistic regression over sparse binary features; the weights ship in
``gateway/routing/data/classifier_weights.json`` and are trained by ``scripts/train_classifier.py``
(see ``docs/classifier.md``), already divided by the temperature that calibrates the confidence.
The file carries a version and a content hash (:func:`weights_info`), which every replica
reports so the cluster view can flag replicas that classify differently. Features
(:func:`extract_features`):

* lower-cased word tokens and word bigrams of the last user turn (only its first and last 200
  characters when it is longer than 400; bigrams for plain text), CJK character bigrams near
  the start and end of the turn;
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

Speed (it runs on every request): the work per request is bounded whatever the prompt length,
features come from a few C-level passes (see :mod:`gateway.routing.features`), scoring is one
``sum(map(dict.get, ...))`` over packed-integer weights, a result is a shared immutable value
(:func:`_result`), and exact repeats of a small request are answered from a memo (:func:`classify`).

Module layout: this module is the public API, the hand-rule scorer, the policy and the memo; the
model's packed linear scorer (word embeddings included) is :mod:`gateway.routing.scorer`; features
are extracted in :mod:`gateway.routing.features` (the hand-rule matchers in
:mod:`gateway.routing.rules`) from the lexicons in :mod:`gateway.routing.lexicon`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp
from pathlib import Path
from typing import Any

import hashlib
import os

import orjson

from gateway.config.tasks import TASK_TIER, TASKS
from gateway.routing.features import extract_features
from gateway.routing.scorer import LOW_CONFIDENCE, RUNNER_UP_MIN
from gateway.routing.scorer import LinearModel as _Model

__all__ = ["TASKS", "Classification", "cache_clear", "classify", "decide", "extract_features", "rule_scores",
           "weights_hash", "weights_info"]

# Tier used by the low-confidence policy: higher = needs a stronger model.
TIER = TASK_TIER

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "classifier_weights.json"
# Another weights file for this process (an operator trying new weights on one replica; the
# cluster view then flags that replica: see weights_info()).
WEIGHTS_ENV = "GATEWAY_CLASSIFIER_WEIGHTS"


@dataclass(frozen=True, slots=True)
class Classification:
    task: str
    confidence: float  # 0..1


# --------------------------------------------------------------------------- hand-rule baseline

_RULE_W: dict[str, tuple[float, float, float, float]] = {
    # simple_chat, code_generation, summarization, complex_reasoning
    "#summ": (0, 0, 3.0, 0),
    "#h#summ": (0, 0, 1.0, 0),
    "#t#summ": (0, 0, 1.0, 0),
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
    "#thanks": (1.5, 0, 0, 0),
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
# The linear scorer over packed integer weights lives in gateway.routing.scorer.

def _softmax(s: list[float]) -> list[float]:
    m = max(s)
    e = [exp(x - m) for x in s]
    t = sum(e)
    return [x / t for x in e]


def weights_hash(data: dict[str, Any]) -> str:
    """Content hash of a weights file's data: sha256 of its canonical JSON without the ``hash``
    field, 16 hex digits. Replicas that agree on it make the same routing decisions."""
    body = {k: v for k, v in data.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def load_model(path: Path | str | None = None) -> _Model | None:
    """The model in ``path`` (default: $GATEWAY_CLASSIFIER_WEIGHTS, else the shipped file). A file
    whose stored hash does not match its content was edited or damaged: refused, loudly."""
    path = path or os.environ.get(WEIGHTS_ENV) or WEIGHTS_PATH
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    digest = weights_hash(data)
    if data.get("hash", digest) != digest:
        raise ValueError(f"classifier weights {path}: stored hash {data['hash']} does not match content {digest}")
    model = _Model(data)
    model.version, model.hash = str(data.get("version", "")), digest
    return model


_MODEL: _Model | None = load_model()


def weights_info() -> dict[str, str]:
    """Version and content hash of the weights this process classifies with (``/readyz``,
    ``/admin/cluster``, ``gateway status``); the hand rules alone when no weights file is found."""
    if _MODEL is None:
        return {"version": "rules", "hash": "rules"}
    return {"version": _MODEL.version, "hash": _MODEL.hash}
_TIER_BY_INDEX = tuple(TIER[t] for t in TASKS)


_RESULTS: dict[int, Classification] = {}  # at most 4 x 10,001 of these immutable values


def _result(best: int, p: float) -> Classification:
    """``Classification(TASKS[best], round(p, 4))``, bit for bit, one made per value and then
    shared (a frozen dataclass costs a microsecond to build, and round() about as much: it finds
    the correctly rounded decimal by a decimal conversion). Here the nearest integer q of p * 10**4
    comes from the float product (off by less than 1e-11) unless that is near a tie, and
    q / 10**4 (correctly rounded) is the double nearest to that decimal, which round() returns."""
    if 0.0 <= p <= 1.0:
        x = p * 10000.0
        q = int(x + 0.5)
        if -0.49 < x - q < 0.49:
            key = best * 10001 + q
            hit = _RESULTS.get(key)
            if hit is None:
                hit = _RESULTS[key] = Classification(TASKS[best], q / 10000)
            return hit
    return Classification(TASKS[best], round(p, 4))


def decide(probs: list[float], low_conf: float = LOW_CONFIDENCE, runner_min: float = RUNNER_UP_MIN) -> Classification:
    """Apply the low-confidence policy to class probabilities (ordered as TASKS)."""
    p = probs[best := probs.index(max(probs))]  # the first of equal maxima, as max(range(4), key=...)
    if p < low_conf:
        tier = _TIER_BY_INDEX[best]
        alt = -1
        for i in range(4):
            if _TIER_BY_INDEX[i] > tier and probs[i] >= runner_min and (alt < 0 or probs[i] > probs[alt]):
                alt = i
        if alt >= 0:
            best = alt
    return _result(best, probs[best])


def nothing_to_read(strong: set[str], weak: set[str]) -> bool:
    """No text and no image anywhere: such a request is simple_chat at confidence 0."""
    return "#empty" in strong or ("#notext" in strong and not weak and "#image" not in strong)


def _classify(messages: list[dict]) -> Classification:
    try:
        strong, weak = extract_features(messages)
    except Exception:  # malformed input: route to the safe side rather than fail the request
        return Classification("complex_reasoning", 0.0)
    if nothing_to_read(strong, weak):
        return Classification("simple_chat", 0.0)
    model = _MODEL
    if model is None:
        return decide(_softmax(rule_scores(strong)))
    s = model.scores(strong, weak)
    m = max(s)  # softmax, unrolled (same operations as _softmax)
    s0, s1, s2, s3 = s
    e0, e1, e2, e3 = exp(s0 - m), exp(s1 - m), exp(s2 - m), exp(s3 - m)
    t = e0 + e1 + e2 + e3
    p = 1.0 / t  # the top class's probability: its exp(m - m) is 1.0
    if p >= model.low_conf:  # confident: what decide() returns, without its policy work
        return _result(s.index(m), p)
    return decide([e0 / t, e1 / t, e2 / t, e3 / t], model.low_conf, model.runner_min)


# --------------------------------------------------------------------------- memo of exact inputs
# Clients resend identical requests (retries, health checks, benchmarks, the same short prompt from
# many users), so the result of an exact input is kept. The key holds everything
# extract_features reads from a message (role, text parts, part types, whether it has tool
# calls), so a hit returns what classification would compute. Only inputs of at most
# CACHE_MAX_CHARS characters are kept (bounded memory); the oldest entry goes first.

CACHE_SIZE = 512
CACHE_MAX_CHARS = 16_384
_CACHE: dict[tuple, Classification] = {}


def _cache_key(messages: Any) -> tuple | None:
    """Hashable copy of what classification depends on, or None (too big or an odd shape)."""
    if type(messages) is not list:
        return None
    key = []
    size = 0
    for m in messages:
        if type(m) is not dict:
            return None
        c = m.get("content")
        if type(c) is str:
            size += len(c)
        elif type(c) is list:
            parts = []
            for p in c:
                if type(p) is dict:
                    t = p.get("text")
                    if type(t) is str:
                        size += len(t)
                    parts.append((p.get("type"), t))
                elif type(p) is str:
                    size += len(p)
                    parts.append(p)
                else:
                    return None
            c = tuple(parts)
        elif c is not None:
            return None
        key.append((m.get("role"), c, bool(m.get("tool_calls"))))
    return tuple(key) if size <= CACHE_MAX_CHARS else None


def classify(messages: list[dict]) -> Classification:
    """Classify an OpenAI-style chat request. Never raises on odd message shapes."""
    try:
        if type(messages) is list and len(messages) == 1 and type(m := messages[0]) is dict and type(
                c := m.get("content")) is str and len(c) <= CACHE_MAX_CHARS:  # _cache_key of one text message
            key: tuple | None = ((m.get("role"), c, bool(m.get("tool_calls"))),)
        else:
            key = _cache_key(messages)
    except Exception:  # e.g. a tool_calls value whose truth cannot be taken: no memo
        key = None
    if key is None:
        return _classify(messages)
    try:
        hit = _CACHE.get(key)
    except TypeError:  # an unhashable role or part type
        return _classify(messages)
    if hit is None:
        hit = _classify(messages)
        if len(_CACHE) >= CACHE_SIZE:
            try:
                del _CACHE[next(iter(_CACHE))]
            except (KeyError, RuntimeError, StopIteration):  # another thread evicted meanwhile
                pass
        _CACHE[key] = hit
    return hit


def cache_clear() -> None:
    """Forget memoised results (benchmarks time the uncached path with it)."""
    _CACHE.clear()
