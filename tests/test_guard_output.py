"""A guardrail policy's `output` on answers: the config, whole answers (canonical and a provider's
own body), and streams through the hold-back (a finding split across frames, text without one,
the end, block, log, tool-call arguments, the order of a choice's parts); which policy applies
to a runtime key and its team; the admin API refusing a policy the config lacks."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest
import yaml

from gateway.config import ApiKey, ConfigError, parse_config
from gateway.errors import GatewayError
from gateway.guard.answer import check_answer
from gateway.guard.apply import Guardrails
from gateway.guard.holdback import HOLD, STEP, HoldBack
from gateway.guard.policy import GuardPolicy
from gateway.guard.scan import Scan
from gateway.guard.stream import GuardedStream
from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.openai_chat import _PassThrough
from gateway.ops.key_fields import key_fields, team_fields
from gateway.pipeline.cache_stream import CollectingEncoder, Collector
from gateway.pipeline.record import Call
from gateway.pipeline.request import parse_chat
from tests.procs import config_yaml

ENV = {"SIMULATOR_API_KEY": "k"}
EMAIL, SECRET = "dana.miller@example.com", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"
GUARDRAILS = {
    "out": {"detect": [], "output": {"detect": ["email", "secret"], "action": "redact"}},
    "out-block": {"detect": [], "output": {"detect": ["secret"], "action": "block"}},
    "out-log": {"detect": ["email"], "action": "redact", "output": {"action": "log"}},
    "prompt-only": {"detect": ["email"]},
}


def config(**top: Any):
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    doc.update(top)
    return parse_config(doc, "cfg.yaml", ENV)


CONFIG = config()


def output(name: str) -> GuardPolicy:
    policy = CONFIG.guardrails[name].output
    assert policy is not None
    return policy


def frame(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None, index: int = 0) -> bytes:
    chunk: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                             "choices": [] if delta is None else [{"index": index, "delta": delta,
                                                                    "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def chunks_of(out: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(f[6:]) for f in out.split(b"\n\n") if f.startswith(b"data: {")]


def text_of(out: bytes, field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks_of(out) if c.get("choices"))


def stream(policy: GuardPolicy, pieces: list[str], call: Call | None = None, encoder: Any = None) -> bytes:
    """`pieces` as a stream's content frames, through a GuardedStream, to the end."""
    g = GuardedStream(encoder if encoder is not None else _PassThrough(), policy, call or Call.start(None))
    out = g.feed(frame({"role": "assistant", "content": ""}))
    for piece in pieces:
        out += g.feed(frame({"content": piece}))
    out += g.feed(frame({}, "stop")) + g.feed(frame(None, usage={"prompt_tokens": 1, "completion_tokens": 2}))
    return out + g.finish()


def split(text: str, at: int, parts: int) -> list[str]:
    """`text` cut into `parts` pieces, the cuts spread over the 24 characters from `at`."""
    cuts = sorted({at + (i + 1) * 24 // parts for i in range(parts - 1)})
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:])]


# --------------------------------------------------------------------------- config
def test_output_takes_the_prompts_detectors_and_action_unless_it_names_its_own() -> None:
    log = CONFIG.guardrails["out-log"]
    assert log.output is not None and log.output.action == "log" and log.output.detectors == ("email",)
    assert output("out").detectors == ("secret", "email") and output("out").action == "redact"
    assert CONFIG.guardrails["out"].detectors == ()  # a policy of answers only
    assert CONFIG.guardrails["prompt-only"].output is None


@pytest.mark.parametrize("mutate, where", [
    (lambda g: g["out"]["output"].update(action="mask"), "guardrails.out.output.action"),
    (lambda g: g["out"]["output"].update(detect=["emails"]), "guardrails.out.output.detect[0]"),
    (lambda g: g["out"]["output"].update(scan=1), "guardrails.out.output.scan"),
    (lambda g: g["out"].update(output="redact"), "guardrails.out.output"),
    (lambda g: g["out"]["output"].update(detect=[]), "guardrails.out.output.detect"),
])
def test_output_config_errors_name_the_path(mutate: Any, where: str) -> None:
    doc = yaml.safe_load(config_yaml(9100, "g"))
    doc["guardrails"] = copy.deepcopy(GUARDRAILS)
    mutate(doc["guardrails"])
    with pytest.raises(ConfigError, match=re.escape(f"cfg.yaml: {where}")):
        parse_config(doc, "cfg.yaml", ENV)


