"""Canonical `chat.completion.chunk` frames → Responses API stream events.

    response.created, response.in_progress
    per text answer:  output_item.added, content_part.added, output_text.delta... (and
                      output_text.annotation.added per citation), output_text.done, content_part.done,
                      output_item.done
    per tool call:    output_item.added, function_call_arguments.delta..., function_call_arguments.done,
                      output_item.done (a custom tool's call: custom_tool_call_input.delta / .done)
    per reasoning item or hosted tool item (from a Responses deployment, whole, once finished;
    a web search's item also from any other provider, gateway.providers.search_options),
    per signed thinking block of Claude (a reasoning item made once its signature arrives), and
    per function call Gemini signed (a reasoning item with its signature, just before the call):
                      output_item.added, a reasoning item's summary parts (reasoning_summary_part.added,
                      reasoning_summary_text.delta, .done, reasoning_summary_part.done), output_item.done
                      (a web_search_call: output_item.added in progress, web_search_call.in_progress,
                      .searching, .completed, output_item.done)
    response.completed (response.incomplete when cut by the token limit), or on a failure after
    the 200: error, response.failed

Every event carries `sequence_number`. Items open as their first delta arrives; a text item
closes when a tool call starts, and everything open closes at the end, in output order.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.frames import chunks
from gateway.inbound.responses import signatures
from gateway.inbound.responses.reply import (
    Turn, annotations_of, answered, call_item, chat_call, custom_item, message_item, new_id, reasoning_items,
    response_object, text_part, thinking_item, usage_of,
)
from gateway.providers.openai_side import signed_thinking
from gateway.providers.search_options import SEARCH_ITEM


class _Call:
    __slots__ = ("item_id", "index", "call_id", "name", "args", "custom", "signature")

    def __init__(self, index: int, call_id: str, name: str, custom: bool, signature: str | None) -> None:
        self.item_id, self.index, self.call_id, self.name = new_id("ctc_" if custom else "fc_"), index, call_id, name
        self.args: list[str] = []
        self.custom = custom  # a custom (freeform) tool's call: `args` are pieces of its input
        self.signature = signature  # Gemini's thought signature

    def item(self, status: str = "completed") -> dict[str, Any]:
        text = "".join(self.args) if status == "completed" else ""
        if self.custom:
            return custom_item(self.item_id, self.call_id, self.name, text, status)
        return call_item(self.item_id, self.call_id, self.name, text or "{}" if status == "completed" else "", status)


class ResponsesStream:
    """One streamed answer (the pipeline's `StreamEncoder`)."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.seq = 0
        self.started = False
        self.model = ""
        self.items: list[tuple[int, dict[str, Any]]] = []   # finished output items and their output index
        self.text_id: str | None = None              # the open message item
        self.text: list[str] = []
        self.text_index = -1
        self.all_text: list[str] = []
        self.text_base = 0                           # where the open message's text starts in the content
        self.notes: list[dict[str, Any]] = []        # the open message's annotations (Responses form)
        self.calls: dict[int, _Call] = {}            # open tool calls by their canonical index
        self.done_calls: list[_Call] = []
        self.reasoning: list[dict[str, Any]] = []    # a Responses deployment's reasoning and hosted tool items
        self.thought: list[str] = []                 # thinking text whose block is not signed yet
        self.thinking: list[dict[str, Any]] = []     # Claude's signed thinking blocks
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _response(self, status: str, output: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        return response_object(self.turn, self.model, status, output, usage, self.finish_reason)

    def feed(self, frames: bytes) -> bytes:
        out: list[bytes] = []
        for chunk in chunks(frames):
            if not self.started:
                self.started, self.model = True, chunk.get("model") or ""
                start = self._response("in_progress", [])
                out += [self._event("response.created", response=start),
                        self._event("response.in_progress", response=start)]
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) == 0:
                    self._choice(choice, out)
        return b"".join(out)

    def _choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        delta = choice.get("delta") or {}
        for item in reasoning_items(delta):
            if item["type"] == "reasoning":
                self.thought = []  # the summary deltas before it were this item's own
            self._whole(item, out)
            self.reasoning.append(item)
        self._thinking(delta, out)
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self.text_id is None:
                self._open_text(out)
            self.text.append(text)
            out.append(self._event("response.output_text.delta", item_id=self.text_id, output_index=self.text_index,
                                   content_index=0, delta=text, logprobs=[]))
        if "annotations" in delta:
            self._annotate(delta, out)
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call, out)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def _annotate(self, delta: dict[str, Any], out: list[bytes]) -> None:
        """Citations go on the open message, which they open when they come ahead of its text
        (a provider may cite a block before streaming it)."""
        notes = annotations_of(delta, self.text_base if self.text_id is not None else sum(map(len, self.all_text)))
        if notes and self.text_id is None:
            self._open_text(out)
        for note in notes:
            out.append(self._event("response.output_text.annotation.added", item_id=self.text_id,
                                   output_index=self.text_index, content_index=0,
                                   annotation_index=len(self.notes), annotation=note))
            self.notes.append(note)

    def _whole(self, item: dict[str, Any], out: list[bytes]) -> None:
        """An item that arrives finished (a Responses deployment's reasoning or hosted tool item):
        added, a reasoning item's summary parts as their events, done."""
        self._close_text(out)
        index = self._next_index()
        summary = item.get("summary") if item.get("type") == "reasoning" else None
        parts = [p for p in summary if isinstance(p, dict) and isinstance(p.get("text"), str)] if isinstance(summary, list) else []
        at = {"item_id": item.get("id"), "output_index": index}
        if item["type"] == SEARCH_ITEM:  # the search's progress, as the Responses API sends it
            out.append(self._event("response.output_item.added", output_index=index,
                                   item={**item, "status": "in_progress"}))
            steps = ("in_progress", "searching", "completed") if item.get("status") == "completed" else ("in_progress",)
            out += [self._event(f"response.web_search_call.{step}", **at) for step in steps]
            out.append(self._event("response.output_item.done", output_index=index, item=item))
            self.items.append((index, item))
            return
        out.append(self._event("response.output_item.added", output_index=index,
                               item={**item, "summary": []} if parts else item))
        for n, part in enumerate(parts):
            empty = {"type": "summary_text", "text": ""}
            out.append(self._event("response.reasoning_summary_part.added", **at, summary_index=n, part=empty))
            out.append(self._event("response.reasoning_summary_text.delta", **at, summary_index=n, delta=part["text"]))
            out.append(self._event("response.reasoning_summary_text.done", **at, summary_index=n, text=part["text"]))
            out.append(self._event("response.reasoning_summary_part.done", **at, summary_index=n,
                                   part={"type": "summary_text", "text": part["text"]}))
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        self.items.append((index, item))

    def _thinking(self, delta: dict[str, Any], out: list[bytes]) -> None:
        """Claude's thinking: its text comes as `reasoning_content`, then each block's signature (or
        a redacted block, whole) as `thinking_blocks`; a signed block goes out as a reasoning item."""
        text = delta.get("reasoning_content")
        if isinstance(text, str) and text:
            self.thought.append(text)
        for block in signed_thinking(delta.get("thinking_blocks")):
            if block["type"] == "thinking":
                block["thinking"] = block["thinking"] or "".join(self.thought)
                self.thought = []
            self.thinking.append(block)
            self._whole(thinking_item(block, self.turn.summaries), out)

    def _next_index(self) -> int:
        return len(self.items) + len(self.calls) + (self.text_id is not None)

    def _open_text(self, out: list[bytes]) -> None:
        self.text_id, self.text_index, self.text, self.notes = new_id("msg_"), self._next_index(), [], []
        self.text_base = sum(map(len, self.all_text))
        out.append(self._event("response.output_item.added", output_index=self.text_index,
                               item=message_item(self.text_id, "", "in_progress")))
        out.append(self._event("response.content_part.added", item_id=self.text_id, output_index=self.text_index,
                               content_index=0, part=text_part("")))

    def _close_text(self, out: list[bytes]) -> None:
        if self.text_id is None:
            return
        text, item_id, index = "".join(self.text), self.text_id, self.text_index
        out.append(self._event("response.output_text.done", item_id=item_id, output_index=index, content_index=0,
                               text=text, logprobs=[]))
        out.append(self._event("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
                               part=text_part(text, self.notes)))
        item = message_item(item_id, text, notes=self.notes)
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        self.items.append((index, item))
        self.all_text.append(text)
        self.text_id = None

    def _tool_delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        index = delta.get("index", 0)
        call = self.calls.get(index)
        if call is None:
            self._close_text(out)
            custom = delta.get("type") == "custom" or "custom" in delta
            fn = delta.get("custom" if custom else "function") or {}
            call_id, signature = delta.get("id") or new_id("call_"), signatures.signature_of(delta)
            if signature:  # its reasoning item goes first, as in the whole answer
                self._whole(signatures.item(new_id("rs_"), call_id, signature), out)
            call = _Call(self._next_index(), call_id, fn.get("name") or "", custom, signature)
            self.calls[index] = call
            out.append(self._event("response.output_item.added", output_index=call.index, item=call.item("in_progress")))
        fn = delta.get("custom" if call.custom else "function") or {}
        args = fn.get("input" if call.custom else "arguments")
        if isinstance(args, str) and args:
            call.args.append(args)
            kind = "response.custom_tool_call_input.delta" if call.custom else "response.function_call_arguments.delta"
            out.append(self._event(kind, item_id=call.item_id, output_index=call.index, delta=args))

    def _close_calls(self, out: list[bytes]) -> None:
        for call in sorted(self.calls.values(), key=lambda c: c.index):
            item = call.item()
            if call.custom:
                out.append(self._event("response.custom_tool_call_input.done", item_id=call.item_id,
                                       output_index=call.index, input=item["input"]))
            else:
                out.append(self._event("response.function_call_arguments.done", item_id=call.item_id,
                                       output_index=call.index, name=call.name, arguments=item["arguments"]))
            out.append(self._event("response.output_item.done", output_index=call.index, item=item))
            self.items.append((call.index, item))
            self.done_calls.append(call)
        self.calls.clear()

    def _output(self) -> list[dict[str, Any]]:
        return [item for _, item in sorted(self.items, key=lambda pair: pair[0])]

    def finish(self) -> bytes:
        out: list[bytes] = []
        self._close_text(out)
        self._close_calls(out)
        self.turn.answer = answered("".join(self.all_text) or None,
                                    [chat_call(c.call_id, c.name, "".join(c.args) or ("" if c.custom else "{}"), c.custom,
                                               c.signature) for c in self.done_calls], self.reasoning, self.thinking)
        final = self._response("completed", self._output(), usage_of(self.usage))
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        out.append(self._event(kind, response=final))
        return b"".join(out)

    def error(self, err: GatewayError) -> bytes:
        head = b"" if self.started else self.feed(b'data: {}\n\n')  # response.created comes first
        failed = self._response("failed", self._output(), usage_of(self.usage))
        # response.error.code is one of OpenAI's few; the error event before it has the gateway's own
        failed["error"] = {"code": "rate_limit_exceeded" if err.status == 429 else "server_error",
                           "message": err.message}
        return (head + self._event("error", code=err.code or err.type, message=err.message, param=err.param)
                + self._event("response.failed", response=failed))
