"""What the person asked, when an agent client wraps it: the classifier's view of a conversation.

Coding agents put their own text into the conversation beside the user's request, and a
classifier that reads it as the request labels the agent instead of the person:

* Claude Code (Anthropic Messages) puts a ``<system-reminder>`` block (the project's memory file,
  the date) before the user's text in the same message, sends more reminders as user messages
  of their own after tool results, and sends a list of sub-agents as a system message after the
  user's turn;
* Codex CLI (OpenAI Responses) sends a ``developer`` message (permissions), and user messages that
  hold only ``# AGENTS.md instructions ...`` or an ``<environment_context>`` block before the
  request.

:func:`user_view` rewrites the messages so that the last ``user`` message is the last thing a
person wrote: reminder blocks at the start or end of a user message are cut off, a user message
that is only harness text becomes a system message (context, read as the system prompt is), and
``developer`` is read as ``system``. The checks look at the first and last characters of each
user message only, so ordinary traffic pays a few ``startswith`` per user message, and the
input is copied only when something changes.
"""

from __future__ import annotations

from typing import Any

REMINDER_OPEN, REMINDER_CLOSE = "<system-reminder>", "</system-reminder>"
# A user message that starts with one of these is the client's context, not the person's words.
HARNESS_STARTS = ("<environment_context>", "# AGENTS.md instructions", "<user_instructions>",
                  "<permissions instructions>", REMINDER_OPEN)
_FIRST_CHARS = frozenset(s[0] for s in HARNESS_STARTS)
_SYSTEM_ROLES = frozenset({"developer"})
# a str content whose first character is not in HARNESS_HEADS and last not in HARNESS_TAILS has no harness text
HARNESS_HEADS = _FIRST_CHARS | frozenset(" \t\r\n")
HARNESS_TAILS = frozenset("> \t\r\n")


def strip_reminders(text: str) -> str:
    """``text`` without the ``<system-reminder>`` blocks at its start and its end."""
    body = text.lstrip()
    while body.startswith(REMINDER_OPEN):
        end = body.find(REMINDER_CLOSE)
        if end < 0:
            return ""  # an unclosed reminder: all of it is the harness's
        body = body[end + len(REMINDER_CLOSE):].lstrip()
    body = body.rstrip()
    while body.endswith(REMINDER_CLOSE):
        start = body.rfind(REMINDER_OPEN)
        if start < 0:
            break
        body = body[:start].rstrip()
    return body


def _harness_text(text: str) -> str | None:
    """The person's part of a user text: ``text`` itself when nothing is the harness's (the
    common case, decided on its first and last characters), "" when all of it is."""
    head = text[:1]
    if head in _FIRST_CHARS or head.isspace() or text.endswith((">", ">\n", ">\n\n")):
        lead = text.lstrip()
        if lead.startswith(HARNESS_STARTS[:-1]):
            return ""
        if REMINDER_OPEN in text[:64] or text.rstrip().endswith(REMINDER_CLOSE):
            return strip_reminders(text)
    return text


def _user_message(m: dict[str, Any]) -> dict[str, Any] | None:
    """A user message as the classifier sees it: the same dict, a copy without the harness text,
    or None when it holds no words of the person (then it is read as a system message)."""
    c = m.get("content")
    if type(c) is str:
        t = _harness_text(c)
        if t is c:
            return m
        return {**m, "content": t} if t else None
    if type(c) is not list:
        return m
    parts, changed = [], False
    for p in c:
        t = p.get("text") if type(p) is dict else None
        if type(t) is str:
            s = _harness_text(t)
            if s is not t:
                changed = True
                if s:
                    parts.append({**p, "text": s})
                continue
        parts.append(p)
    if not changed:
        return m
    return {**m, "content": parts} if parts else None


def user_view(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``msgs`` with the agent harness's text moved out of the user turns (see the module doc);
    ``msgs`` itself when there is none."""
    out: list[dict[str, Any]] | None = None
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role == "user":
            c = m.get("content")
            if type(c) is str and c[:1] not in HARNESS_HEADS and c[-1:] not in HARNESS_TAILS:
                continue  # the common case, decided without a call
            new = _user_message(m)
            if new is m:
                continue
            if new is None:  # only harness text: context, read like the system prompt
                new = {"role": "system", "content": m.get("content")}
        elif role in _SYSTEM_ROLES:
            new = {**m, "role": "system"}
        else:
            continue
        if out is None:
            out = list(msgs)
        out[i] = new
    return msgs if out is None else out
