"""Rough edges a new user's app hits, through the running gateway with the official SDKs as an
app builds them (default retries included): each bad input gets its SDK's exception at once,
with the gateway's message, and leaves the spend and reservation counters right."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
import redis

from tests.procs import ADMIN_KEY, DEMO_KEY, Proc, config_yaml, start_gateway

MESSAGES = [{"role": "user", "content": "Hello!"}]
EMBEDDING_MODELS = "  text-embedding-3-small: {provider: sim, kind: embedding, price: {input: 0.02}, context_window: 8191}"
ROUTES = """  auto:
    primary: gpt-5.4-mini
    fallbacks: [deepseek-v4-pro]
  frontier:
    primary: gpt-5.5
    fallbacks: [gpt-5.4]
  embeddings:
    primary: text-embedding-3-small"""


class Gw:
    """The module's gateway, its state prefix and the Redis it keeps its counters in."""

    def __init__(self, proc: Proc, prefix: str, state: redis.Redis) -> None:
        self.proc, self.prefix, self.state = proc, prefix, state
        req = urllib.request.Request(f"{proc.url}/admin/budget", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        self.day = json.loads(urllib.request.urlopen(req).read())["day"]

    def spend(self, field: str) -> int:
        return int(self.state.hget(f"{{{self.prefix}}}:spend:{self.day}", field) or 0)

    def open_reservations(self) -> int:
        return int(self.state.hlen(f"{{{self.prefix}}}:res"))


@pytest.fixture(scope="module")
def gw(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    prefix = f"newc{time.time_ns()}"
    # A key budget below one request's worst case: every chat request without a small
    # max_tokens is refused with 429 budget_exceeded.
    text = config_yaml(sim.port, prefix, key_budget_usd=0.0001, extra_models=EMBEDDING_MODELS,
                       routes=ROUTES).replace("default_route: auto", "default_route: auto\nembedding_route: embeddings")
    proc = start_gateway(tmp_path_factory.mktemp("newcomer"), text, redis_url)
    state = redis.Redis.from_url(redis_url)
    try:
        yield Gw(proc, prefix, state)
    finally:
        state.close()
        proc.stop()


class Counter:
    """Counts the HTTP requests an SDK client sends (its own retries included)."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, request: object) -> None:
        self.sent += 1


def test_budget_refusal_is_raised_at_once_by_sdks_with_default_retries(gw: Gw) -> None:
    """A budget refusal is not worth an automatic retry: with `Retry-After: 60` alone, the openai
    and anthropic SDKs (2 retries by default) slept two minutes before raising. `x-should-retry:
    false` makes them raise RateLimitError on the first answer."""
    sent = Counter()
    http = openai.DefaultHttpxClient(event_hooks={"request": [sent]})
    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key=DEMO_KEY, http_client=http) as client:
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="auto", messages=MESSAGES)
    assert sent.sent == 1
    assert info.value.body["code"] == "budget_exceeded"
    assert "budget" in info.value.message
    assert info.value.response.headers["x-should-retry"] == "false"

    sent = Counter()
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [sent]})
    with anthropic.Anthropic(base_url=gw.proc.url, api_key=DEMO_KEY, http_client=http) as claude:
        with pytest.raises(anthropic.RateLimitError) as ainfo:
            claude.messages.create(model="auto", max_tokens=4096, messages=MESSAGES)
    assert sent.sent == 1
    assert "budget" in ainfo.value.message
    assert gw.open_reservations() == 0
    assert gw.spend("reserved:key:demo") == 0
    assert gw.spend("cost:key:demo") == 0  # refused before any upstream call: nothing spent


def test_only_refusals_waiting_cannot_cure_say_do_not_retry() -> None:
    """Only refusals that waiting cannot cure say `x-should-retry: false` (a budget, a request
    bigger than the tokens-per-minute limit); a rate limit keeps inviting the SDK's retry."""
    from gateway.errors import GatewayError
    from gateway.pipeline.admit import refusal
    from gateway.state.types import Admission

    def refused(reason: str) -> GatewayError:
        return refusal(Admission(ok=False, index=-1, reason=reason, retry_after_ms=1500, breaker_gen=0,
                                 probe=False, spent_micro=0, reserved_micro=0, budget_remaining_micro=0,
                                 skipped=()), "auto")

    assert "x-should-retry" not in refused("key_rate_limited").headers
    assert refused("key_rate_limited").headers["retry-after"] == "2"
    assert refused("tokens_exceed_limit").headers["x-should-retry"] == "false"
    assert refused("budget_exceeded").headers["x-should-retry"] == "false"


def test_stream_true_where_nothing_streams_is_a_400_naming_stream(gw: Gw) -> None:
    """`stream: true` on embeddings or count_tokens was ignored: an app that asked for a stream got
    one JSON body its SSE reader cannot parse. Each is now its API's 400 naming `stream`;
    `stream: false` is still accepted."""
    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model="auto", input="hello", extra_body={"stream": True})
        assert info.value.body["param"] == "stream"
        assert "stream" in info.value.message
        ok = client.embeddings.create(model="auto", input="hello", extra_body={"stream": False})
        assert len(ok.data) == 1
    with anthropic.Anthropic(base_url=gw.proc.url, api_key=DEMO_KEY, max_retries=0) as claude:
        with pytest.raises(anthropic.BadRequestError) as ainfo:
            claude.messages.count_tokens(model="auto", messages=MESSAGES, extra_body={"stream": True})
        assert "stream" in ainfo.value.message
        assert claude.messages.count_tokens(model="auto", messages=MESSAGES,
                                            extra_body={"stream": False}).input_tokens > 0
    assert gw.open_reservations() == 0


def test_each_sdk_retrieves_one_model(gw: Gw) -> None:
    """`client.models.retrieve` (openai, anthropic) and `models.get` (google-genai) were 404
    "Unknown path" (in OpenAI's shape even for google-genai, whose SDK then read no status): apps
    that check a model before using it failed. Each gets the listing's entry, or its own 404."""
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        listed = {m.id: m for m in client.models.list()}
        for name in ("auto", "gpt-5.5"):
            assert client.models.retrieve(name) == listed[name]
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve("gpt-9")
        assert info.value.body["code"] == "model_not_found"
    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key="sk-wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.models.retrieve("auto")
    with anthropic.Anthropic(base_url=gw.proc.url, api_key=DEMO_KEY, max_retries=0) as claude:
        assert claude.models.retrieve("gpt-5.4-mini").id == "gpt-5.4-mini"
        with pytest.raises(anthropic.NotFoundError) as ainfo:
            claude.models.retrieve("claude-9")
        assert "claude-9" in ainfo.value.message
    google = genai.Client(api_key=DEMO_KEY, http_options=types.HttpOptions(base_url=gw.proc.url))
    model = google.models.get(model="models/deepseek-v4-pro")
    assert model.name == "models/deepseek-v4-pro" and model.input_token_limit == 128000
    assert google.models.get(model="embeddings").supported_actions == ["embedContent", "batchEmbedContents"]
    with pytest.raises(genai_errors.ClientError) as ginfo:
        google.models.get(model="gemini-9")
    assert ginfo.value.code == 404 and ginfo.value.status == "NOT_FOUND" and "gemini-9" in ginfo.value.message
    wrong = genai.Client(api_key="sk-wrong", http_options=types.HttpOptions(base_url=gw.proc.url))
    with pytest.raises(genai_errors.ClientError) as ginfo:
        wrong.models.get(model="auto")
    assert ginfo.value.code == 401


def test_a_gemini_call_path_asked_with_get_names_post(gw: Gw) -> None:
    """`GET /v1beta/models/auto:generateContent` is a 405 that says POST, in Google's shape."""
    req = urllib.request.Request(f"{gw.proc.url}/v1beta/models/auto:generateContent", method="GET",
                                 headers={"x-goog-api-key": DEMO_KEY})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 405 and info.value.headers["Allow"] == "POST"
    assert json.loads(info.value.read())["error"]["status"]


def admin(gw: Gw, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{gw.proc.url}{path}", method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    try:
        return json.loads(urllib.request.urlopen(req).read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{method} {path}: {err.code} {err.read()!r}") from None


def test_a_key_limited_to_some_models_lists_only_those(gw: Gw) -> None:
    """The listing is what the key may ask for: a key limited to the `frontier` route and the
    embedding model saw every route and model, `auto` first, and its first choice was a 403."""
    made = admin(gw, "POST", "/admin/keys", {"name": f"limited{time.time_ns()}",
                                             "models": ["frontier", "text-embedding-3-small"]})
    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key=made["key"], max_retries=0) as client:
        listed = [m.id for m in client.models.list()]
        # the embedding route lands on the allowed model; auto and the other models do not
        assert listed == ["frontier", "embeddings", "text-embedding-3-small"]
        with pytest.raises(openai.PermissionDeniedError):
            client.models.retrieve("auto")
        assert client.models.retrieve("frontier").id == "frontier"
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="auto", messages=MESSAGES)
        assert len(client.embeddings.create(model="embeddings", input="hi").data) == 1
    with anthropic.Anthropic(base_url=gw.proc.url, api_key=made["key"], max_retries=0) as claude:
        assert [m.id for m in claude.models.list()] == listed
    with openai.OpenAI(base_url=f"{gw.proc.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        assert "auto" in [m.id for m in client.models.list()]  # an unrestricted key sees everything


def test_messages_with_only_system_turns_say_so(gw: Gw) -> None:
    """A Messages request whose turns are all `system` was told it held "only thinking,
    server-tool or file blocks"; the 400 now says a user or assistant turn is needed."""
    with anthropic.Anthropic(base_url=gw.proc.url, api_key=DEMO_KEY, max_retries=0) as claude:
        with pytest.raises(anthropic.BadRequestError) as info:
            claude.messages.create(model="auto", max_tokens=16,
                                   messages=[{"role": "system", "content": "Be brief."}])  # type: ignore[list-item]
    assert "user or assistant" in info.value.message
    assert gw.open_reservations() == 0


@pytest.mark.parametrize("path, headers, shape", [
    ("/v1/chat/completions", {"authorization": f"Bearer {DEMO_KEY}"}, "openai"),
    ("/v1/messages", {"x-api-key": DEMO_KEY}, "anthropic"),
    ("/v1beta/models/auto:generateContent", {"x-goog-api-key": DEMO_KEY}, "gemini"),
])
def test_a_gzip_body_is_named_as_such(gw: Gw, path: str, headers: dict[str, str], shape: str) -> None:
    """A body sent with `Content-Encoding: gzip` was "not valid JSON: str is not valid UTF-8:
    surrogates not allowed"; the 400 now says it is compressed and what to send instead."""
    import gzip

    body = gzip.compress(json.dumps({"model": "auto", "max_tokens": 8, "messages": MESSAGES,
                                     "contents": [{"parts": [{"text": "hi"}]}]}).encode())
    req = urllib.request.Request(f"{gw.proc.url}{path}", data=body, method="POST", headers={
        **headers, "content-type": "application/json", "content-encoding": "gzip"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 400
    doc = json.loads(info.value.read())
    message = doc["error"]["message"]
    assert "gzip" in message and "uncompressed" in message
    assert {"openai": "message" in doc["error"] and "type" in doc["error"], "anthropic": doc.get("type") == "error",
            "gemini": doc["error"].get("status") == "INVALID_ARGUMENT"}[shape]
