"""Each pipeline stage on its own: admit's arguments, refusal mapping, the fallback loop with a fake
attempt, the stream relay with a scripted upstream, settle's arguments. No server, no engine."""

from __future__ import annotations

import dataclasses
import asyncio
import time
from types import SimpleNamespace
from typing import Any, AsyncIterator

import orjson
import pytest
import yaml

from gateway.config import ApiKey, parse_config
from gateway.edge.asgi import EventStream, WholeReply
from gateway.errors import GatewayError
from gateway.inbound.openai_chat import OpenAIChat
from gateway.pipeline.admit import Admit, BudgetClock, WorstCase, refusal
from gateway.pipeline.fallback import serve
from gateway.pipeline.record import Call
from gateway.pipeline.relay import ChatAttempt
from gateway.pipeline.request import parse_chat
from gateway.pipeline.settle import Settle
from gateway.pricing import Usage
from gateway.providers import UpstreamError
from gateway.routing.plan import Planner
from gateway.state.types import Admission
from tests.procs import ROOT

CONFIG = parse_config(yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text().replace(
    "${SIMULATOR_PORT:-9100}", "9100")), "demo.yaml", {"SIMULATOR_API_KEY": "x"})
KEY = ApiKey(name="k", sha256=b"\0" * 32, rpm=60, tpm=10_000, daily_budget_micro=5_000_000)


def admission(ok: bool = True, index: int = 0, reason: str = "", retry_after_ms: int = 0) -> Admission:
    return Admission(ok, index, reason, retry_after_ms, 0, False, 0, 0, -1, ())


class Observer:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.log = SimpleNamespace(error=lambda event, **fields: self.events.append((event, fields)))

    def admission(self, adm: Admission) -> None:
        self.events.append(("admission", adm.ok))

    def refused(self, reason: str) -> None:
        self.events.append(("refused", reason))

    def upstream_error(self, dep: Any, code: str) -> None:
        self.events.append(("upstream_error", (dep.name, code)))

    def provider_rejected(self, dep: Any, status: int, cooldown_s: int) -> None:
        self.events.append(("provider_rejected", dep.name))

    def finish(self, call: Call) -> None:
        self.events.append(("finish", call.status))


class State:
    """Admit answers from a script; settles are recorded."""

    def __init__(self, answers: list[Admission]) -> None:
        self.answers = answers
        self.admitted: list[Any] = []
        self.settled: list[Any] = []

    async def admit(self, req: Any, hard_budget: bool = False) -> Admission:
        self.admitted.append(req)
        return self.answers.pop(0)

    async def settle(self, req: Any) -> None:
        self.settled.append(req)

    def admit_deadline_us(self) -> int:
        return 123


def plan(route: str = "auto", task: str = "simple_chat"):
    return Planner(CONFIG).plan(route, KEY, 400, None, task, 0.9, "u1")


def fake_gateway(state: State) -> SimpleNamespace:
    observer = Observer()
    clock = BudgetClock(CONFIG)
    return SimpleNamespace(config=CONFIG, state=state, observer=observer, clock=clock,
                           admit=Admit(CONFIG, state, clock, observer), settle=Settle(CONFIG, state, clock, observer))


# ------------------------------------------------------------------------------ admit

def test_admit_request_reserves_the_worst_case_per_candidate() -> None:
    p = plan()
    gw = fake_gateway(State([]))
    worst = WorstCase(prompt_tokens=120, max_out=1000, n=2)
    req = gw.admit.request("req.0", KEY, p, worst, list(p.deployments))
    assert req.req_id == "req.0" and req.key == "k" and req.est_tokens == 120 + 2 * 1000
    assert req.key_budget_micro == KEY.daily_budget_micro and req.deadline_us == 123
    assert [c.deployment for c in req.candidates] == [d.name for d in p.deployments]
    for cand, dep in zip(req.candidates, p.deployments):
        assert cand.max_cost_micro == worst.cost_micro(dep) > 0
    assert req.day == gw.clock.day()


