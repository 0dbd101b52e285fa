"""A policy's `output` on a streamed answer: one seam for every client API.

`GuardedStream` is a `StreamEncoder` in front of the client's (and of the response cache's
collector), so it reads the gateway's canonical `chat.completion.chunk` frames before any
translator does: one implementation serves OpenAI chat, Responses, legacy completions, Anthropic
Messages and the Gemini API, and the cache stores what the client was sent.

Each text of the answer (a choice's `content` or `refusal`, each tool call's `arguments`) goes
through a `HoldBack`: the end of the text waits until what follows shows it holds no finding.
Held text goes out, in a frame of its own, before anything that must follow it (another text of
the choice starting, a tool call, thinking, the finish) and at the end of the stream, so every
client sees its parts in order. A frame whose text is all held is dropped; any other frame keeps
its fields. `redact` sends placeholders; `log` sends the text as it came (nothing is held) and
counts; `block` ends the stream at the first finding, before any part of it went out, with the
client API's own error event. The thinking (`reasoning_content`) is not read: see answer.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.guard.apply import Recorded, Verdict
from gateway.guard.holdback import HoldBack
from gateway.guard.policy import GuardPolicy
from gateway.guard.scan import Scan
from gateway.inbound.base import StreamEncoder

TEXTS = ("content", "refusal")  # a delta's texts; tool calls' `arguments` are the others
PLAIN = frozenset({"role", *TEXTS, "tool_calls"})  # a delta's fields that do not flush held text by themselves

Channel = tuple[int, Any]  # (choice index, a text field's name or a tool call's index)


class GuardedStream:
    """The `StreamEncoder` that reads a streamed answer under a policy's `output`."""

    __slots__ = ("inner", "policy", "call", "scan", "texts", "holding", "envelope", "blocked", "holds", "found")

    def __init__(self, inner: StreamEncoder, policy: GuardPolicy, call: Recorded) -> None:
        self.inner, self.policy, self.call = inner, policy, call
        self.holds = policy.action != "log"  # `log` sends the text as it came, and only counts
        self.scan = Scan(policy.scanner, write=policy.action == "redact")
        self.texts: dict[Channel, HoldBack] = {}
        self.holding: dict[int, Channel] = {}  # choice -> its one text that may hold something (the last pushed)
        self.envelope: dict[str, Any] = {}
        self.blocked = False
        self.found = 0  # distinct values found so far

    # ------------------------------------------------------------------ StreamEncoder
    def feed(self, frames: bytes) -> bytes:
        if self.blocked:
            return b""
        out: list[bytes] = []
        for frame in frames.split(b"\n\n"):
            if not frame:
                continue
            chunk = _chunk(frame)
            if chunk is None:
                out.append(frame + b"\n\n")
                continue
            if self.envelope and (piece := _text_only(chunk)) is not None:  # most frames: one piece of text
                choice = chunk["choices"][0]
                index = choice.get("index", 0)
                channel = (index, "content")
                held = self.holding.get(index)
                if held is None or held == channel:
                    self.holding[index] = channel
                    sent = self._text(channel, piece, False)
                    if self.blocked:
                        return (self.inner.feed(b"".join(out)) if out else b"") + self._block()
                    if sent == piece:
                        out.append(frame + b"\n\n")
                    elif sent:
                        choice["delta"]["content"] = sent
                        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
                    continue  # all held: nothing of the frame is left
            first, changed, keep = self._read(chunk)
            out += first
            if self.blocked:
                return (self.inner.feed(b"".join(out)) if out else b"") + self._block()
            if keep is not None:
                out.append(b"data: " + orjson.dumps(keep) + b"\n\n" if changed else frame + b"\n\n")
        return self.inner.feed(b"".join(out)) if out else b""

    def finish(self) -> bytes:
        if self.blocked:
            return b""
        held = self._flush(None, ())
        if self.blocked:
            return (self.inner.feed(b"".join(held)) if held else b"") + self._block()
        return (self.inner.feed(b"".join(held)) if held else b"") + self.inner.finish()

    def error(self, err: GatewayError) -> bytes:
        if self.blocked:
            return b""
        held = self._flush(None, ())
        if self.blocked:
            return (self.inner.feed(b"".join(held)) if held else b"") + self._block()
        return (self.inner.feed(b"".join(held)) if held else b"") + self.inner.error(err)

    # ------------------------------------------------------------------ frames
    def _read(self, chunk: dict[str, Any]) -> tuple[list[bytes], bool, dict[str, Any] | None]:
        """(held text that must go out before this chunk, whether the chunk changed, the chunk to
        send: None when nothing is left of it)."""
        if not self.envelope:
            self.envelope = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
        choices = chunk.get("choices")
        if not choices or type(choices) is not list:  # the usage, or a provider's own frame: after all held text
            return (self._flush(None, ()) if self.texts else []), False, chunk
        first: list[bytes] = []
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            final = bool(choice.get("finish_reason"))
            if not isinstance(delta, dict):
                delta = {}
            mine = self._channels(index, delta)
            if self.texts and (final or any(k not in PLAIN and v for k, v in delta.items())
                               or self._others(index, mine)):
                first += self._flush(index, mine)
                if self.blocked:
                    return first, False, None
            if mine:
                changed = True
                self._push(index, delta, final)
                if self.blocked:
                    return first, False, None
        if not changed:
            return first, False, chunk
        kept = [c for c in choices if not _empty(c)]
        if not kept and "usage" not in chunk:
            return first, True, None
        if len(kept) < len(choices):
            chunk["choices"] = kept
        return first, True, chunk

    def _channels(self, index: int, delta: dict[str, Any]) -> list[Channel]:
        mine: list[Channel] = [(index, f) for f in TEXTS if type(delta.get(f)) is str and delta[f]]
        calls = delta.get("tool_calls")
        if type(calls) is list:
            mine += [(index, c.get("index", 0)) for c in calls if isinstance(c, dict)]
        return mine

    def _others(self, index: int, mine: list[Channel]) -> bool:
        """Whether another text of this choice holds something (it must go out first)."""
        held = self.holding.get(index)
        return held is not None and held not in mine and bool(self.texts[held].pending)

    def _push(self, index: int, delta: dict[str, Any], final: bool) -> None:
        """This delta's texts through their hold-backs, in place; emptied ones taken out."""
        for field in TEXTS:
            piece = delta.get(field)
            if type(piece) is str and piece:
                self.holding[index] = (index, field)
                sent = self._text((index, field), piece, final)
                if sent:
                    delta[field] = sent
                else:
                    del delta[field]
        calls = delta.get("tool_calls")
        if type(calls) is not list:
            return
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if type(args) is str and args:
                self.holding[index] = (index, call.get("index", 0))
                fn["arguments"] = self._text((index, call.get("index", 0)), args, final)
        kept = [c for c in calls if not (isinstance(c, dict) and set(c) <= {"index", "function"}
                                         and c.get("function") == {"arguments": ""})]
        if kept:
            delta["tool_calls"] = kept
        else:
            del delta["tool_calls"]

    def _text(self, channel: Channel, piece: str, final: bool) -> str:
        hb = self.texts.get(channel)
        if hb is None:
            hb = self.texts[channel] = HoldBack(self.scan)
        sent = hb.push(piece, final)
        self._note()
        return sent if self.holds else piece

    def _flush(self, index: int | None, but: Any) -> list[bytes]:
        """Frames of the held text of choice `index` (None: every choice), but the `but` channels."""
        frames: list[bytes] = []
        for channel, hb in self.texts.items():
            if (index is not None and channel[0] != index) or channel in but or not hb.pending:
                continue
            text = hb.push("", final=True)
            self._note()
            if self.blocked:
                return frames
            if not text or not self.holds:
                continue  # `log` sent it as it came
            name = channel[1]
            delta = {name: text} if isinstance(name, str) else \
                {"tool_calls": [{"index": name, "function": {"arguments": text}}]}
            chunk = {**self.envelope, "choices": [{"index": channel[0], "delta": delta, "finish_reason": None}]}
            frames.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        return frames

    # ------------------------------------------------------------------ findings
    def _note(self) -> None:
        """Record what has been found (the log line's, even if the client goes away); a block stops here."""
        if not self.scan.values:
            return
        found = sum(len(v) for v in self.scan.values.values())
        if found == self.found:
            return
        self.found = found
        self.call.output_guardrail = Verdict(self.policy.name, self.policy.action, self.scan.counts(), answer=True)
        if self.policy.action == "block":
            self.blocked = True

    def _block(self) -> bytes:
        verdict = self.call.output_guardrail
        assert verdict is not None
        return self.inner.error(verdict.error())


def _text_only(chunk: dict[str, Any]) -> str | None:
    """The piece of text of a chunk that is nothing else (one choice, its delta `content` alone, no
    finish, no usage): how most of an answer comes."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1 or "usage" in chunk:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or len(choice) > 4 \
            or (len(choice) == 4 and choice.get("logprobs", 1) is not None):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or len(delta) != 1:
        return None
    piece = delta.get("content")
    return piece if type(piece) is str and piece else None


def _empty(choice: Any) -> bool:
    """A choice with nothing left to say (its text all held): no delta, no finish, nothing else."""
    return isinstance(choice, dict) and not choice.get("delta") and not choice.get("finish_reason") \
        and all(v is None for k, v in choice.items() if k not in ("index", "delta", "finish_reason"))


def _chunk(frame: bytes) -> dict[str, Any] | None:
    """A canonical `data: {...}` frame's chunk; None for anything else (relayed as it came)."""
    if not frame.startswith(b"data: ") or frame == b"data: [DONE]":
        return None
    try:
        chunk = orjson.loads(frame[6:])
    except orjson.JSONDecodeError:
        return None
    return chunk if isinstance(chunk, dict) else None
