"""The Batch and File objects as OpenAI's API returns them (openai-python `types/batch.py`,
`types/file_object.py`), from what Redis holds (gateway/state/batches.py), and the ids.

A batch's output and error files are not stored apart: their ids name the batch
(`file-out-<hex>`, `file-err-<hex>` for `batch_<hex>`), and their content is the batch's results
(gateway/batch/files.py), so a file is whole the moment its batch ends.
"""

from __future__ import annotations

import secrets
from typing import Any

from gateway.state.batches import ENDED, BatchRecord, FileRecord

OUTPUT, ERRORS = "file-out-", "file-err-"


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def result_file_of(file_id: str) -> tuple[str, str] | None:
    """(batch id, 'ok' | 'err') of an output or error file's id; None for an uploaded file's."""
    for prefix, kind in ((OUTPUT, "ok"), (ERRORS, "err")):
        if file_id.startswith(prefix) and len(file_id) > len(prefix):
            return "batch_" + file_id[len(prefix):], kind
    return None


def _s(us: int | None) -> int | None:
    return us // 1_000_000 if us else None


def file_object(rec: FileRecord) -> dict[str, Any]:
    return {"id": rec.id, "object": "file", "bytes": rec.bytes, "created_at": _s(rec.created_us),
            "expires_at": _s(rec.expires_us), "filename": rec.filename, "purpose": rec.purpose,
            "status": "processed", "status_details": None}


def result_file_object(batch: BatchRecord, kind: str, size: int, output_ttl_s: int) -> dict[str, Any]:
    """An output (`ok`) or error (`err`) file of an ended batch; `size`: its content's bytes."""
    hex_ = batch.id.removeprefix("batch_")
    ended_us = batch.times.get(batch.status, batch.created_us)
    return {"id": (OUTPUT if kind == "ok" else ERRORS) + hex_, "object": "file", "bytes": size,
            "created_at": _s(ended_us), "expires_at": _s(batch.expires_us) + output_ttl_s,
            "filename": f"batch_{hex_}_{'output' if kind == 'ok' else 'error'}.jsonl", "purpose": "batch_output",
            "status": "processed", "status_details": None}


def has_file(batch: BatchRecord, kind: str) -> bool:
    """An ended batch has an output file if a line answered 2xx, an error file if any did not
    (or was never run)."""
    if batch.status not in ENDED or batch.status == "failed":
        return False
    return batch.n_ok > 0 if kind == "ok" else batch.n_err + batch.n_left > 0


def batch_object(batch: BatchRecord) -> dict[str, Any]:
    hex_ = batch.id.removeprefix("batch_")
    times = {f"{t}_at": _s(batch.times.get(t)) for t in ("in_progress", "finalizing", "completed", "failed",
                                                          "expired", "cancelling", "cancelled")}
    return {
        "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "model": None,
        "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
        "input_file_id": batch.input_file_id, "completion_window": "24h", "status": batch.status,
        "output_file_id": OUTPUT + hex_ if has_file(batch, "ok") else None,
        "error_file_id": ERRORS + hex_ if has_file(batch, "err") else None,
        "created_at": _s(batch.created_us), "expires_at": _s(batch.expires_us), **times,
        "request_counts": {"total": batch.total, "completed": batch.n_ok, "failed": batch.n_err + batch.n_left},
        "metadata": batch.metadata,
    }
