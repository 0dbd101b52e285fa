"""The classifier on agent traffic: Claude Code (Anthropic Messages) and Codex CLI (OpenAI
Responses) wrap the person's short request in a long system prompt, reminder blocks, AGENTS.md
and environment messages and their own tool steps. The task must be the person's
(gateway/routing/harness.py, docs/classifier.md "Agent traffic").

The fixture (tests/agent_fixture.py, tests/data/agent_tasks.jsonl) is measured only: nothing is
trained or tuned on it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.routing.classify import TASKS, classify
from gateway.routing.harness import strip_reminders, user_view
from tests.agent_fixture import labelled, prompts
from tests.test_classify import _macro_f1

# Measured with weights 2026-12-07.1 and 2026-12-07.3: macro-F1 0.87 on the fixture (it was 0.59 before the
# harness view, when 13 of 25 chat requests were called code or summarization). The floor leaves
# room for a retrain to move a few of the 96 rows, not for the agent prompt to take over again.
AGENT_FLOOR = 0.82
PER_CLIENT_FLOOR = 0.78


def test_fixture_covers_every_task_and_both_clients() -> None:
    rows = labelled()
    assert Counter(label for _, label, _ in rows).keys() == set(TASKS)
    assert min(Counter((label, client) for _, label, client in rows).values()) >= 8
    # the long parts are there: a request the size of a tweet inside a prompt of thousands of characters
    assert len(prompts()["claude-code"]["main"]) > 4000 and len(prompts()["codex"]["instructions"]) > 4000


def test_agent_fixture_macro_f1() -> None:
    rows = labelled()
    gold = [label for _, label, _ in rows]
    pred = [classify(msgs).task for msgs, _, _ in rows]
    assert _macro_f1(gold, pred) >= AGENT_FLOOR
    for client in ("claude-code", "codex"):
        idx = [i for i, (_, _, c) in enumerate(rows) if c == client]
        assert _macro_f1([gold[i] for i in idx], [pred[i] for i in idx]) >= PER_CLIENT_FLOOR, client


def _claude_code(request: str) -> list[dict]:
    """A Claude Code request as the gateway's Messages translator makes it canonical."""
    from gateway.inbound.anthropic.request import to_canonical

    p = prompts()["claude-code"]
    reminder = p["reminder"].format(memory=p["memory"]["billing"].format(cwd="/src/app"), date="2026-12-06")
    body = {"model": "auto", "max_tokens": 1000,
            "system": [{"type": "text", "text": p["identity"]}, {"type": "text", "text": p["main"]}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": reminder},
                                                      {"type": "text", "text": request}]},
                         {"role": "system", "content": p["agents"]}]}
    return to_canonical(body)["messages"]


@pytest.mark.parametrize(("task", "request_text"), [
    ("simple_chat", "hi"),
    ("simple_chat", "thanks, that did it!"),
    ("code_generation", "why does GET /api/users/42 return 404 after the last deploy"),
])
def test_short_request_inside_agent_prompt_is_the_persons(task: str, request_text: str) -> None:
    msgs = _claude_code(request_text)
    assert classify(msgs).task == task
    assert classify(msgs).task == classify([{"role": "user", "content": request_text}]).task


def test_reminders_are_cut_from_the_request() -> None:
    block = "<system-reminder>\nToday's date is 2026-12-06.\n</system-reminder>\n"
    assert strip_reminders(block + "\nfix the lint errors") == "fix the lint errors"
    assert strip_reminders("fix the lint errors\n" + block) == "fix the lint errors"
    assert strip_reminders(block + block + "hi") == "hi"
    assert strip_reminders("<system-reminder> never closed") == ""
    # a reminder in the middle of pasted text is the person's material: left alone
    middle = "see the log:\n" + block + "what happened?"
    assert strip_reminders(middle) == middle


def test_user_view_moves_harness_messages_to_context() -> None:
    msgs = [
        {"role": "developer", "content": "<permissions instructions>sandboxed</permissions instructions>"},
        {"role": "user", "content": [{"type": "text", "text": "# AGENTS.md instructions for /src\n\nuse ruff"}]},
        {"role": "user", "content": [{"type": "text", "text": "<environment_context>\n<cwd>/src</cwd>\n</environment_context>"}]},
        {"role": "user", "content": [{"type": "text", "text": "what's the capital of australia"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "<system-reminder>\nThe todo list is empty.\n</system-reminder>"},
    ]
    view = user_view(msgs)
    assert [m["role"] for m in view] == ["system", "system", "system", "user", "assistant", "tool", "system"]
    assert view[3] is msgs[3]  # the person's message is not copied
    plain = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "<b>bold</b> in html?"}]
    assert user_view(plain) is plain  # nothing of a harness: the same list
    # the person's request, not the agent's reminder after the tool step, is what is classified
    assert classify(msgs).task == classify([msgs[3]]).task == "simple_chat"


def test_agent_steps_after_the_request_do_not_make_it_a_follow_up() -> None:
    from gateway.routing.features import extract_features

    request = {"role": "user", "content": "fix the failing test in tests/test_auth.py"}
    step = [{"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "E   assert 422 == 200\n1 failed in 0.8s"}]
    strong, _ = extract_features([request, *step])
    assert "#followup" not in strong and "#turns0" in strong and "#tools" not in strong
    assert "#ends_tool" in strong and "#after#fix" in strong  # the agent's steps are the request's material
