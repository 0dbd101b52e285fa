"""Reading a Gemini request's fields: both spellings, typed checks, and Gemini's Schema → JSON schema.

Google's API reads proto3 JSON, where every field may be written lowerCamelCase or snake_case;
google-genai itself sends a mix (its nested config objects, e.g. `thinkingConfig`, are dumped
with snake_case keys). So every lookup tries both; keys that are the client's own (a function's
`args`, a schema's property names) are never rewritten.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gateway.errors import bad_request, shown
from gateway.observe.log import get_logger

log = get_logger("gateway.inbound")
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


@lru_cache(maxsize=256)
def snake(name: str) -> str:
    return _UPPER.sub("_", name).lower()


def get(obj: dict[str, Any], name: str) -> Any:
    """`obj[name]` (lowerCamelCase), else its snake_case spelling, else None."""
    value = obj.get(name)
    return obj.get(snake(name)) if value is None else value


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Invalid value at '{where}': expected an object, got {shown(value)}.", where)
    return value


def items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f"Invalid value at '{where}': expected a list, got {shown(value)}.", where)
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Invalid value at '{where}': expected a string, got {shown(value)}.", where)
    return value


def number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"Invalid value at '{where}': expected a number between {low:g} and {high:g}, "
                          f"got {shown(value)}.", where)
    return value


def integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.isdigit():  # proto3 JSON may quote 64-bit integers
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"Invalid value at '{where}': expected an integer between {low} and {high}, "
                          f"got {shown(value)}.", where)
    return value


def dropped(where: str, names: list[str]) -> None:
    """Fields accepted but not translated: named at debug level (names only, never values)."""
    if names:
        log.debug("gemini_fields_dropped", where=where, fields=sorted(names))


# Gemini's `Schema` (an OpenAPI 3.0 subset, types in upper case) → the JSON schema the canonical
# tools and response_format carry; the Gemini adapter turns it back for a Gemini deployment.
_SCHEMA_MAP = {"anyOf": "anyOf", "any_of": "anyOf", "maxItems": "maxItems", "max_items": "maxItems",
               "minItems": "minItems", "min_items": "minItems", "maxLength": "maxLength", "max_length": "maxLength",
               "minLength": "minLength", "min_length": "minLength", "maxProperties": "maxProperties",
               "max_properties": "maxProperties", "minProperties": "minProperties",
               "min_properties": "minProperties"}
_SCHEMA_DROP = frozenset({"propertyOrdering", "property_ordering", "nullable"})


def json_schema(schema: Any, where: str, depth: int = 0) -> Any:
    """A Gemini `Schema` as JSON schema: lower-case types, `nullable` as a `null` type, the
    snake_case spellings read; unknown keys kept (a JSON schema passed as `Schema` stays one)."""
    if not isinstance(schema, dict):
        return schema
    if depth > 32:
        raise bad_request(f"Invalid value at '{where}': the schema is nested too deeply.", where)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_DROP:
            continue
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower() if value.upper() != "TYPE_UNSPECIFIED" else "object"
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(sub, where, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = json_schema(value, where, depth + 1)
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            out["anyOf"] = [json_schema(v, where, depth + 1) for v in value]
        else:
            out[_SCHEMA_MAP.get(key, key)] = value
    if get(schema, "nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
