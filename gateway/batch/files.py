"""The Files API, for batches: `POST /v1/files` (purpose `batch`), `GET /v1/files/{id}` and
`GET /v1/files/{id}/content`, each file its key's alone.

An uploaded file is kept in Redis (lua/file_put.lua) under `batch.max_file_bytes` for
`batch.file_ttl_s`. A batch's output and error files are its results read in line order; the
error file of a cancelled or expired batch also holds a `batch_cancelled` / `batch_expired`
line for each request that never ran.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.batch.caller import Caller, caller, json_response, not_found
from gateway.batch.lines import NOT_RUN, not_run
from gateway.batch.multipart import parse_form
from gateway.batch.objects import file_object, has_file, new_file_id, result_file_of, result_file_object
from gateway.errors import GatewayError, bad_request, shown, too_large
from gateway.observe.log import get_logger
from gateway.pipeline.request import read_body
from gateway.state.batches import BatchRecord

FORM_OVERHEAD = 64 * 1024  # the multipart framing and the `purpose` field around the file
log = get_logger("gateway.batch")


async def create_file(request: Request) -> Response:
    c = await caller(request)
    cfg, server = c.gw.config.batch, c.gw.config.server
    try:
        raw = await read_body(request, cfg.max_file_bytes + FORM_OVERHEAD, server.body_read_timeout_s,
                              request.headers.get("content-length"))
    except GatewayError as err:
        raise too_large(cfg.max_file_bytes) if err.status == 413 else err from None
    parts = parse_form(raw, request.headers.get("content-type", ""))
    purpose = parts.get("purpose")
    if purpose is None or purpose.data.strip() != b"batch":
        got = purpose.data[:40].decode("utf-8", "replace") if purpose else None
        raise bad_request(f"'purpose' must be 'batch' (the only files this gateway keeps); got {shown(got)}.",
                          "purpose")
    upload = parts.get("file")
    if upload is None or not upload.data:
        raise bad_request("'file' is required: the JSONL input of a batch.", "file")
    if len(upload.data) > cfg.max_file_bytes:
        raise too_large(cfg.max_file_bytes)
    file_id = new_file_id()
    lines = sum(1 for line in upload.data.split(b"\n") if line.strip())
    stored, reason, _ = await c.store.put_file(file_id, c.owner, (upload.filename or "upload.jsonl")[:255],
                                               upload.data, lines, cfg.file_ttl_s * 1000, cfg.max_file_bytes)
    if not stored:
        raise too_large(cfg.max_file_bytes) if reason == "too_large" else GatewayError(
            500, "The file could not be stored.", "server_error", "file_not_stored")
    rec = await c.store.file(file_id)
    assert rec is not None
    log.info("file_uploaded", file_id=file_id, key=c.key.name, bytes=rec.bytes, lines=lines)
    return json_response(file_object(rec))


async def get_file(request: Request) -> Response:
    c = await caller(request)
    file_id = request.path_params["file_id"]
    result = result_file_of(file_id)
    if result is None:
        rec = await c.store.file(file_id)
        if rec is None or rec.owner != c.owner:
            raise not_found("File", file_id)
        return json_response(file_object(rec))
    batch, kind = await _batch_file(c, file_id, *result)
    size = len(await result_content(c, batch, kind))
    return json_response(result_file_object(batch, kind, size, c.gw.config.batch.output_ttl_s))


async def file_content(request: Request) -> Response:
    c = await caller(request)
    file_id = request.path_params["file_id"]
    result = result_file_of(file_id)
    if result is None:
        rec = await c.store.file(file_id)
        data = await c.store.file_data(file_id) if rec is not None and rec.owner == c.owner else None
        if data is None:
            raise not_found("File", file_id)
        return Response(data, media_type="application/jsonl")
    batch, kind = await _batch_file(c, file_id, *result)
    return Response(await result_content(c, batch, kind), media_type="application/jsonl")


async def _batch_file(c: Caller, file_id: str, batch_id: str, kind: str) -> tuple[BatchRecord, str]:
    batch = await c.store.batch(batch_id)
    if batch is None or batch.owner != c.owner or not has_file(batch, kind):
        raise not_found("File", file_id)
    return batch, kind


async def result_content(c: Caller, batch: BatchRecord, kind: str) -> bytes:
    """The output (`ok`) or error (`err`) file: one JSON line per request, in input order."""
    missing = kind == "err" and batch.n_left > 0 and batch.status in NOT_RUN
    results = await c.store.results(batch.id, with_inputs=missing)
    lines = dict(results.ok if kind == "ok" else results.err)
    if missing:
        code, message = NOT_RUN[batch.status]
        for index, raw in results.inputs.items():
            if index not in results.ok and index not in results.err:
                lines[index] = not_run(batch.id, index, orjson.loads(raw)["custom_id"], code, message)
    return b"".join(lines[i] + b"\n" for i in sorted(lines))
