"""scripts/dolly_rows.py: the fixed rule that turns databricks-dolly-15k rows into training rows.

Inline rows in Dolly's format (written for this test, not copied from Dolly); no network, no data files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import dolly_rows as D  # noqa: E402

PASSAGE = ("The Harbour Line is a ferry service that has crossed the bay since 1911. It runs every twenty "
           "minutes in summer and every forty in winter, stops at four piers and carries about two million "
           "people a year. Its oldest boat, the Marigold, was rebuilt in 1987 and still sails on weekends. ") * 2


def row(instruction: str, category: str, context: str = "") -> dict:
    return {"instruction": instruction, "context": context, "response": "…", "category": category}


def test_chat_categories_are_simple_chat() -> None:
    for cat in D.CHAT:
        assert D.label("Give me three ideas for a rainy Sunday with kids", "", cat) == ("simple_chat", "chat")
    # a question answered from a given passage is chat too (closed_qa, information_extraction)
    assert D.label("When did the Harbour Line start?", PASSAGE, "closed_qa")[0] == "simple_chat"


def test_summarization_needs_a_condense_ask() -> None:
    for ask in ("Summarize this paragraph", "Give me a brief overview of the ferry", "tl;dr please",
                "What are the key points of this text?", "Sum it up in two sentences", "Explain it in 3 bullets",
                "Write a one-line description of this passage", "List the main ideas from the text"):
        assert D.label(ask, PASSAGE, "summarization") == ("summarization", "condense"), ask
    # Dolly files questions over a passage under summarization: the policy calls them chat, so they go
    for question in ("Who built the Marigold?", "What is the Harbour Line?", "Why do people take the ferry?"):
        assert D.label(question, PASSAGE, "summarization") == (None, "summarization without a condense ask")
    # word boundaries: a condenser microphone and a briefcase are not condense asks
    assert D.label("Should I buy a condenser microphone or a dynamic one?", "", "general_qa")[0] == "simple_chat"
    assert D.label("What should I pack in a briefcase?", "", "open_qa")[0] == "simple_chat"


def test_condense_ask_in_a_chat_category_depends_on_the_text_given() -> None:
    assert D.label("Give me a one line summary of the story below:\n\n" + PASSAGE, "", "general_qa") == \
        ("summarization", "condense with text")
    assert D.label("Summarize the plot of Moby-Dick", "", "open_qa") == (None, "condense without text")


def test_code_and_math_are_dropped() -> None:
    assert D.label("Write a Python function that reverses a list", "", "brainstorming")[1] == "code"
    assert D.label("What is the .NET Framework?", "", "open_qa")[1] == "code"
    assert D.label("Summarize this", "```\nprint(1)\n```", "summarization")[1] == "code"
    assert D.label("If a train leaves at 3 and travels 40 km/h for 2.5 hours, calculate the distance", "",
                   "open_qa")[1] == "math"
    assert D.label("What is 17 * 23 + 4?", "", "open_qa")[1] == "math"
    # years and scores are not arithmetic
    assert D.label("Name some great TV shows of the 1970s, 1980s and 1990s", "", "open_qa")[0] == "simple_chat"
    assert D.label("Who won the final, 2-3-2 format or not?", "", "open_qa")[0] == "simple_chat"


def test_convert_joins_both_ways_and_is_deterministic() -> None:
    rows = [row(f"When did boat number {i} join the Harbour Line?", "closed_qa", PASSAGE + str(i)) for i in range(200)]
    rows.append(row("Summarize the text", "summarization", PASSAGE))
    rows.append(row("Who built the Marigold?", "summarization", PASSAGE))
    out, counts, dropped = D.convert(rows, seed="s1", context_first=0.3)
    texts = [r["messages"][0]["content"] for r in out]
    first = sum(t.startswith("The Harbour Line") for t in texts)
    assert 30 <= first <= 90  # about 30% of 201 rows with a context start with it
    assert all("\n\n" in t for t in texts)
    assert counts[("summarization", "kept: summarization")] == 1
    assert [why for _, why, _ in dropped] == ["summarization without a condense ask"]
    assert all(r["source"].startswith("Dolly (CC BY-SA 3.0) [") for r in out)
    assert {r["label"] for r in out} == {"simple_chat", "summarization"}
    # the same rows in another order, or a subset, give each row the same message
    again, _, _ = D.convert(list(reversed(rows)), seed="s1", context_first=0.3)
    assert again == out
    part, _, _ = D.convert(rows[:50], seed="s1", context_first=0.3)
    assert {r["messages"][0]["content"] for r in part} <= set(texts)
    other, _, _ = D.convert(rows, seed="s2", context_first=0.3)
    assert [r["messages"][0]["content"] for r in other] != texts


def test_cap_and_duplicates() -> None:
    rows = [row(f"Name a city on river number {i}", "open_qa") for i in range(30)] + \
           [row("Name a city on river number 3", "open_qa")]
    out, counts, _ = D.convert(rows, cap=10)
    assert len(out) == 10
    assert counts[("open_qa", "dropped: cap")] == 20 and counts[("open_qa", "dropped: duplicate")] == 1
    capped_again, _, _ = D.convert(list(reversed(rows)), cap=10)
    assert capped_again == out


def test_command_line(tmp_path: Path) -> None:
    src = tmp_path / "dolly.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [
        row("Classify each as a fruit or a vegetable: leek, plum", "classification"),
        row("Summarize this in a few lines", "summarization", PASSAGE),
        row("Write a SQL query for the top customers", "brainstorming")]))
    dst = tmp_path / "rows.jsonl"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "dolly_rows.py"), str(src), "-o", str(dst)],
                         capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert sorted(r["label"] for r in rows) == ["simple_chat", "summarization"]
    assert "3 Dolly rows -> 2 training rows" in res.stderr and "dropped: code" in res.stderr


def test_train_classifier_extra_files_join_with_their_weight(tmp_path: Path) -> None:
    """``train_classifier.py --extra FILE[:WEIGHT]``: the rows join the training set under the file's
    stem, with that sample weight (default 1); the default training files keep theirs."""
    import train_classifier as T

    a, b = tmp_path / "dolly_rows.jsonl", tmp_path / "dev.jsonl"
    a.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}], "label": "simple_chat"}) + "\n")
    b.write_text(a.read_text() * 2)
    sets, weights = T.load_extras([f"{a}:2.5", str(b)])
    assert list(sets) == ["dolly_rows", "dev+1"] and weights == {"dolly_rows": 2.5, "dev+1": 1.0}
    rows, w, files = T.training_set({"realistic_train": [{}], **sets}, weights)
    assert w == [T.ROW_WEIGHT["realistic_train"], 2.5, 1.0, 1.0]
    assert files == ["realistic_train", "dolly_rows", "dev+1", "dev+1"]
    assert T.load_extras(None) == ({}, {})


def test_drop_reasoning_removes_chat_rows_that_ask_for_reasoning() -> None:
    ask = "Give me the pros and cons of renting versus buying"
    assert D.label(ask, "", "brainstorming") == ("simple_chat", "chat")
    assert D.label(ask, "", "brainstorming", drop_reasoning=True) == (None, "reasoning ask")
    assert D.label("Plan a three-day trip to Lisbon", "", "creative_writing", drop_reasoning=True)[0] is None
    assert D.label("Which planet is the largest?", "", "open_qa", drop_reasoning=True)[0] == "simple_chat"


def test_no_context_chat_keeps_context_free_chat_and_summaries() -> None:
    rows = [row("When did the Harbour Line start?", "closed_qa", PASSAGE), row("Name three ferries", "brainstorming"),
            row("Summarize the text", "summarization", PASSAGE)]
    out, counts, _ = D.convert(rows, context_chat=False)
    assert sorted(r["label"] for r in out) == ["simple_chat", "summarization"]
    assert counts[("closed_qa", "dropped: chat with a context (--no-context-chat)")] == 1
