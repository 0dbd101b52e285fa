"""The exact-match response cache (config `cache`, off by default; docs/cache.md).

A repeated request whose answer does not depend on chance is answered from Redis: no admit, no
upstream call, no settle, so no spend and no rate-limit tokens. Which requests (`intent`):

- the client's header `x-gateway-cache`: `no-store` (neither read nor write), `refresh` (do not
  read, do write), `use` (cache this request whatever its sampling);
- without the header, a deterministic request: `temperature` 0 or a `seed` given;
- never one with `n` > 1, a server-side web search, or a field only one provider can serve.

The entry's key is a SHA-256 of the canonical body's fields that decide the answer (everything
but `stream`, `stream_options`, `user`, `metadata` and the client's own-format copy, NATIVE) and
of the scope (the API key, its team, or all), so one stored answer serves every client API,
whole or streamed. The entry's name also carries the scope in clear (`<prefix>:cache:<scope>:
<digest>`, gateway/state/keys.py) so an operator can flush one key's or team's entries
(gateway/state/cache_admin.py) without a read on the request's path. The lookup is one round
trip before admit, for cacheable requests only; the store runs after the answer has gone out
(lua/cache_put.lua, lua/cache_get.lua).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Coroutine, Mapping

import orjson

from gateway.errors import GatewayError, shown
from gateway.pipeline.searches import declared_searches
from gateway.providers.base import NATIVE, native_only

if TYPE_CHECKING:
    from gateway.config import ApiKey, ResponseCache
    from gateway.observe.request import RequestObserver
    from gateway.pipeline.record import Call
    from gateway.pipeline.request import ChatRequest
    from gateway.state.guard import GuardedState

HEADER = "x-gateway-cache"
MODES = ("use", "refresh", "no-store")
NOT_DECIDING = frozenset({"stream", "stream_options", "user", "metadata", "store", NATIVE,
                          "max_tokens", "max_completion_tokens"})  # the output cap goes in once, by one name
FINISHED = frozenset({"stop", "length", "tool_calls"})  # answers worth serving again


@dataclass(frozen=True, slots=True)
class CacheIntent:
    """What the cache does for one request: `digest` "" when it is skipped; `scope` who shares
    the entry (see `scope_of`)."""

    digest: str = ""
    read: bool = False
    write: bool = False
    scope: str = ""


SKIP = CacheIntent()


def intent(config: "ResponseCache", headers: Mapping[str, str], chat: "ChatRequest",
           key: "ApiKey") -> CacheIntent | None:
    """None while the cache is off (the request is untouched: no header, no round trip)."""
    if not config.enabled:
        return None
    mode = headers.get(HEADER)
    if mode is not None and mode not in MODES:
        raise GatewayError(400, f"{HEADER} must be one of {list(MODES)}; got {shown(mode)}.",
                           "invalid_request_error", "invalid_cache_mode", HEADER)
    body = chat.body
    if mode == "no-store" or chat.n != 1 or native_only(body) or "web_search_options" in body \
            or declared_searches(body):
        return SKIP
    if mode is None and not deterministic(body):
        return SKIP
    scope = scope_of(config.scope, key)
    return CacheIntent(digest(body, chat.max_tokens, scope), read=mode != "refresh", write=True, scope=scope)


def deterministic(body: dict[str, Any]) -> bool:
    """The answer does not depend on chance: greedy sampling, or a seed the provider honours."""
    temperature, seed = body.get("temperature"), body.get("seed")
    return (temperature == 0 and not isinstance(temperature, bool)) or \
        (isinstance(seed, int) and not isinstance(seed, bool))


GLOBAL_SCOPE = "global"


def runtime_key_scope(key_id: str) -> str:
    return f"key:{key_id}"


def file_key_scope(name: str) -> str:
    """A key of the config file (it has no id: its name is unique in the file)."""
    return f"cfg:{name}"


def team_scope(team: str) -> str:
    return f"team:{team}"


def scope_of(scope: str, key: "ApiKey") -> str:
    """Who shares entries: one API key, its team (a key without one: itself), or everyone."""
    own = runtime_key_scope(key.key_id) if key.key_id != "-" else file_key_scope(key.name)
    if scope == "global":
        return GLOBAL_SCOPE
    if scope == "team" and key.team:
        return team_scope(key.team)
    return own


def scope_kind(scope: str) -> str:
    """The config's word for a scope (`key`, `team`, `global`): a file key's entries are `key`'s."""
    kind = scope.split(":", 1)[0]
    return "key" if kind == "cfg" else kind