def test_admit_request_for_part_of_the_chain_keeps_each_expected_cost() -> None:
    p = plan()
    gw = fake_gateway(State([]))
    rest = list(p.deployments[1:])
    req = gw.admit.request("req.1", KEY, p, WorstCase(10, 10), rest)
    assert [c.deployment for c in req.candidates] == [d.name for d in rest]
    assert tuple(c.expected_cost_micro for c in req.candidates) == p.expected_cost_micro[1:]


def test_worst_case_caps_the_allowance_at_the_models_limit() -> None:
    dep = plan().deployments[0]
    big = WorstCase(100, dep.max_output_tokens * 10)
    assert big.cost_micro(dep) == WorstCase(100, dep.max_output_tokens).cost_micro(dep)


@pytest.mark.parametrize("reason, status, code, retry_after", [
    ("key_rate_limited", 429, "rate_limit_exceeded", "3"),
    ("tokens_exceed_limit", 429, "tokens_exceed_limit", None),
    ("budget_exceeded", 429, "budget_exceeded", "3"),
    ("deployments_rate_limited", 429, "rate_limit_exceeded", "3"),
    ("state_unavailable", 503, "state_unavailable", "3"),
    ("expired", 503, "state_unavailable", "3"),
    ("breakers_open", 503, "no_healthy_deployment", "3"),
])
def test_refusal_maps_each_reason(reason: str, status: int, code: str, retry_after: str | None) -> None:
    err = refusal(admission(False, -1, reason, 2500), "auto")
    assert (err.status, err.code, err.headers.get("retry-after")) == (status, code, retry_after)


# ------------------------------------------------------------------------------ fallback

class ScriptedAttempt:
    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.calls: list[str] = []

    async def __call__(self, dep: Any, attempt_id: str, deadline: float) -> Any:
        self.calls.append(dep.name)
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result


def failure(status: int = 500, code: str = "upstream_error") -> UpstreamError:
    return UpstreamError(502, "boom", "upstream_error", code, retryable=True, upstream_status=status)


async def test_fallback_moves_to_the_next_candidate_and_settles_the_failure() -> None:
    p = plan()
    state = State([admission(index=0), admission(index=0)])
    gw = fake_gateway(state)
    ok = WholeReply(b"{}", {})
    attempt = ScriptedAttempt([failure(500), ok])
    call = Call.start(None)
    assert await serve(gw, call, p, KEY, WorstCase(10, 10), attempt) is ok
    assert attempt.calls == [p.deployments[0].name, p.deployments[1].name]
    assert [r.req_id for r in state.admitted] == [f"{call.state_id}.0", f"{call.state_id}.1"]
    assert [c.deployment for c in state.admitted[1].candidates] == [d.name for d in p.deployments[1:]]
    assert [(s.req_id, s.outcome, s.cost_micro) for s in state.settled] == [(f"{call.state_id}.0", "failure", 0)]
    assert call.attempts == 2 and call.fallbacks == 1


async def test_fallback_refusal_before_any_call_is_the_clients_error() -> None:
    gw = fake_gateway(State([admission(False, -1, "key_rate_limited", 1000)]))
    with pytest.raises(GatewayError) as info:
        await serve(gw, Call.start(None), plan(), KEY, WorstCase(10, 10), ScriptedAttempt([]))
    assert info.value.status == 429
    assert ("refused", "key_rate_limited") in gw.observer.events


async def test_fallback_client_error_is_final_and_does_not_fall_back() -> None:
    p = plan()
    gw = fake_gateway(State([admission(index=0)]))
    bad = UpstreamError(400, "bad field", "invalid_request_error", "invalid", retryable=False, upstream_status=400)
    attempt = ScriptedAttempt([bad])
    with pytest.raises(GatewayError) as info:
        await serve(gw, Call.start(None), p, KEY, WorstCase(10, 10), attempt)
    assert info.value.status == 400 and len(attempt.calls) == 1


