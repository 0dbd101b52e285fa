"""The classifier on what people type into chatbots: first-turn prompts of OpenAssistant volunteers
(oasst1 prompt lottery), MT-bench's questions (benchmark authors, with 17 second turns) and
Arena-Hard-Auto v0.1's Chatbot Arena user prompts, all Apache-2.0, labelled for this repository by
the label policy (`note` says why on boundary rows: role-play and expository essays are chat,
questions about programming without code are code, trick riddles and planning are reasoning).

tests/data/chatbot_tasks.jsonl (262 rows: chat 123, code 79, reasoning 59, one summary) is
measured only: nothing is trained or tuned on it. It is the writing style the training data has
least of, and the one the classifier does worst on: creative and expository chat called reasoning,
short riddles and programming questions without code called chat.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gateway.routing.classify import classify

FIXTURE = Path(__file__).resolve().parent / "data" / "chatbot_tasks.jsonl"
SCORED = ("simple_chat", "code_generation", "complex_reasoning")  # the classes with enough rows
# Measured with weights 2026-12-07.4: accuracy 0.775, macro-F1 over SCORED 0.774 (chat 0.79, code
# 0.85, reasoning 0.69); 2026-12-07.3 had 0.706 and 0.708. The floors sit under it, to catch a
# retrain that loses more.
ACCURACY_FLOOR = 0.72
MACRO_F1_FLOOR = 0.72


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fixture_is_human_written_and_labelled_per_task() -> None:
    rows = _rows()
    counts = Counter(r["label"] for r in rows)
    assert len(rows) >= 250 and all(counts[t] >= 50 for t in SCORED)
    assert all("(Apache-2.0)" in r["source"] for r in rows)
    assert len({r["messages"][-1]["content"] for r in rows}) == len(rows)  # no duplicates


def test_chatbot_prompts_accuracy_and_macro_f1() -> None:
    rows = _rows()
    gold = [r["label"] for r in rows]
    pred = [classify(r["messages"]).task for r in rows]
    assert sum(g == p for g, p in zip(gold, pred)) / len(rows) >= ACCURACY_FLOOR
    f1 = []
    for t in SCORED:
        tp = sum(g == p == t for g, p in zip(gold, pred))
        wrong = sum((g == t) != (p == t) for g, p in zip(gold, pred))
        f1.append(2 * tp / (2 * tp + wrong))
    assert sum(f1) / len(f1) >= MACRO_F1_FLOOR
