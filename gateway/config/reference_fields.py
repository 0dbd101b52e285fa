"""The building blocks of the configuration reference (gateway.config.reference): a field, a
section, and a field's default read from the config model in the file's units."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

NONE = "none"  # a field with no default: absent means off / not set
REQUIRED = "required"


def model_default(cls: type, attr: str, scale: float = 1) -> Any:
    """A dataclass default in the file's units (`scale` 1000: milliseconds shown as seconds)."""
    value = next(f.default for f in fields(cls) if f.name == attr)
    if value is None:
        return NONE
    if scale != 1:
        value = value / scale
        return int(value) if float(value).is_integer() else value
    return value


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    default: Any
    doc: str


@dataclass(frozen=True)
class Section:
    path: str   # as the parser names it (<root>: "top level"); <name>: a name you choose, []: a list item
    doc: str
    fields: tuple[Field, ...]


def fields_from(cls: type, rows: list[tuple[str, str, str]], scales: dict[str, tuple[str, float]] | None = None
            ) -> tuple[Field, ...]:
    """Fields whose defaults come from `cls`: rows of (name, type, doc); `scales` maps a file
    name to (model attribute, divisor) where the model keeps another unit."""
    scales = scales or {}
    out = []
    for name, typ, doc in rows:
        attr, scale = scales.get(name, (name, 1))
        out.append(Field(name, typ, model_default(cls, attr, scale), doc))
    return tuple(out)


def seconds_of_ms(*names: str) -> dict[str, tuple[str, float]]:
    return {n: (n[:-2] + "_ms", 1000) for n in names}
