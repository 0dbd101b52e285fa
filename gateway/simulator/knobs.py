"""Per-model behaviour knobs, the YAML config that sets them, and the runtime store.

Effective knobs for a model = defaults, then the YAML `models.<name>` overrides,
then runtime overrides from `PUT /_sim/models/{model}`. The model name "*"
addresses the defaults themselves, so a test can slow down every model at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class ModelKnobs:
    """How one simulated model behaves. All times are relative, all rates 0..1."""

    latency_ms: float = 0.0  # total time of a non-stream response
    ttft_ms: float = 0.0  # time to first token of a stream
    tokens_per_s: float = 0.0  # stream pacing; 0 = as fast as possible
    output_tokens: int = 16  # default reply length in tokens (capped by max tokens)
    length_factor: float = 1.0  # multiplies output_tokens (token-inflation tests)
    error_rate: float = 0.0  # share of calls answered 500/503 (Anthropic: 500/529)
    rate_limit_rate: float = 0.0  # share of calls answered 429 with Retry-After
    retry_after_s: float = 1.0  # Retry-After on 429s
    outages: tuple[tuple[float, float], ...] = ()  # [start_s, end_s) since sim start → 503
    fail_status: int | None = None  # force every call to return this status
    stream_cut_after: int | None = None  # end a stream after N data events, no final event
    stream_abort_after: int | None = None  # drop the connection after N events (no clean end)
    garbage_stream: bool = False  # streams send non-JSON data lines
    cache_ratio: float = 0.0  # share of prompt tokens reported as cached
    reasoning_tokens: int = 0  # extra reasoning/thinking tokens reported in usage
    embedding_dim: int = 0  # 0 = format default (OpenAI 1536, Gemini 768)
    tool_call: str | None = None  # "none": call no tool unless forced; a name: call that tool
    tool_args: dict[str, Any] | None = None  # the arguments of a `tool_call` (default: from its schema)
    citations: bool = False  # Gemini: answers carry citationMetadata (gemini_extras.py)
    guardrail_word: str | None = None  # Bedrock: a guarded request holding this word is blocked
    reply_text: str | None = None  # the answer's text, 4 characters a token (a test's scripted answer)


KNOB_NAMES = frozenset(f.name for f in dataclasses.fields(ModelKnobs))


class KnobError(ValueError):
    """A knob override that does not fit ModelKnobs."""


def _coerce(name: str, value: Any) -> Any:
    if name == "outages":
        if value is None:
            return ()
        try:
            return tuple((float(a), float(b)) for a, b in value)
        except (TypeError, ValueError) as exc:
            raise KnobError(f"outages must be a list of [start_s, end_s] pairs, got {value!r}") from exc
    if name in ("fail_status", "stream_cut_after", "stream_abort_after"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise KnobError(f"{name} must be an integer or null, got {value!r}")
        return value
    if name == "tool_call":
        if value is not None and (not isinstance(value, str) or not value):
            raise KnobError(f"tool_call must be a tool name, 'none' or null, got {value!r}")
        return value
    if name == "reply_text":
        if value is not None and (not isinstance(value, str) or not value):
            raise KnobError(f"reply_text must be a non-empty string or null, got {value!r}")
        return value
    if name == "guardrail_word":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise KnobError(f"guardrail_word must be a non-empty string or null, got {value!r}")
        return value
    if name == "tool_args":
        if value is not None and not isinstance(value, dict):
            raise KnobError(f"tool_args must be an object or null, got {value!r}")
        return value
    if name in ("garbage_stream", "citations"):
        if not isinstance(value, bool):
            raise KnobError(f"{name} must be true or false, got {value!r}")
        return value
    if name in ("output_tokens", "reasoning_tokens", "embedding_dim"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise KnobError(f"{name} must be a non-negative integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise KnobError(f"{name} must be a non-negative number, got {value!r}")
    if name in ("error_rate", "rate_limit_rate", "cache_ratio") and value > 1:
        raise KnobError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def validate_overrides(overrides: Any) -> dict[str, Any]:
    """Check names and types of a partial knob mapping; return it coerced."""
    if not isinstance(overrides, dict):
        raise KnobError(f"knob overrides must be a mapping, got {type(overrides).__name__}")
    unknown = sorted(set(overrides) - KNOB_NAMES)
    if unknown:
        raise KnobError(f"unknown knob(s) {unknown}; known: {sorted(KNOB_NAMES)}")
    return {name: _coerce(name, value) for name, value in overrides.items()}


def knobs_to_json(knobs: ModelKnobs) -> dict[str, Any]:
    data = dataclasses.asdict(knobs)
    data["outages"] = [list(w) for w in knobs.outages]
    return data


@dataclass(slots=True)
class SimSettings:
    """Everything the simulator starts from: the RNG seed and knob overrides."""

    seed: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)  # overrides of ModelKnobs()
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-model overrides
    control_loopback_only: bool = True

    @classmethod
    def from_yaml(cls, path: str | Path, seed: int | None = None) -> "SimSettings":
        """Load `{seed, defaults: {knob: v}, models: {name: {knob: v}}}`; errors name file and path."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KnobError(f"{path}: cannot read simulator config: {exc}") from exc
        if not isinstance(raw, dict):
            raise KnobError(f"{path}: top level must be a mapping")
        unknown = sorted(set(raw) - {"seed", "defaults", "models"})
        if unknown:
            raise KnobError(f"{path}: unknown top-level key(s) {unknown}")
        try:
            defaults = validate_overrides(raw.get("defaults") or {})
        except KnobError as exc:
            raise KnobError(f"{path}: defaults: {exc}") from exc
        models: dict[str, dict[str, Any]] = {}
        for name, over in (raw.get("models") or {}).items():
            try:
                models[str(name)] = validate_overrides(over or {})
            except KnobError as exc:
                raise KnobError(f"{path}: models.{name}: {exc}") from exc
        file_seed = raw.get("seed", 0)
        if not isinstance(file_seed, int):
            raise KnobError(f"{path}: seed must be an integer, got {file_seed!r}")
        return cls(seed=file_seed if seed is None else seed, defaults=defaults, models=models)


class KnobStore:
    """Config overrides plus runtime overrides, with a per-model cache of the result."""

    def __init__(self, settings: SimSettings) -> None:
        self._settings = settings
        self._runtime: dict[str, dict[str, Any]] = {}
        self._cache: dict[str, ModelKnobs] = {}

    def get(self, model: str) -> ModelKnobs:
        knobs = self._cache.get(model)
        if knobs is None:
            merged = {**self._settings.defaults, **self._runtime.get("*", {})}
            merged.update(self._settings.models.get(model, {}))
            merged.update(self._runtime.get(model, {}))
            knobs = self._cache[model] = ModelKnobs(**merged)
        return knobs

    def update(self, model: str, overrides: dict[str, Any]) -> ModelKnobs:
        self._runtime.setdefault(model, {}).update(validate_overrides(overrides))
        self._cache.clear()
        return self.get(model)

    def reset(self, model: str | None = None) -> None:
        if model is None:
            self._runtime.clear()
        else:
            self._runtime.pop(model, None)
        self._cache.clear()

    def configured_models(self) -> list[str]:
        names = set(self._settings.models) | set(self._runtime)
        names.discard("*")
        return sorted(names)
