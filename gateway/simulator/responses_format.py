"""OpenAI Responses API (`POST /v1/responses`), written from the public API docs.

Stateless: `previous_response_id` and `store` are not kept (a 400 names the former), so an
OpenAI-format deployment can be called with the Responses API for single requests. Input items
(messages, function_call, function_call_output, custom_tool_call, custom_tool_call_output,
reasoning; an output must answer an earlier call of its kind, or it is OpenAI's 400),
instructions, function and custom tools (a custom tool is called with plain text:
`custom_tool_call` items and `response.custom_tool_call_input.*` events),
`tool_choice`, `max_output_tokens`, `text.format`; answers as a Response object or its stream
events, each with `sequence_number`. The same request gives the same text as the chat format,
streamed or not.

Reasoning, as a stateless (`store: false`) client of the real API sees it: a request with
`reasoning.effort` (other than "none") gets a reasoning item before its answer, with a summary
when `reasoning.summary` asks for one and `encrypted_content` when `include` has
"reasoning.encrypted_content". The summary says how many reasoning items the input carried back
(so a test sees the round trip). A reasoning item in `input` without encrypted content, or with
content this simulator did not write, is a 400, as the real API answers when it keeps nothing.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .core import Outcome, answer, join_prompt
from .openai_format import error, record_call
from .responses_search import WebSearch, web_search
from .state import SimState
from .text import Ask, Reply, group
from .wire import BadRequest, json_response, non_stream_delay, read_json, sse_event, stream_response


def _texts(content: Any, out: list[str]) -> None:
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        out.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))


OUTPUTS = {"function_call_output": "function_call", "custom_tool_call_output": "custom_tool_call"}
ENCRYPTED = "gAAAA-sim:"  # the prefix of the simulator's (not secret) encrypted reasoning content


def _carried(item: dict[str, Any], where: str) -> None:
    """A reasoning item sent back: usable only with encrypted content this simulator wrote."""
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content:
        raise BadRequest(f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set "
                         "to false. Try again with `store` set to true, or remove this item from your input.", where)
    if not content.startswith(ENCRYPTED):
        raise BadRequest(f"The encrypted content for item {item.get('id')} could not be verified.", where)


def reasoning_item(body: dict[str, Any], rid: str, carried: int) -> dict[str, Any] | None:
    """The answer's reasoning item, when the request asks for reasoning."""
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    effort = reasoning.get("effort")
    if not isinstance(effort, str) or effort == "none":
        return None
    text = f"Reasoned with {effort} effort; {carried} earlier reasoning item(s) carried back."
    item: dict[str, Any] = {"id": "rs_" + rid, "type": "reasoning", "status": "completed",
                            "summary": [{"type": "summary_text", "text": text}] if reasoning.get("summary") else []}
    if "reasoning.encrypted_content" in (body.get("include") or ()):
        item["encrypted_content"] = ENCRYPTED + base64.b64encode(f"{rid}:{effort}".encode()).decode()
    return item


