"""Step 6-7 for chat: one upstream call, its answer read and relayed in the client's format.

`ChatAttempt` is the pipeline's `Attempt` for chat: it builds the provider call with the
deployment's adapter, reads a whole answer, or waits for a stream's first frame before answering
200 (so a dead upstream can still fail over) and then relays the rest. Canonical (OpenAI) frames
from the adapter's decoder go through the inbound translator's encoder to the client; when the
adapter speaks the client's own API (gateway.inbound.base.AnswersNatively) the provider's answer
and events go out as they came, the decoder still reading them for the usage and the end.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable

from gateway.config import Deployment
from gateway.edge.asgi import EVENT_STREAM, SHUTTING_DOWN, EventStream, WholeReply
from gateway.errors import GatewayError, upstream_failed
from gateway.guard.answer import check_answer
from gateway.guard.stream import GuardedStream
from gateway.net.deadlines import within
from gateway.net.upstream import Opened
from gateway.pipeline.cache import CacheIntent
from gateway.pipeline.cache_stream import CollectingEncoder, Collector
from gateway.pipeline.opening import open_attempt
from gateway.pipeline.custom_tools import CustomCallStream, as_functions, restore
from gateway.pipeline.record import Call
from gateway.pipeline.request import ChatRequest
from gateway.pricing import Usage, cost_micro
from gateway.providers import UpstreamError, adapter_for
from gateway.providers.base import StreamError

from gateway.providers.base import NATIVE, StreamFraming, for_format, native_only
from gateway.pipeline.native import ProviderEvents, note_finish_reasons, referenced_fault

if TYPE_CHECKING:
    from gateway.inbound.base import AnswersNatively, Inbound, StreamEncoder
    from gateway.pipeline.context import Gateway


def _malformed(exc: Exception) -> UpstreamError:
    return UpstreamError(502, f"malformed upstream response: {exc}", "upstream_error", "upstream_malformed",
                         retryable=True)


class ChatAttempt:
    def __init__(self, gw: "Gateway", call: Call, chat: ChatRequest, inbound: "Inbound",
                 cache: CacheIntent | None = None) -> None:
        self.gw, self.call, self.chat, self.inbound = gw, call, chat, inbound
        self.cache = cache if cache is not None and cache.write else None  # the answer is to be stored
        self.keep = getattr(inbound, "keep", None)  # inbound.base.Remembers
        # only a translator that sent its client's own body (NATIVE) may answer natively
        self.native: AnswersNatively | None = \
            inbound if NATIVE in chat.body and getattr(inbound, "native_format", "") else None
        self.outguard = call.output_policy  # a guardrail policy reads the answer (gateway/guard/answer.py)
        if self.outguard is not None and chat.stream:
            self.native = None  # read on the canonical frames, the one seam of every client API (guard/stream.py)

    async def kept(self) -> None:
        """The answer is whole: a translator that remembers it does so before it goes out."""
        assert self.keep is not None
        await self.keep(self.gw, self.call.key, self.chat)

    async def __call__(self, dep: Deployment, attempt_id: str, deadline: float) -> EventStream | WholeReply | UpstreamError:
        gw, chat = self.gw, self.chat
        adapter = adapter_for(dep.provider.format)
        native = self.native if self.native is not None and adapter.native_format == self.native.native_format \
            else None
        body = for_format(chat.body, adapter.native_format, adapter.reads_hints)
        takes = adapter.capabilities.custom_tools and dep.provider.quirks.custom_tools
        custom = chat.custom_tools if not takes else frozenset()
        if custom:  # a provider without custom tools gets them as functions; its calls come back custom
            body = as_functions(body)
        if chat.max_tokens is None:
            # the output allowance admit reserved for is sent as the cap, so the reservation is a bound
            body = {**body, "max_completion_tokens": min(gw.config.server.default_max_output_tokens,
                                                          dep.max_output_tokens)}
        request = adapter.to_upstream(body, dep, chat.stream)
        self.call.adapted = request.adapted  # this attempt's: a fallback's request is its own
        trace = self.call.trace
        opened = await open_attempt(gw.upstream, request, dep, deadline, trace)
        if isinstance(opened, UpstreamError):
            return opened
        if opened.status >= 400:
            data = await gw.upstream.read_body(opened, deadline, 1 << 20)
            if isinstance(data, UpstreamError):
                return data
            err = adapter.error_from_upstream(opened.status, data, opened.headers)
            return referenced_fault(err) if native_only(chat.body) else err
        if chat.stream:
            decoder = adapter.StreamDecoder(dep, chat.include_usage)
            collector = Collector() if self.cache is not None else None
            encoder = native.native_stream(chat, dep.upstream) if native is not None else self.inbound.stream(chat)
            if collector is not None and native is None:  # inside the custom-call encoder: it sees the client's calls
                encoder = CollectingEncoder(encoder, collector)
            if custom:  # calls of custom tools sent as functions go to the client as custom calls
                encoder = CustomCallStream(encoder, custom)
            if self.outguard is not None:  # in front of all: the collector stores what the client got
                encoder = GuardedStream(encoder, self.outguard, self.call)
            if native is not None:  # the provider's events go out; its decoder still reads them
                reasons = trace.finish_reasons if trace is not None and trace.sampled else None
                decoder = ProviderEvents(decoder, collector, reasons)
            relay = StreamRelay(self, dep, attempt_id, decoder, opened, adapter.stream_framing(), encoder, collector)
            return await relay.first_frame(deadline)
        data = await gw.upstream.read_body(opened, deadline)
        if isinstance(data, UpstreamError):
            return data
        try:
            answer, usage = adapter.from_upstream(data, dep)
        except (ValueError, TypeError, KeyError) as exc:
            return _malformed(exc)
        if trace is not None:
            trace.finish_reasons = [str(c.get("finish_reason")) for c in answer.get("choices") or ()
                                    if isinstance(c, dict) and c.get("finish_reason")]
        self.count(dep, usage)
        if custom:
            answer = restore(answer, custom)
        if self.outguard is not None:
            verdict, data = check_answer(self.outguard, answer, data if native is not None else None)
            if verdict is not None:
                self.call.output_guardrail = verdict
                if verdict.action == "block":
                    return self.blocked(dep, attempt_id, verdict.error())
        if native is None:
            reply = self.inbound.reply(answer, chat)
        else:
            reply = native.native_reply(data, chat, dep.upstream)
        if self.keep is not None:
            await self.kept()
        return WholeReply(reply, self.call.headers(), after=partial(self.served, dep, attempt_id, answer))

    def blocked(self, dep: Deployment, attempt_id: str, err: GatewayError) -> WholeReply:
        """A whole answer its policy blocks: the client's 400, no cache entry; still charged (the
        provider was paid) and settled as the provider's success (it did nothing wrong)."""
        self.call.status, self.call.error = err.status, err.code
        return WholeReply(self.inbound.error_body(err), {**err.headers, **self.call.headers()}, err.status,
                          after=partial(self.served, dep, attempt_id, None))

    async def served(self, dep: Deployment, attempt_id: str, answer: dict[str, Any] | None) -> None:
        """The answer has gone out: keep it in the response cache (when it is to be), then settle."""
        if self.cache is not None and answer is not None:
            self.gw.cache.store(self.call, self.cache, answer)
        await self.gw.settle.served(self.call, dep, attempt_id)

    def count(self, dep: Deployment, usage: Usage, outcome: str = "success") -> None:
        if not usage.reported:
            usage.prompt_tokens = self.chat.prompt_tokens  # unreported: charged at the bound
        if dep.price.web_search_every_request:
            usage.web_searches = max(usage.web_searches, 1)  # the search the answer does not report
        self.call.done(usage, cost_micro(usage, dep.price), outcome)