# --------------------------------------------------------------------------- whole answers
def completion(content: str, arguments: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "reasoning_content": f"think {EMAIL}"}
    if arguments is not None:
        message["tool_calls"] = [{"id": "call_1", "type": "function",
                                  "function": {"name": "mail", "arguments": arguments}}]
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def test_a_whole_answer_is_redacted_in_its_text_and_its_tool_arguments_but_not_its_thinking() -> None:
    answer = completion(f"Key {SECRET}, mail {EMAIL}.", orjson.dumps({"to": EMAIL, "n": 2}).decode())
    verdict, native = check_answer(output("out"), answer)
    assert verdict is not None and verdict.answer and verdict.outcome == "redacted" and native is None
    message = answer["choices"][0]["message"]
    assert message["content"] == "Key [SECRET_1], mail [EMAIL_1]."
    assert orjson.loads(message["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_1]", "n": 2}
    assert message["reasoning_content"] == f"think {EMAIL}"  # signed by Claude: never changed
    clean = completion("Nothing to see.")
    assert check_answer(output("out"), clean) == (None, None) and clean == completion("Nothing to see.")


def test_a_providers_own_body_gets_the_same_placeholders_and_signed_thinking_is_left() -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [
        {"type": "thinking", "thinking": f"about {EMAIL}", "signature": "sig"},
        {"type": "text", "text": f"Write to {EMAIL}; key {SECRET}."},
        {"type": "tool_use", "id": "toolu_1", "name": "mail", "input": {"to": EMAIL}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}}
    answer = completion(f"Write to {EMAIL}; key {SECRET}.")
    verdict, native = check_answer(output("out"), answer, orjson.dumps(body))
    assert verdict is not None and native is not None
    got = orjson.loads(native)
    assert got["content"][0] == body["content"][0]
    assert got["content"][1]["text"] == answer["choices"][0]["message"]["content"] == "Write to [EMAIL_1]; key [SECRET_1]."
    assert got["content"][2]["input"] == {"to": "[EMAIL_1]"} and got["id"] == "msg_1"


def test_block_and_log_leave_a_whole_answer_as_it_came() -> None:
    answer = completion(f"Key {SECRET}.")
    verdict, _ = check_answer(output("out-block"), answer)
    assert verdict is not None and verdict.action == "block" and answer == completion(f"Key {SECRET}.")
    err = verdict.error()
    assert (err.status, err.code) == (400, "guardrail_blocked") and SECRET not in err.message
    assert "answer" in err.message
    verdict, _ = check_answer(output("out-log"), completion(f"Mail {EMAIL}."))
    assert verdict is not None and verdict.found == (("email", 1),)


# --------------------------------------------------------------------------- the hold-back
TEXT = "Here you go. " * 25 + f"The key is {SECRET} and mail {EMAIL} today. " + "Bye. " * 70


@pytest.mark.parametrize("parts", [2, 3, 4, 5])
def test_a_secret_split_across_frames_is_redacted(parts: int) -> None:
    at = TEXT.index(SECRET)
    pieces = TEXT[:at].split(" ")  # words, then the secret cut in `parts`, then the rest
    pieces = [w + " " for w in pieces[:-1]] + split(SECRET, 0, parts) + [TEXT[at + len(SECRET):]]
    assert "".join(pieces) == TEXT and sum(SECRET[:8] in p for p in pieces) <= 1
    call = Call.start(None)
    out = stream(output("out"), pieces, call)
    assert text_of(out) == TEXT.replace(SECRET, "[SECRET_1]").replace(EMAIL, "[EMAIL_1]")
    assert b"sk-proj" not in out and b"dana" not in out
    assert call.output_guardrail is not None and call.output_guardrail.found == (("secret", 1), ("email", 1))


def test_text_without_a_finding_passes_byte_identical_and_frames_without_text_untouched() -> None:
    text = "A plain answer, 42 apples at 3.50 each, version 1.2.3, see you. " * 12
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    call = Call.start(None)
    out = stream(output("out"), pieces, call)
    assert text_of(out) == text and call.output_guardrail is None
    g = GuardedStream(_PassThrough(), output("out"), Call.start(None))
    tail = frame({}, "stop") + frame(None, usage={"total_tokens": 3})
    assert g.feed(tail) == tail


def test_the_end_flushes_what_was_held_before_the_finish_and_the_usage() -> None:
    short = f"Short: {SECRET}"
    out = stream(output("out"), [short[i:i + 2] for i in range(0, len(short), 2)])
    chunks = chunks_of(out)
    assert text_of(out) == "Short: [SECRET_1]"
    finish = next(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["finish_reason"])
    last_text = max(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content"))
    assert last_text < finish and "usage" in chunks[-1]
    g = GuardedStream(_PassThrough(), output("out"), Call.start(None))
    body = g.feed(frame({"content": "Mail dana"})) + g.feed(frame({"content": f"{EMAIL[4:]}"}))
    assert text_of(body + g.finish()) == "Mail [EMAIL_1]"  # a stream without a finish: its end


def test_block_ends_the_stream_with_the_clients_error_event_before_any_part_of_the_secret() -> None:
    at = TEXT.index(SECRET)
    pieces = [TEXT[i:i + 4] for i in range(0, len(TEXT), 4)]
    call = Call.start(None)
    g = GuardedStream(_PassThrough(), output("out-block"), call)
    out = b""
    for piece in pieces:
        out += g.feed(frame({"content": piece}))
        if g.blocked:
            break
    assert g.blocked and g.feed(frame({"content": "more"})) == b"" and g.finish() == b""
    assert b"sk-proj" not in out and b'"code":"guardrail_blocked"' in out and out.endswith(b"data: [DONE]\n\n")
    assert TEXT[:at - HOLD] in text_of(out) or at <= HOLD + STEP
    assert call.output_guardrail is not None and call.output_guardrail.outcome == "blocked"


def test_block_in_the_anthropic_encoder_is_its_error_event() -> None:
    chat = AnthropicMessages().parse(orjson.dumps({"model": "m", "max_tokens": 9, "stream": True,
                                                   "messages": [{"role": "user", "content": "hi"}]}))
    out = stream(output("out-block"), [TEXT[i:i + 4] for i in range(0, len(TEXT), 4)],
                 encoder=AnthropicMessages().stream(chat))
    assert b"event: error" in out and b"sk-proj" not in out and b"message_stop" not in out


def test_log_sends_every_frame_as_it_came_and_counts() -> None:
    call = Call.start(None)
    g = GuardedStream(_PassThrough(), output("out-log"), call)
    frames = [frame({"content": TEXT[i:i + 5]}) for i in range(0, len(TEXT), 5)]
    out = b"".join(g.feed(f) for f in frames) + g.finish()
    assert out == b"".join(frames) + b"data: [DONE]\n\n"
    assert call.output_guardrail is not None and call.output_guardrail.found == (("email", 1),)


def test_streamed_tool_arguments_are_redacted_and_stay_json_after_held_text_in_order() -> None:
    g = GuardedStream(_PassThrough(), output("out"), Call.start(None))
    args = orjson.dumps({"to": EMAIL, "body": "x" * 300, "key": SECRET}).decode()
    out = g.feed(frame({"role": "assistant", "content": "Sending now."}))
    out += g.feed(frame({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                          "function": {"name": "mail", "arguments": ""}}]}))
    for i in range(0, len(args), 7):
        out += g.feed(frame({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 7]}}]}))
    out += g.feed(frame({}, "tool_calls")) + g.finish()
    chunks = [c for c in chunks_of(out) if c["choices"]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}     # its text held...
    assert chunks[1]["choices"][0]["delta"] == {"content": "Sending now."}  # ...goes out before the call
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1"
    sent = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks
                   if c["choices"][0]["delta"].get("tool_calls"))
    assert orjson.loads(sent) == {"to": "[EMAIL_1]", "body": "x" * 300, "key": "[SECRET_1]"}


