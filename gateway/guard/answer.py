"""A policy's `output` on a whole (JSON) answer: read, redacted in place, blocked or counted.

The canonical answer (a chat completion) is what every client API's reply is made from and what
the response cache stores, so redacting its messages (text, refusals, reasoning, tool-call
arguments: a JSON document kept valid, as on the prompt side; not its thinking) covers OpenAI chat, Responses and
legacy completions, and the cache stores the redacted answer. An Anthropic or Gemini client
answered natively (gateway.inbound.base.AnswersNatively) gets the provider's own body: it is read
too, with the same placeholders (one `Scan`), and written again when something was redacted.
Streams are gateway/guard/stream.py's.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.guard.apply import Verdict
from gateway.guard.policy import GuardPolicy
from gateway.guard.scan import Scan, Slot, collect


MESSAGE_TEXT = ("content", "refusal", "tool_calls", "function_call")
"""What an answer's message says to the client. Not its thinking (`reasoning_content`,
`thinking_blocks`): Claude signs it and takes it back only byte for byte."""


def check_answer(policy: GuardPolicy, answer: dict[str, Any], native: bytes | None = None
                 ) -> tuple[Verdict | None, bytes | None]:
    """(what `policy` found in `answer`'s messages and in the provider's own body `native`, that
    body as it now reads). Redacting changes `answer` in place and returns a new `native`; a
    body that is not a JSON object is returned as it came."""
    scan = Scan(policy.scanner, write=policy.action == "redact")
    slots: list[Slot] = []
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            for field in MESSAGE_TEXT:
                if field in message:
                    collect(message[field], slots, message, field)
    doc = None
    if native is not None:
        try:
            doc = orjson.loads(native)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            collect(doc, slots)
    scan.run(slots)
    found = scan.counts()
    if not found:
        return None, native
    if scan.write and isinstance(doc, dict):
        native = orjson.dumps(doc)
    return Verdict(policy.name, policy.action, found, answer=True), native
