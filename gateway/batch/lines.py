"""A batch's lines: the input file checked line by line, and the output and error files' lines.

The shapes are OpenAI's: an input line is `{custom_id, method: "POST", url, body}`; an output
line is `{id, custom_id, response: {status_code, request_id, body}, error}`, with `response`
null and `error` `{code, message}` for a line that was never run (batch_cancelled,
batch_expired) or could not be (a gateway fault).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# endpoint -> whether its requests may stream (a batch line may not: its answer is one body)
ENDPOINTS = {"/v1/chat/completions": True, "/v1/completions": True, "/v1/embeddings": False, "/v1/responses": True}
MAX_ERRORS = 100      # errors listed for an invalid file (the first ones)
MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class Checked:
    """An input file read: its lines (compact JSON, index 0 first), or why it cannot run."""

    lines: list[bytes]
    errors: list[dict[str, Any]]


def _error(code: str, message: str, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def check_file(data: bytes, endpoint: str, max_lines: int) -> Checked:
    """Every line must be a JSON object with a unique `custom_id`, `method` POST, `url` the
    batch's endpoint and an object `body`; blank lines are skipped. The bodies themselves are
    checked when each line runs (a bad field is that line's 400, not the batch's failure)."""
    lines: list[bytes] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.strip()
        if not raw:
            continue
        if len(lines) >= max_lines:
            errors.append(_error("too_many_requests", f"The file has more than {max_lines} requests (config: "
                                 "batch.max_lines).", number))
            break
        problem = _line_problem(raw, endpoint, seen)
        if isinstance(problem, dict):
            problem["line"] = number
            errors.append(problem)
            if len(errors) >= MAX_ERRORS:
                break
        else:
            lines.append(problem)
    if not lines and not errors:
        errors.append(_error("empty_file", "The input file has no requests."))
    return Checked(lines if not errors else [], errors)


def _line_problem(raw: bytes, endpoint: str, seen: set[str]) -> bytes | dict[str, Any]:
    """The line in compact JSON, or its error."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error("invalid_json_line", "This line is not valid JSON.")
    if not isinstance(obj, dict):
        return _error("invalid_json_line", "This line is not a JSON object.")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        return _error("invalid_request", f"'custom_id' must be a string of 1 to {MAX_CUSTOM_ID} characters.",
                      param="custom_id")
    if custom_id in seen:
        return _error("duplicate_custom_id", "The custom_id of this line is used in another line.",
                      param="custom_id")
    seen.add(custom_id)
    if obj.get("method") != "POST":
        return _error("invalid_request", "'method' must be 'POST'.", param="method")
    if obj.get("url") != endpoint:
        return _error("invalid_url", f"'url' must be the batch's endpoint, {endpoint}.", param="url")
    body = obj.get("body")
    if not isinstance(body, dict):
        return _error("invalid_request", "'body' must be a JSON object.", param="body")
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body})


def line_id(batch_id: str, index: int) -> str:
    """A line's output id, the same at every read (`batch_<hex>` -> `batch_req_<hex>_<index>`)."""
    return f"batch_req_{batch_id.removeprefix('batch_')}_{index}"


def answered(batch_id: str, index: int, custom_id: str, status: int, request_id: str, body: bytes) -> bytes:
    """The line of a request that got an answer (any status: a 400 is the line's own error)."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = {"error": {"message": body.decode("utf-8", "replace")[:1000], "type": "server_error"}}
    return orjson.dumps({"id": line_id(batch_id, index), "custom_id": custom_id,
                         "response": {"status_code": status, "request_id": request_id, "body": parsed},
                         "error": None})


def not_run(batch_id: str, index: int, custom_id: str, code: str, message: str) -> bytes:
    """The line of a request that got no answer (never run, or a fault before any)."""
    return orjson.dumps({"id": line_id(batch_id, index), "custom_id": custom_id, "response": None,
                         "error": {"code": code, "message": message}})


NOT_RUN = {
    "cancelled": ("batch_cancelled", "The batch was cancelled before this request ran."),
    "expired": ("batch_expired", "This request could not be run before the batch's completion window ended."),
}
