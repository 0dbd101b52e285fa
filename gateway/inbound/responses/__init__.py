"""The OpenAI Responses API (`POST /v1/responses`) as an inbound translator.

request.py turns the body into the canonical chat request, reply.py and stream.py turn the
canonical answer into a Response object or its stream events, store.py keeps answered turns
for `previous_response_id` when the operator turns storage on. Errors keep OpenAI's shape.

The client's own body also travels under NATIVE (gateway.providers.base), for a deployment that
speaks the Responses API itself (`format: openai_responses`): reasoning items with their
encrypted content, `include`, hosted tools, `text.verbosity`... reach it as they came. What the
gateway decides is left out of it (GATEWAY_DECIDES): the adapter writes the model, the output
cap it reserved for, `stream` and `store: false`; `previous_response_id` is resolved here, from
the gateway's own store, into the native `input` too. The reasoning items the gateway made for
Claude's signed thinking (thinking.py) are left out of it: OpenAI cannot read them. Their blocks
are canonical hints (`thinking_blocks`, gateway.providers.base.HINTS): only adapters that read
them (Claude's) see them. Likewise Gemini's thought signatures (signatures.py): their items are
left out of it, and only Gemini's adapters see them on the calls (NATIVE `signatures`). The
hosted web search tool is also the canonical `web_search_options` (search.py), so every provider
searches; one restricted to some domains keeps the request on Responses deployments (NATIVE `only`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Mapping

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.inbound.base import NO_HEADERS
from gateway.inbound.responses import signatures, store
from gateway.inbound.responses.reply import ResponsesRequest, Turn, from_completion
from gateway.inbound.responses.request import canonical_body
from gateway.inbound.responses.search import domain_filter
from gateway.inbound.responses.stream import ResponsesStream
from gateway.inbound.responses.thinking import is_ours
from gateway.pipeline.request import ChatRequest, chat_request, parse_json
from gateway.pipeline.schema import check_depth
from gateway.providers.base import NATIVE
from gateway.providers.openai_responses.request import REASONING, input_items

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

CHAT_FIELDS = tuple(f.name for f in fields(ChatRequest))
GATEWAY_DECIDES = frozenset({"model", "max_output_tokens", "stream", "store", "previous_response_id"})


def _has_thinking(messages: list[dict[str, Any]]) -> bool:
    """Whether an assistant message carries Claude's thinking blocks (a hint, see the docstring)."""
    return any("thinking_blocks" in m for m in messages)


def _marks(chat: dict[str, Any]) -> dict[str, bool]:
    """The NATIVE marks of what only some adapters may see (gateway.providers.base.for_format):
    thinking blocks and `metadata` are hints, Gemini's thought signatures their own mark."""
    messages = chat["messages"]
    return {"hints": _has_thinking(messages) or "metadata" in chat, "signatures": signatures.signed(messages)}


def _turn(chat: ChatRequest) -> Turn:
    assert isinstance(chat, ResponsesRequest) and chat.turn is not None
    return chat.turn


class Responses:
    name = "openai.responses"

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ResponsesRequest:
        body = parse_json(raw)
        check_depth(raw, body)
        asked = body.get("store", True)
        if not isinstance(asked, bool):
            raise bad_request("'store' must be a boolean.", "store")
        canonical = canonical_body(body)
        own = {k: v for k, v in body.items() if k not in GATEWAY_DECIDES}
        if isinstance(own.get("input"), list):
            own["input"] = [i for i in own["input"] if not (is_ours(i) or signatures.is_ours(i))]
        canonical[NATIVE] = {"format": "openai_responses", "headers": {}, "body": own, **_marks(canonical)}
        restricted = domain_filter(body.get("tools")) if "web_search_options" in canonical else None
        if restricted is not None:  # only the Responses API can keep a search to some domains (search.py)
            canonical[NATIVE]["only"] = restricted
        base = chat_request(canonical)
        turn = Turn.of(body, asked)
        turn.history = canonical["messages"][1:] if body.get("instructions") is not None else canonical["messages"]
        return ResponsesRequest(**{name: getattr(base, name) for name in CHAT_FIELDS}, turn=turn)

    async def recall(self, gw: "Gateway", key: str, chat: ChatRequest) -> None:
        """Decide whether the answer is kept; read the conversation `previous_response_id` names
        and put it before the new input (the prompt bound and the classifier see all of it)."""
        turn = _turn(chat)
        turn.keep = turn.keep and gw.config.responses.enabled
        turn.echo["store"] = turn.keep
        previous = turn.echo["previous_response_id"]
        if previous is None:
            return
        stored = await store.load(gw, key, previous)
        messages = chat.body["messages"]
        lead = messages[:len(messages) - len(turn.history)]  # the instructions, if any
        turn.history = [*stored, *turn.history]
        plain = [{k: v for k, v in m.items() if k != REASONING} for m in turn.history]  # other providers' view
        body = {**chat.body, "messages": [*lead, *plain]}
        native = body[NATIVE]
        own = native["body"].get("input")
        own = [{"role": "user", "content": own}] if isinstance(own, str) else own
        # a Responses deployment gets the stored conversation as items, its reasoning included
        body[NATIVE] = {**native, "body": {**native["body"], "input": [*input_items(stored), *own]},
                        **_marks(body)}
        fresh = chat_request(body)
        chat.body, chat.messages, chat.prompt_chars = fresh.body, fresh.messages, fresh.prompt_chars

    async def keep(self, gw: "Gateway", key: str, chat: ChatRequest) -> None:
        turn = _turn(chat)
        if turn.keep:
            await store.save(gw, key, turn)

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        return orjson.dumps(from_completion(body, _turn(chat)))

    def stream(self, chat: ChatRequest) -> ResponsesStream:
        return ResponsesStream(_turn(chat))

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())