class StreamRelay:
    """One streamed answer: the first frame before the 200, then the relay until the end."""

    def __init__(self, attempt: ChatAttempt, dep: Deployment, attempt_id: str, decoder: Any, opened: Opened,
                 parser: StreamFraming, encoder: "StreamEncoder", collector: Collector | None = None) -> None:
        self.attempt, self.dep, self.attempt_id = attempt, dep, attempt_id
        self.decoder, self.opened = decoder, opened
        self.parser = parser  # SSE, or Bedrock's binary event stream
        self.chunks = opened.chunks()
        self.first: list[bytes] = []
        self.encoder = encoder
        self.collector = collector  # the canonical answer, for the response cache
        self.guarded = encoder if isinstance(encoder, GuardedStream) else None  # a policy reads the answer
        trace = attempt.call.trace  # tracing on: the finish reasons of canonical chunks, for the spans
        # (a native relay's decoder notes them itself: its frames are the provider's events)
        self.trace = trace if trace is not None and trace.sampled and not isinstance(decoder, ProviderEvents) else None

    def _feed(self, chunk: bytes) -> list[bytes]:
        decoder = self.decoder
        frames = [frame for event, data in self.parser.feed(chunk) for frame in decoder.feed(event, data)]
        return frames if self.trace is None else list(self._reasons(frames))

    def _reasons(self, frames: Iterable[bytes]) -> Iterable[bytes]:
        """Note the finish reasons the frames carry (tracing on); the frames go on unchanged."""
        if self.trace is None:
            return frames
        frames = list(frames)
        note_finish_reasons(frames, self.trace.finish_reasons)
        return frames

    async def first_frame(self, deadline: float) -> EventStream | WholeReply | UpstreamError:
        """Read up to the first frame within the first-byte timeout. What has already arrived with
        it is decoded too (a bad event there still fails over); a stream that ended within it is
        answered in one piece, without the relay's machinery."""
        decoder, first = self.decoder, self.first
        failed: Exception | None = None
        try:  # a coarse deadline (net.deadlines): cheaper than asyncio.timeout, fires up to 0.1 s late
            with within(max(0.001, min(self.dep.provider.timeouts.first_byte_s, deadline - time.monotonic()))):
                while not first and not decoder.done:
                    chunk = await anext(self.chunks, None)
                    if chunk is None:
                        break
                    first.extend(self._feed(chunk))
                for chunk in self.opened.ready() if not decoder.done else ():
                    first.extend(self._feed(chunk))
                    if decoder.done:
                        break
        except (StreamError, ValueError, OSError, TimeoutError, Exception) as exc:  # a timeout is one of them
            failed = exc
        if failed is not None or (not first and not decoder.done):
            self.opened.close()
            return _first_frame_error(failed)
        call = self.attempt.call
        call.first_token()
        if decoder.done:
            body = self.encoder.feed(b"".join(first) + b"".join(self._reasons(decoder.finish()))) + self.encoder.finish()
            self.opened.release()
            if self.blocked():
                call.stream_error("guardrail_blocked")
            elif self.attempt.keep is not None:
                await self.attempt.kept()
            self.attempt.count(self.dep, decoder.usage)
            return WholeReply(body, call.headers(), head=EVENT_STREAM,
                              after=partial(self.attempt.served, self.dep, self.attempt_id, self.collected()))
        return EventStream(self.relay(), call.headers(), cut=partial(self.encoder.error, SHUTTING_DOWN))

    async def relay(self) -> AsyncIterator[bytes]:
        decoder, encoder, call, guarded = self.decoder, self.encoder, self.attempt.call, self.guarded
        outcome = "success"
        finished = False
        try:
            head = encoder.feed(b"".join(self.first))
            if head:
                yield head
            while not decoder.done and (guarded is None or not guarded.blocked):
                chunk = await anext(self.chunks, None)
                if chunk is None:
                    break
                # every frame decoded from one network read goes to the client in one write
                frames = self._feed(chunk)
                if frames:
                    out = encoder.feed(b"".join(frames))
                    if out:
                        yield out
            if self.blocked():  # the policy ended the stream: stop the upstream call, charge what came
                outcome = "neutral"
                call.stream_error("guardrail_blocked")
                return
            finished = True
            tail = encoder.feed(b"".join(self._reasons(decoder.finish())))
            if decoder.done:
                tail += encoder.finish()
                if self.blocked():
                    call.stream_error("guardrail_blocked")
                elif self.attempt.keep is not None:
                    await self.attempt.kept()
                yield tail
            else:
                outcome = "failure"
                call.stream_error("upstream_stream_cut")
                yield tail + encoder.error(upstream_failed(502, "The upstream stream ended early.",
                                                           "upstream_stream_cut"))
        except (asyncio.CancelledError, GeneratorExit):  # the client went away: stop the upstream call now
            outcome = "neutral"
            call.stream_error("client_disconnected")
            raise
        except (StreamError, ValueError, TimeoutError, OSError, Exception) as exc:  # noqa: B902 - all end the stream cleanly
            outcome = "failure"
            code = getattr(exc, "code", None) or ("upstream_timeout" if isinstance(exc, TimeoutError)
                                                  else "upstream_stream_error")
            call.stream_error(code)
            yield encoder.error(upstream_failed(502, f"The upstream stream failed: {exc or type(exc).__name__}", code))
        finally:
            if decoder.done and outcome == "success":
                self.opened.release()  # the connection goes back to the pool
            else:
                self.opened.close()
            if not finished:
                decoder.finish()
            self.attempt.count(self.dep, decoder.usage, outcome)
            if decoder.done and outcome == "success" and (answer := self.collected()) is not None:
                self.attempt.gw.cache.store(call, self.attempt.cache, answer)
            self.attempt.gw.settle.spawn_served(call, self.dep, self.attempt_id)

    def blocked(self) -> bool:
        """Whether the answer's guardrail policy ended the stream."""
        return self.guarded is not None and self.guarded.blocked

    def collected(self) -> dict[str, Any] | None:
        """A stream that ended normally, collected whole, for the response cache (None: not collected)."""
        if self.collector is None or self.blocked():
            return None
        if self.collector.usage is None:  # the client did not ask for it; a later one may
            u = self.attempt.call.usage
            self.collector.usage = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                                    "total_tokens": u.prompt_tokens + u.completion_tokens}
        return self.collector.completion()


def _first_frame_error(failed: Exception | None) -> UpstreamError:
    if failed is None:
        return UpstreamError(502, "upstream stream ended before its first chunk", "upstream_error",
                             "upstream_stream_empty", retryable=True)
    timeout = isinstance(failed, TimeoutError)
    return UpstreamError(504 if timeout else 502, f"stream failed before its first chunk: {type(failed).__name__}",
                         "upstream_error", "upstream_timeout" if timeout else "upstream_stream_error", retryable=True)
