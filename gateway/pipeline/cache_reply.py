"""A response-cache hit answered in the client's own API, whole or as a stream (pipeline/cache.py
decides and looks up; this module, beside the chat pipeline, turns the stored canonical
completion into the client's reply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.edge.asgi import EVENT_STREAM, WholeReply
from gateway.inbound.base import Inbound
from gateway.pipeline.cache_stream import replay
from gateway.pipeline.record import Call
from gateway.pipeline.request import ChatRequest

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway


async def cached_answer(gw: "Gateway", call: Call, entry: dict[str, Any], chat: ChatRequest,
                        inbound: Inbound) -> WholeReply:
    """A hit in the client's API, whole or as a stream; the log line once it has gone out."""
    call.served_from_cache(str(entry.get("model", "")), str(entry.get("provider", "")))
    completion = entry["body"]
    keep = getattr(inbound, "keep", None)  # inbound.base.Remembers: it remembers a cached answer too

    async def logged() -> None:
        gw.observer.finish(call)

    if chat.stream:
        encoder = inbound.stream(chat)
        body = encoder.feed(replay(completion, chat.include_usage)) + encoder.finish()
    else:
        body = inbound.reply(completion, chat)
    if keep is not None:
        await keep(gw, call.key, chat)
    if chat.stream:
        return WholeReply(body, call.headers(), after=logged, head=EVENT_STREAM)
    return WholeReply(body, call.headers(), after=logged)