def test_the_cache_collects_the_redacted_answer() -> None:
    collector = Collector()
    stream(output("out"), [TEXT[i:i + 6] for i in range(0, len(TEXT), 6)],
           encoder=CollectingEncoder(_PassThrough(), collector))
    content = collector.completion()["choices"][0]["message"]["content"]
    assert content == TEXT.replace(SECRET, "[SECRET_1]").replace(EMAIL, "[EMAIL_1]")


def test_holdback_sends_nothing_of_a_finding_growing_across_the_line() -> None:
    scan = Scan(output("out").scanner, write=True)
    hb = HoldBack(scan)
    sent = hb.push("a" * (HOLD + STEP - 10) + " sk-proj-Ab3dEf6hIj9kLm2n")  # a key still growing at the line
    assert "sk-" not in sent
    sent += hb.push("Op5qRs8t and more " + "b" * (HOLD + STEP)) + hb.push("", final=True)
    assert sent == "a" * (HOLD + STEP - 10) + " [SECRET_1] and more " + "b" * (HOLD + STEP)


# --------------------------------------------------------------------------- runtime keys and teams
def runtime(guardrail: str | None = None, team: str = "") -> ApiKey:
    return ApiKey(name="key_0123456789abcdef", sha256=b"\0" * 32, key_id="key_0123456789abcdef", team=team,
                  guardrail=guardrail)


