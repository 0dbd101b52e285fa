"""Walking a YAML document with its path in hand, so every error names where it is."""

from __future__ import annotations

from typing import Any

from gateway.config.model import ConfigError


class Reader:
    """Walks the YAML document while remembering the path, so every error names where it is."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: Any, why: str) -> ConfigError:
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        return ConfigError(f"{self.source}: {path}: {why} (got {shown})")

    def mapping(self, doc: Any, path: str, required: bool = False) -> dict[str, Any]:
        if doc is None and not required:
            return {}
        if not isinstance(doc, dict):
            raise self.fail(path, doc, "expected a mapping")
        return doc

    def known(self, doc: dict[str, Any], path: str, allowed: set[str]) -> None:
        for name in doc:
            if name not in allowed:
                raise self.fail(f"{path}.{name}", name, f"unknown field; expected one of {sorted(allowed)}")

    def number(self, doc: dict, name: str, path: str, default: float | None = None, *, minimum: float = 0,
               integer: bool = False) -> Any:
        value = doc.get(name, default)
        where = f"{path}.{name}"
        if value is None:
            raise self.fail(where, value, "is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, value, "expected a number")
        if integer and not float(value).is_integer():
            raise self.fail(where, value, "expected a whole number")
        if value < minimum:
            raise self.fail(where, value, f"must be >= {minimum}")
        return int(value) if integer else float(value)

    def string(self, doc: dict, name: str, path: str, default: str | None = None,
               choices: tuple[str, ...] | None = None) -> str:
        value = doc.get(name, default)
        where = f"{path}.{name}"
        if not isinstance(value, str) or not value:
            raise self.fail(where, value, "expected a non-empty string")
        if choices and value not in choices:
            raise self.fail(where, value, f"expected one of {list(choices)}")
        return value

    def strings(self, doc: dict, name: str, path: str) -> tuple[str, ...]:
        value = doc.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{path}.{name}", value, "expected a list of strings")
        return tuple(value)




def usd_to_micro(usd: float) -> int:
    return round(usd * 1_000_000)


def sha256_hex(reader: Reader, value: Any, path: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise reader.fail(path, "<hidden>", "expected a 64-character hex SHA-256 of the key")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise reader.fail(path, "<hidden>", "expected hex digits") from None
