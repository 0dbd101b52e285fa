"""The classifier on application traffic: a short system prompt names the job ("You summarize
support tickets in three bullets.", "You are a SQL generator, answer with a query only.") and the
user turn is only the material or a terse request (docs/classifier.md, "Application system
prompts"; the attempts to read such prompts are in docs/classifier-history.md). The shipped
weights read only the presence of a system prompt (`#system`), so here the request alone decides;
this fixture measures what that costs and keeps it from getting worse.

tests/data/app_tasks.jsonl (88 rows, 22 per task, hard negatives included: a prompt naming one task
while the user asks another, generic prompts such as "You are a helpful assistant.") is measured
only: nothing is trained or tuned on it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gateway.routing.classify import TASKS, classify
from tests.test_classify import _macro_f1

FIXTURE = Path(__file__).resolve().parent / "data" / "app_tasks.jsonl"
# Measured with weights 2026-12-07.1: macro-F1 0.74, 2026-12-07.3: 0.75 (summaries of bare material
# called reasoning or chat, terse SQL / regex / jq requests called chat). The floor sits under it, to
# catch a retrain that loses more.
APP_FLOOR = 0.70


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fixture_covers_every_task_with_hard_negatives() -> None:
    rows = _rows()
    assert len(rows) >= 80
    assert set(Counter(r["label"] for r in rows).values()) == {22}
    assert all(r["messages"][0]["role"] == "system" and len(r["messages"][0]["content"]) < 1000 for r in rows)
    generic = [r for r in rows if r["messages"][0]["content"].startswith("You are a helpful assistant")]
    assert {r["label"] for r in generic} == set(TASKS)


def test_app_fixture_macro_f1() -> None:
    rows = _rows()
    gold = [r["label"] for r in rows]
    pred = [classify(r["messages"]).task for r in rows]
    assert _macro_f1(gold, pred) >= APP_FLOOR
