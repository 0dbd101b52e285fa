"""JSON schema → the OpenAPI-subset `Schema` Gemini accepts, for tool parameters and `response_format`.

Split out of :mod:`gateway.providers.gemini.request` to keep the adapter short; the rules are listed in that
module's docstring, and `clean_schema` is re-exported there.
"""

from __future__ import annotations

from typing import Any, Mapping

from gateway.errors import bad_request, shown

# JSON-schema keys Gemini's OpenAPI-subset Schema rejects.
SCHEMA_DROP = frozenset({
    "additionalProperties", "$schema", "$id", "$comment", "$defs", "definitions", "strict", "examples",
    "patternProperties", "unevaluatedProperties", "dependentRequired", "dependentSchemas", "not", "if",
    "then", "else", "contentEncoding", "contentMediaType", "readOnly", "writeOnly", "deprecated",
})


def clean_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON schema reduced to what Gemini's Schema accepts (see gateway.providers.gemini.request)."""
    if not isinstance(schema, dict):
        return schema
    if depth > 32:
        raise bad_request("A tool or response schema is nested too deeply (or is recursive).", "tools")
    if defs is None:
        defs = {}
        for key in ("definitions", "$defs"):
            found = schema.get(key)
            if found is not None and not isinstance(found, dict):
                raise bad_request(f"A schema's '{key}' must be an object of schemas.", "tools")
            defs.update(found or {})
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if not isinstance(defs.get(name), dict):
            raise bad_request(f"Schema reference {shown(ref)} does not name a schema object.", "tools")
        merged = {**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
        return clean_schema(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in SCHEMA_DROP or key == "$ref":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
        elif key in ("items", "additionalItems") and isinstance(value, dict):
            out[key] = clean_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [clean_schema(v, defs, depth + 1) for v in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
        else:
            out[key] = value
    return out
