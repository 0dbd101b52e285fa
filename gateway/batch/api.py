"""The Batch API: `POST /v1/batches`, `GET /v1/batches[/{id}]`, `POST /v1/batches/{id}/cancel`,
each batch its key's alone; `GET /admin/batches` lists every key's (an admin key).

Creating a batch reads its input file once and checks every line (lines.check_file): a file that
cannot run makes a `failed` batch with its `errors`, as OpenAI's validation does; a good one is
stored line by line (lua/batch_create.lua) for the workers' runners to claim.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.batch.caller import caller, json_response, not_found
from gateway.batch.files import create_file, file_content, get_file
from gateway.batch.lines import ENDPOINTS, check_file
from gateway.batch.objects import batch_object, new_batch_id
from gateway.errors import GatewayError, bad_request, shown
from gateway.observe.log import get_logger
from gateway.ops.access import admin_only
from gateway.pipeline.context import Gateway
from gateway.pipeline.request import parse_json, read_body
from gateway.state.batches import BatchRecord, BatchState

WINDOW_S = 86_400  # `completion_window: "24h"`, the only window OpenAI offers
log = get_logger("gateway.batch")


def changed(gw: Gateway, batch: BatchRecord | str, status: str, **fields: Any) -> None:
    """One log line and one count per batch state change, wherever it was made."""
    batch_id = batch if isinstance(batch, str) else batch.id
    gw.metrics.batches.inc((status,))
    log.info("batch_" + status, batch_id=batch_id, **fields)


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16 or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in value.items()):
        raise bad_request("'metadata' must be at most 16 string pairs (keys up to 64 characters, values up to 512).",
                          "metadata")
    return value


async def create_batch(request: Request) -> Response:
    c = await caller(request)
    server, cfg = c.gw.config.server, c.gw.config.batch
    body = parse_json(await read_body(request, server.max_body_bytes, server.body_read_timeout_s,
                                      request.headers.get("content-length")))
    endpoint, window, file_id = body.get("endpoint"), body.get("completion_window"), body.get("input_file_id")
    if endpoint not in ENDPOINTS:
        raise bad_request(f"'endpoint' must be one of {sorted(ENDPOINTS)}; got {shown(endpoint)}.", "endpoint")
    if window != "24h":
        raise bad_request(f"'completion_window' must be '24h'; got {shown(window)}.", "completion_window")
    if not isinstance(file_id, str) or not file_id:
        raise bad_request("'input_file_id' is required: the id of a file uploaded with purpose 'batch'.",
                          "input_file_id")
    metadata = _metadata(body.get("metadata"))
    rec = await c.store.file(file_id)
    data = await c.store.file_data(file_id) if rec is not None and rec.owner == c.owner else None
    if rec is None or data is None:
        raise not_found("File", file_id)
    # up to 16 MiB of JSON lines: parsed off the event loop, which keeps serving meanwhile
    checked = await asyncio.to_thread(check_file, data, endpoint, cfg.max_lines)
    batch_id = new_batch_id()
    created, status = await c.store.create(batch_id, c.owner, endpoint, file_id, WINDOW_S, cfg.output_ttl_s * 1000,
                                           metadata, checked.errors or None, checked.lines)
    if not created:  # the file expired between the read and the write
        raise not_found("File", file_id)
    changed(c.gw, batch_id, status, key=c.key.name, endpoint=endpoint, lines=len(checked.lines),
            errors=len(checked.errors))
    return json_response(batch_object(await _read(c.store, batch_id)))


async def get_batch(request: Request) -> Response:
    c = await caller(request)
    batch = await c.store.batch(request.path_params["batch_id"])
    if batch is None or batch.owner != c.owner:
        raise not_found("Batch", request.path_params["batch_id"])
    return json_response(batch_object(batch))


async def cancel_batch(request: Request) -> Response:
    c = await caller(request)
    batch_id = request.path_params["batch_id"]
    result = await c.store.cancel(batch_id, c.owner)
    if result is None:
        raise not_found("Batch", batch_id)
    status, moved = result
    if moved:
        changed(c.gw, batch_id, "cancelling", key=c.key.name)
        if status == "cancelled":  # nothing was in flight
            changed(c.gw, batch_id, "cancelled")
    return json_response(batch_object(await _read(c.store, batch_id)))


async def list_batches(request: Request) -> Response:
    c = await caller(request)
    return json_response(await _page(c.store, c.owner, request))


async def admin_batches(request: Request, gw: Gateway) -> Response:
    """Every key's batches (`?key=cfg:<name>` or `rt:<id>`: one key's), newest first."""
    owner = request.query_params.get("key") or None
    return json_response(await _page(BatchState(gw.state), owner, request))


async def _page(store: BatchState, owner: str | None, request: Request) -> dict[str, Any]:
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise bad_request("'limit' must be an integer from 1 to 100.", "limit")
    ids, more = await store.batch_ids(owner, request.query_params.get("after") or None, limit)
    data = [batch_object(b) for b in await store.batches(ids)]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": more}


async def _read(store: BatchState, batch_id: str) -> BatchRecord:
    batch = await store.batch(batch_id)
    if batch is None:  # pragma: no cover - just written, and kept for days
        raise GatewayError(500, "The batch could not be read back.", "server_error", "batch_lost")
    return batch


routes = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files/{file_id}", get_file, methods=["GET"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route("/admin/batches", admin_only(admin_batches), methods=["GET"]),
]
