"""Response storage for `previous_response_id`: one API key's answered turns in Redis, written
only by lua/response_put.lua and read by lua/response_get.lua (their reference model is
gateway/state/reference_responses.py).

A turn is stored as the whole conversation so far in chat messages (without `instructions`,
which OpenAI does not carry over either), so a follow-up reads one entry, whatever the length
of the chain. Only requests that use storage touch Redis: a read for `previous_response_id`
before the upstream call, a write before the answer's last bytes go out (so the client's next
request finds it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.edge.asgi import header_map
from gateway.errors import GatewayError, bad_request, shown
from gateway.observe.log import get_logger

if TYPE_CHECKING:
    from gateway.inbound.responses.reply import Turn
    from gateway.pipeline.context import Gateway

log = get_logger("gateway.inbound.responses")


def _not_stored() -> GatewayError:
    return bad_request("'previous_response_id' needs response storage, which this gateway keeps off "
                       "(config: responses.enabled). Send the whole conversation in 'input' instead.",
                       "previous_response_id", "response_storage_disabled")


async def stored_call(request: Request) -> Response:
    """`GET`/`DELETE /v1/responses/{id}`, `POST .../cancel`, `GET .../input_items` (the openai
    SDK's `responses.retrieve`, `delete`, `cancel`, `input_items.list`): not served, so a 404 in
    OpenAI's shape saying why, after the key is checked (a stranger learns nothing of the config)."""
    gw: Gateway = request.app.state.gateway
    try:
        await gw.keyring.authenticate(header_map(request))
    except GatewayError as err:
        return err.response()
    if not gw.config.responses.enabled:
        err = GatewayError(404, "This gateway does not store responses, so it cannot retrieve, delete, cancel or "
                           "list one. Storage (config: responses.enabled) keeps turns for 'previous_response_id' "
                           "only.", "invalid_request_error", "response_storage_disabled")
    else:
        err = GatewayError(404, "This gateway stores responses only for 'previous_response_id' (config: "
                           "responses); it does not retrieve, delete, cancel or list them.",
                           "invalid_request_error", "unsupported_endpoint")
    return err.response()


async def load(gw: "Gateway", key: str, response_id: Any) -> list[dict[str, Any]]:
    """The stored conversation of `response_id`, if this API key stored it and it has not expired."""
    if not gw.config.responses.enabled:
        raise _not_stored()
    if not isinstance(response_id, str) or not response_id.startswith("resp_") or len(response_id) > 64:
        raise bad_request("'previous_response_id' must be a response id ('resp_...').", "previous_response_id")
    try:
        raw, _ = await gw.state.scripts.call("response_get", list(gw.state.keys.responses(key)), [response_id])
    except Exception as exc:  # noqa: BLE001 - Redis down or slow: the conversation cannot be read
        log.warning("response_load_failed", error=type(exc).__name__)
        raise GatewayError(503, "Stored responses are unavailable right now; retry, or send the whole "
                           "conversation in 'input'.", "service_unavailable", "response_storage_unavailable") from None
    if raw is None:
        raise GatewayError(404, f"Previous response with id {shown(response_id)} not found (it may have expired, "
                           "or belong to another API key).", "invalid_request_error", "previous_response_not_found",
                           "previous_response_id")
    messages = orjson.loads(raw).get("messages")
    return messages if isinstance(messages, list) else []


async def save(gw: "Gateway", key: str, turn: "Turn") -> None:
    """Keep `turn` (its conversation and its answer); a failure is logged, the answer still goes out."""
    cfg = gw.config.responses
    data = orjson.dumps({"messages": [*turn.history, *turn.answer]})
    try:
        stored, reason, *_ = await gw.state.scripts.call(
            "response_put", list(gw.state.keys.responses(key)),
            [turn.id, data, str(cfg.ttl_s * 1000), str(cfg.max_response_bytes), str(cfg.max_key_bytes)])
    except Exception as exc:  # noqa: BLE001 - the answer matters more than its storage
        log.warning("response_not_stored", id=turn.id, error=type(exc).__name__)
        return
    if not int(stored):
        log.warning("response_not_stored", id=turn.id, reason=reason.decode() if isinstance(reason, bytes) else reason,
                    bytes=len(data))