def digest(body: dict[str, Any], max_tokens: int | None, scope: str) -> str:
    """The entry's name: the deciding fields (content that is one text part read as that text),
    the client's own body when its API has one (NATIVE: fields the canonical form does not hold,
    an Anthropic `top_k` or thinking budget, a Gemini safety setting, decide the answer too, so
    an entry is shared only by requests of one client API) and the scope."""
    fields = {k: v for k, v in body.items() if k not in NOT_DECIDING}
    fields["messages"] = [_plain(m) for m in body["messages"]]
    fields["max_tokens"] = max_tokens
    native = body.get(NATIVE)
    if isinstance(native, dict) and isinstance(native.get("body"), dict):
        fields["native"] = [native.get("format"), {k: v for k, v in native["body"].items() if k not in NOT_DECIDING}]
    return hashlib.sha256(orjson.dumps([scope, fields], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _plain(message: Any) -> Any:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict) \
            and content[0].keys() == {"type", "text"} and content[0]["type"] == "text":
        return {**message, "content": content[0]["text"]}
    return message


def cacheable_answer(completion: dict[str, Any]) -> bool:
    """A whole, normally finished single answer."""
    choices = completion.get("choices")
    return isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], dict) \
        and choices[0].get("finish_reason") in FINISHED and isinstance(choices[0].get("message"), dict)


class Cache:
    """The per-worker cache: the lookup on the request's path, stores spawned after the answer."""

    def __init__(self, config: "ResponseCache", state: "GuardedState", observer: "RequestObserver") -> None:
        self.config, self.state, self.observer = config, state, observer
        self._tasks: set[asyncio.Task[None]] = set()

    async def lookup(self, call: "Call", want: CacheIntent) -> dict[str, Any] | None:
        """The stored entry for `want`, if any; a failure to read is a miss (the answer matters more)."""
        if not want.read:
            call.cache = "miss" if want.write else "skip"
            return None
        try:
            raw, _ = await self.state.scripts.call("cache_get", [self.state.keys.cache(want.scope, want.digest)], [])
            entry = orjson.loads(raw) if raw is not None else None
        except Exception as exc:  # noqa: BLE001 - Redis down or slow: served as a miss
            self.observer.log.warning("cache_lookup_failed", request_id=call.request_id, error=type(exc).__name__)
            entry = None
        call.cache = "hit" if entry is not None else "miss"
        return entry

    def store(self, call: "Call", want: CacheIntent | None, completion: dict[str, Any]) -> None:
        """Keep a served answer, off the client's critical path."""
        if want is None or not want.write or call.outcome != "success" or not cacheable_answer(completion):
            return
        self._spawn(self._put(call, want, completion))

    async def _put(self, call: "Call", want: CacheIntent, completion: dict[str, Any]) -> None:
        data = orjson.dumps({"model": call.deployment, "provider": call.provider, "body": completion})
        if len(data) > self.config.max_bytes:
            return  # the script would refuse it too: no round trip for nothing
        try:
            await self.state.scripts.call("cache_put", [self.state.keys.cache(want.scope, want.digest)],
                                          [data, str(self.config.ttl_s * 1000), str(self.config.max_bytes)])
        except Exception as exc:  # noqa: BLE001 - the answer has gone out; only its reuse is lost
            self.observer.log.warning("cache_store_failed", request_id=call.request_id, error=type(exc).__name__)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