def test_the_key_then_its_team_then_the_route_then_the_default() -> None:
    guard = Guardrails(config(default_guardrail="prompt-only"))
    guard.teams = {"red": "out", "open": "none", "gone": "dropped-from-config"}
    name = lambda p: p.name if p else None  # noqa: E731
    assert name(guard.policy(runtime(), "auto")) == "prompt-only"
    assert name(guard.policy(runtime(team="red"), "auto")) == "out"
    assert name(guard.policy(runtime("out-block", team="red"), "auto")) == "out-block"  # the key wins
    assert guard.policy(runtime(team="open"), "auto") is None
    assert name(guard.policy(runtime(team="gone"), "auto")) == "prompt-only"  # unknown now: the next level
    call = Call.start(None)
    guard.apply(call, runtime(team="red"), "auto", {"messages": [{"role": "user", "content": EMAIL}]})
    assert call.output_policy is guard.policies["out"].output and call.guardrail is None  # answers only


def test_the_admin_api_takes_a_known_policy_or_none_and_refuses_others() -> None:
    assert key_fields({"guardrail": "out"}, CONFIG, creating=False) == {"guardrail": "out"}
    assert key_fields({"guardrail": None}, CONFIG, creating=False) == {"guardrail": ""}
    assert team_fields({"id": "t", "guardrail": "none"}, CONFIG, creating=True) == ("t", {"guardrail": "none"})
    for body in ({"guardrail": "nope"}, {"guardrail": 3}):
        with pytest.raises(GatewayError) as info:
            key_fields(body, CONFIG, creating=False)
        assert (info.value.status, info.value.code, info.value.param) == (400, "unknown_guardrail", "guardrail")
    with pytest.raises(GatewayError):
        team_fields({"id": "t", "guardrail": "nope"}, CONFIG, creating=True)


def test_whole_chat_request_parse_round_trip_is_untouched_by_output_policies() -> None:
    raw = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": f"to {EMAIL}"}]})
    chat = parse_chat(raw)
    call = Call.start(None)
    Guardrails(config(default_guardrail="out")).apply(call, runtime(), "auto", chat.body)
    assert chat.body["messages"][0]["content"] == f"to {EMAIL}" and call.output_policy is not None