async def test_fallback_releases_the_reservation_when_cancelled() -> None:
    state = State([admission(index=0)])
    gw = fake_gateway(state)
    call = Call.start(None)
    with pytest.raises(asyncio.CancelledError):
        await serve(gw, call, plan(), KEY, WorstCase(10, 10), ScriptedAttempt([asyncio.CancelledError()]))
    await gw.settle.drain()
    assert [(s.req_id, s.outcome) for s in state.settled] == [(f"{call.state_id}.0", "neutral")]


async def test_fallback_unexpressible_request_tries_the_next_without_spending_an_attempt() -> None:
    p = plan()
    state = State([admission(index=0), admission(index=0)])
    gw = fake_gateway(state)
    ok = WholeReply(b"{}", {})
    call = Call.start(None)
    unsupported = GatewayError(400, "n > 1", "invalid_request_error", "n_unsupported")
    assert await serve(gw, call, p, KEY, WorstCase(10, 10), ScriptedAttempt([unsupported, ok])) is ok
    assert call.skipped[-1] == (p.deployments[0].name, "n_unsupported")
    assert state.settled[0].outcome == "neutral"


# ------------------------------------------------------------------------------ relay

class ScriptedOpened:
    """An upstream response whose body arrives in the scripted pieces."""

    def __init__(self, pieces: list[bytes], status: int = 200) -> None:
        self.status, self.headers = status, {}
        self.pieces = pieces
        self.released = self.closed = False

    async def _chunks(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def ready(self) -> list[bytes]:
        return []

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


class ScriptedUpstream:
    def __init__(self, opened: ScriptedOpened) -> None:
        self.opened = opened
        self.sent: list[Any] = []

    async def open(self, req: Any, timeouts: Any, deadline: float, egress: Any = None) -> ScriptedOpened:
        self.sent.append(orjson.loads(req.body))
        return self.opened


def chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                            "choices": [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                                          "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return b"data: " + orjson.dumps(body) + b"\n\n"


def openai_dep():
    return next(d for d in CONFIG.deployments.values() if d.provider.format == "openai")


async def relay_of(pieces: list[bytes]) -> tuple[Any, Call, SimpleNamespace, ScriptedOpened]:
    state = State([])
    gw = fake_gateway(state)
    opened = ScriptedOpened(pieces)
    gw.upstream = ScriptedUpstream(opened)
    chat = parse_chat(orjson.dumps({"model": "auto", "stream": True, "stream_options": {"include_usage": True},
                                    "messages": [{"role": "user", "content": "hi"}]}))
    chat.prompt_tokens = 50
    call = Call.start(None)
    answer = await ChatAttempt(gw, call, chat, OpenAIChat())(openai_dep(), "id.0", time.monotonic() + 5)
    return answer, call, gw, opened


async def test_relay_streams_every_frame_then_settles_what_was_used() -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    pieces = [chunk("Hel"), chunk("lo") + chunk(finish="stop"), chunk(usage=usage), b"data: [DONE]\n\n"]
    answer, call, gw, opened = await relay_of(pieces)
    assert isinstance(answer, EventStream)
    out = b"".join([frame async for frame in answer.frames])
    await gw.settle.drain()
    texts = [orjson.loads(line[6:])["choices"][0]["delta"].get("content") for line in out.split(b"\n\n")
             if line.startswith(b"data: {") and orjson.loads(line[6:])["choices"]]
    assert "".join(t for t in texts if t) == "Hello"
    assert out.endswith(b"data: [DONE]\n\n") and opened.released and not opened.closed
    assert (call.usage.prompt_tokens, call.usage.completion_tokens, call.outcome) == (7, 2, "success")
    [settled] = gw.state.settled
    assert (settled.req_id, settled.tokens_in, settled.tokens_out, settled.outcome) == ("id.0", 7, 2, "success")
    assert settled.cost_micro == call.cost_micro > 0


async def test_relay_cut_stream_ends_with_an_error_event_and_charges_the_bound() -> None:
    answer, call, gw, opened = await relay_of([chunk("Hel"), chunk("lo")])
    out = b"".join([frame async for frame in answer.frames])
    await gw.settle.drain()
    assert b"upstream_stream_cut" in out and out.endswith(b"data: [DONE]\n\n")
    assert opened.closed and call.outcome == "failure" and call.usage.prompt_tokens == 50
    assert gw.state.settled[0].outcome == "failure"


async def test_relay_empty_stream_fails_over_before_the_200() -> None:
    answer, call, gw, opened = await relay_of([])
    assert isinstance(answer, UpstreamError) and answer.code == "upstream_stream_empty" and answer.retryable
    assert opened.closed and gw.state.settled == []


async def test_relay_sends_the_reserved_allowance_as_the_cap() -> None:
    answer, call, gw, opened = await relay_of([chunk("x", "stop"), b"data: [DONE]\n\n"])
    sent = gw.upstream.sent[0]
    assert sent["max_completion_tokens"] == min(CONFIG.server.default_max_output_tokens,
                                                openai_dep().max_output_tokens)


# ------------------------------------------------------------------------------ settle

def test_settle_request_carries_the_attempt_and_its_usage() -> None:
    gw = fake_gateway(State([]))
    call = Call.start("client-id")
    call.key, call.task, call.route, call.degraded, call.experiment = "k", "summarization", "auto", True, "e:a"
    dep = openai_dep()
    usage = Usage(100, 20, 5, cache_write_tokens=40, cache_write_1h_tokens=60, web_searches=2)
    req = gw.settle.request(call, dep, f"{call.state_id}.3", "success", 900, usage, hold_ms=0)
    assert req.req_id == f"{call.state_id}.3" != "client-id"
    assert (req.key, req.deployment, req.provider, req.task, req.route) == ("k", dep.name, dep.provider.name,
                                                                            "summarization", "auto")
    assert (req.cost_micro, req.tokens_in, req.tokens_out, req.cached_tokens) == (900, 100, 20, 5)
    # the counts the cost was priced from beyond in/out/cached go to the ledger (1h: at most the written)
    assert (req.web_searches, req.cache_write_tokens, req.cache_write_1h_tokens) == (2, 40, 40)
    bare = gw.settle.request(call, dep, "x.1", "failure")
    assert (bare.tokens_in, bare.web_searches, bare.cache_write_tokens, bare.cache_write_1h_tokens) == (0, 0, 0, 0)
    assert req.force and req.arm == "e:a" and req.day == gw.clock.day() and req.tpm == dep.tpm


async def test_settle_failure_of_the_engine_is_logged_not_raised() -> None:
    class Broken(State):
        async def settle(self, req: Any) -> None:
            raise ConnectionError("engine gone")

    gw = fake_gateway(Broken([]))
    call = Call.start(None)
    await gw.settle.failed(call, openai_dep(), "x.0", "failure")
    assert gw.observer.events[-1][0] == "settle_failed"


@pytest.mark.parametrize("max_retries, calls", [(0, 1), (1, 2), (3, 4), (9, 4)])
async def test_fallback_retries_a_deployment_its_providers_max_retries_times(max_retries: int, calls: int) -> None:
    """One deployment that keeps failing: called 1 + max_retries times, never past the attempt budget (4)."""
    p = plan()
    dep = dataclasses.replace(p.deployments[0], provider=dataclasses.replace(p.deployments[0].provider,
                                                                             max_retries=max_retries))
    p = dataclasses.replace(p, deployments=(dep,), expected_cost_micro=p.expected_cost_micro[:1])
    state = State([admission(index=0) for _ in range(calls)])
    attempt = ScriptedAttempt([failure(500) for _ in range(calls)])
    with pytest.raises(GatewayError):
        await serve(fake_gateway(state), Call.start(None), p, KEY, WorstCase(10, 10), attempt)
    assert attempt.calls == [dep.name] * calls
    assert [s.outcome for s in state.settled] == ["failure"] * calls
