"""The classifier on human-written documents pasted with a request to condense them.

tests/data/condense_tasks.jsonl (42 rows: 34 summarization, 5 chat, 3 reasoning) is the shippable
part of the measure half of a probe built for issue #18 (docs/classifier.md, Human-written documents
to condense): Aesop's fables (Townsend's translation, Project Gutenberg), letters and speeches of
Lincoln, Douglass and Washington, an 1887 statute, a Supreme Court oral argument (all public domain)
and a Taskmaster-1 dialogue (Google, CC BY 4.0), each with a request written for this repository
(CC0): terse or explicit, with or without a summarize word, bullets, "what is this about",
non-English, before / after / around / in the middle of the document; plus hard negatives on the
same documents (translate, continue the story, "is the argument sound?"). Neither its documents nor
its request wordings are in any training file: the probe's train half uses other documents and
other wordings. Measured only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gateway.routing.classify import classify

FIXTURE = Path(__file__).resolve().parent / "data" / "condense_tasks.jsonl"
TRAIN_HALF = FIXTURE.with_name("condense_train_tasks.jsonl")  # training rows for --extra, other documents
# Measured: weights 2026-12-07.3 and 2026-12-07.4 accuracy 0.810 (34 of 42); .3's summarization
# recall 0.824 (28 of 34); see
# docs/classifier.md for the weights shipped with this fixture. The floors sit under both, to
# catch a retrain that loses more (one row is 2.4 points of accuracy).
ACCURACY_FLOOR = 0.75
SUMMARY_RECALL_FLOOR = 0.75


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fixture_is_human_written_with_a_licence_per_row() -> None:
    rows = _rows()
    counts = Counter(r["label"] for r in rows)
    assert len(rows) >= 40 and counts["summarization"] >= 30 and counts["simple_chat"] >= 3
    assert all(r["source"].endswith(("(public domain)", "(CC BY 4.0)")) for r in rows)
    assert len({r["messages"][-1]["content"] for r in rows}) == len(rows)  # no duplicates


def test_fixture_shares_no_document_with_the_training_half() -> None:
    train_text = TRAIN_HALF.read_text()
    for r in _rows():
        text = r["messages"][-1]["content"]
        middle = text[len(text) // 2 - 30 : len(text) // 2 + 30]  # inside the document, whatever the layout
        assert json.dumps(middle, ensure_ascii=False)[1:-1] not in train_text


def test_condense_requests_accuracy_and_summary_recall() -> None:
    rows = _rows()
    pred = [classify(r["messages"]).task for r in rows]
    assert sum(p == r["label"] for p, r in zip(pred, rows)) / len(rows) >= ACCURACY_FLOOR
    summ = [p for p, r in zip(pred, rows) if r["label"] == "summarization"]
    assert summ.count("summarization") / len(summ) >= SUMMARY_RECALL_FLOOR