def parse(body: Any) -> tuple[Ask, list[str], bool]:
    """Validate a Responses request; return (ask, prompt texts, stream)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Missing required parameter: 'model'.", "model")
    if body.get("previous_response_id") is not None:
        raise BadRequest("This simulator keeps no responses: previous_response_id is not supported.",
                         "previous_response_id")
    texts: list[str] = []
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items
    if not isinstance(items, list) or not items:
        raise BadRequest("Invalid 'input': expected a string or a non-empty array of items.", "input")
    calls: dict[str, set[str]] = {"function_call": set(), "custom_tool_call": set()}  # call ids so far
    for i, item in enumerate(items):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            _texts(item.get("content"), texts)
        elif kind in calls:
            field = "arguments" if kind == "function_call" else "input"
            if not isinstance(item.get(field), str) or not isinstance(item.get("call_id"), str):
                raise BadRequest(f"Missing required parameter: 'input[{i}].{field}'.", f"input[{i}].{field}")
            texts.append(item[field])
            calls[kind].add(item["call_id"])
        elif kind in OUTPUTS:
            if item.get("call_id") not in calls[OUTPUTS[kind]]:  # an output answers an earlier call
                what = "function call" if kind == "function_call_output" else "custom tool call"
                raise BadRequest(f"No tool call found for {what} output with call_id {item.get('call_id')}.", "input")
            _texts(item.get("output"), texts)
        elif kind == "reasoning":
            _carried(item, f"input[{i}]")
        elif kind == "web_search_call":  # a hosted search sent back with the conversation
            action = item.get("action")
            if isinstance(action, dict) and isinstance(action.get("query"), str):
                texts.append(action["query"])
        else:
            raise BadRequest(f"Invalid value for 'input[{i}].type'.", f"input[{i}].type")
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 16):
        raise BadRequest("Invalid 'max_output_tokens': integer below minimum value 16.", "max_output_tokens")
    tools = [(t["name"], t.get("parameters")) for t in body.get("tools") or ()
             if isinstance(t, dict) and t.get("type") in ("function", "custom") and isinstance(t.get("name"), str)]
    custom = frozenset(t["name"] for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "custom")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = choice.get("name")
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    schema = {"json_object": True, "json_schema": fmt.get("schema") or True}.get(kind) if isinstance(kind, str) else None
    results = _trailing_results(items)
    ask = Ask(model=model, prompt=join_prompt(texts), max_tokens=limit, json_schema=schema, tools=tools,
              tool_choice=choice if isinstance(choice, str) else None, last_is_tool_result=results is not None,
              tool_result=results or "", custom=custom)
    return ask, texts, bool(body.get("stream"))


def _trailing_results(items: list[Any]) -> str | None:
    """The text of the tool outputs that end the input; None when it ends otherwise."""
    texts: list[str] = []
    for item in reversed(items):
        if not isinstance(item, dict) or item.get("type") not in OUTPUTS:
            break
        part: list[str] = []
        _texts(item.get("output"), part)
        texts[:0] = part
    return "\n".join(texts) if isinstance(items[-1], dict) and items[-1].get("type") in OUTPUTS else None


def carried(body: dict[str, Any]) -> int:
    items = body.get("input")
    return sum(1 for i in items if isinstance(i, dict) and i.get("type") == "reasoning") if isinstance(items, list) else 0


def _usage(out: Outcome) -> dict[str, Any]:
    return {"input_tokens": out.prompt_tokens,
            "input_tokens_details": {"cached_tokens": out.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": out.output_tokens, "output_tokens_details": {"reasoning_tokens": out.reasoning_tokens},
            "total_tokens": out.prompt_tokens + out.output_tokens}


def _item(reply: Reply, item_id: str, done: bool = True, search: WebSearch | None = None) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    call = reply.tool_call
    if call is not None and call.custom:
        return {"id": item_id, "type": "custom_tool_call", "status": status, "call_id": call.call_id,
                "name": call.name, "input": call.arguments if done else ""}
    if call is not None:
        return {"id": item_id, "type": "function_call", "status": status, "call_id": call.call_id,
                "name": call.name, "arguments": call.arguments if done else ""}
    notes = [search.citation(reply.text)] if search is not None else []
    content = [{"type": "output_text", "text": reply.text, "annotations": notes, "logprobs": []}] if done else []
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _response(rid: str, body: dict[str, Any], status: str, output: list, usage: Any) -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": int(time.time()), "status": status, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"], "output": output, "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "store": False, "temperature": 1.0, "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice") or "auto", "tools": body.get("tools") or [], "top_p": 1.0,
            "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}


def _events(rid: str, iid: str, body: dict[str, Any], reply: Reply, out: Outcome, seed: int,
            thought: dict[str, Any] | None, search: WebSearch | None) -> list[tuple[bytes, int]]:
    seq = iter(range(1 << 30))

    def event(kind: str, tokens: int = 0, **fields: Any) -> tuple[bytes, int]:
        return sse_event(kind, {"type": kind, "sequence_number": next(seq), **fields}), tokens

    status = "incomplete" if reply.finish == "length" else "completed"
    start = _response(rid, body, "in_progress", [], None)
    events = [event("response.created", response=start), event("response.in_progress", response=start)]
    if thought is not None:  # the reasoning item first, its summary streamed, its encrypted content at the end
        at = {"item_id": thought["id"], "output_index": 0}
        events.append(event("response.output_item.added", output_index=0,
                            item={**thought, "status": "in_progress", "summary": [], "encrypted_content": None}))
        for n, part in enumerate(thought["summary"]):
            empty = {"type": "summary_text", "text": ""}
            events.append(event("response.reasoning_summary_part.added", **at, summary_index=n, part=empty))
            words = part["text"].split(" ")
            for delta in [w + " " for w in words[:-1]] + words[-1:]:
                events.append(event("response.reasoning_summary_text.delta", **at, summary_index=n, delta=delta))
            events.append(event("response.reasoning_summary_text.done", **at, summary_index=n, text=part["text"]))
            events.append(event("response.reasoning_summary_part.done", **at, summary_index=n, part=part))
        events.append(event("response.output_item.done", output_index=0, item=thought))
    index = 0 if thought is None else 1
    if search is not None:  # the search runs before the answer
        events += search.events(event, index)
        index += 1
    where = {"item_id": iid, "output_index": index}
    events.append(event("response.output_item.added", output_index=index, item=_item(reply, iid, done=False)))
    if reply.tool_call is not None and reply.tool_call.custom:
        for part, tokens in group(reply.tool_call.pieces, seed):
            events.append(event("response.custom_tool_call_input.delta", tokens, **where, delta=part))
        events.append(event("response.custom_tool_call_input.done", **where, input=reply.tool_call.arguments))
    elif reply.tool_call is not None:
        for part, tokens in group(reply.tool_call.pieces, seed):
            events.append(event("response.function_call_arguments.delta", tokens, **where, delta=part))
        events.append(event("response.function_call_arguments.done", **where, arguments=reply.tool_call.arguments))
    else:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.append(event("response.content_part.added", **where, content_index=0, part=part))
        for piece, tokens in group(reply.pieces, seed):
            events.append(event("response.output_text.delta", tokens, **where, content_index=0, delta=piece,
                                logprobs=[]))
        notes = [search.citation(reply.text)] if search is not None else []
        for n, note in enumerate(notes):
            events.append(event("response.output_text.annotation.added", **where, content_index=0,
                                annotation_index=n, annotation=note))
        events.append(event("response.output_text.done", **where, content_index=0, text=reply.text, logprobs=[]))
        events.append(event("response.content_part.done", **where, content_index=0,
                            part={**part, "text": reply.text, "annotations": notes}))
    events.append(event("response.output_item.done", output_index=index, item=_item(reply, iid, search=search)))
    output = [*([thought] if thought else []), *([search.item()] if search else []), _item(reply, iid, search=search)]
    final = _response(rid, body, status, output, _usage(out))
    events.append(event("response.completed" if status == "completed" else "response.incomplete", response=final))
    return events


async def responses(request: Request, state: SimState) -> Response:
    """POST /v1/responses."""
    body: Any = None
    try:
        body = await read_json(request)
        ask, texts, stream = parse(body)
    except BadRequest as exc:
        state.record_rejected(body.get("model") if isinstance(body, dict) else None, "openai_responses")
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, ask.model, False, stream, "openai_responses")
    if early is not None:
        return early
    out = answer(ask, texts, knobs, state.seed, "call_")
    reply, rid = out.replies[0], "resp_" + state.next_id()
    iid = ("msg_" if not reply.tool_call else "ctc_" if reply.tool_call.custom else "fc_") + state.next_id()
    thought = reasoning_item(body, rid[5:], carried(body))
    search, out = web_search(body, texts, out, rid)
    if not stream:
        await non_stream_delay(knobs)
        status = "incomplete" if reply.finish == "length" else "completed"
        output = [*([thought] if thought else []), *([search.item()] if search else []), _item(reply, iid, search=search)]
        return json_response(_response(rid, body, status, output, _usage(out)))
    garbage = b"event: response.output_text.delta\ndata: {not json at all\n\n"
    return stream_response(_events(rid, iid, body, reply, out, state.seed, thought, search), knobs, garbage)
