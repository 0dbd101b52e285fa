"""scripts/augment_rows.py (human-style noised copies of training rows) and the origin-aware CV of
the training scripts (``--augment``): a copy is never trained on while its origin row is tested.

Inline rows written for this test; no data files, no network."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import augment_rows as A  # noqa: E402

CODE = "```python\ndef Total(Items):\n    return sum(i.Price for i in Items)  # Please keep this.\n```"
TRACE = ('Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n'
         "    Main()\nNameError: name 'Main' is not defined")
DOC = ("The Harbour Line is a ferry service that has crossed the bay since 1911. It runs every twenty minutes "
       "in summer and every forty in winter, stops at four piers and carries about two million people a year. "
       "Its oldest boat, the Marigold, was rebuilt in 1987 and still sails on weekends.")


def user(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}], "label": "code_generation", "source": "test"}


def last(row: dict) -> str:
    return row["messages"][-1]["content"]


def rows_out(rows: list[dict], kinds: tuple[str, ...] = A.KINDS, copies: int = 2, seed: int = 18) -> list[dict]:
    return A.augment_file("realistic_train", rows, kinds, copies, seed)


ROWS = [
    user("Hello! Could you please fix this function? It returns the wrong total, thanks.\n\n" + CODE),
    user("Why does my script crash here? I would like you to explain the error.\n\n" + TRACE),
    {**user("Please summarize this article for my manager. Keep it short.\n\n" + DOC), "label": "summarization"},
    {**user("Thanks!"), "label": "simple_chat"},
    {**user("What is the capital of Australia, and when did it become the capital?"), "label": "simple_chat"},
]


def test_deterministic_with_a_seed_and_each_copy_names_its_origin() -> None:
    a, b, other = rows_out(ROWS), rows_out(ROWS), rows_out(ROWS, seed=19)
    assert a == b and a != other
    for row in a:
        origin = ROWS[row["origin"]["index"]]
        assert row["origin"]["file"] == "realistic_train"
        assert row["label"] == origin["label"] and row["augment"]
        assert row["messages"] != origin["messages"]  # a copy that changed nothing is not written
    # at most `copies` per row, never two equal ones
    per_row = [sum(r["origin"]["index"] == i for r in a) for i in range(len(ROWS))]
    assert max(per_row) <= 2
    assert len({str(r["messages"]) for r in a}) == len(a)


@pytest.mark.parametrize("kind", A.KINDS)
def test_code_and_pasted_material_are_never_noised(kind: str) -> None:
    for seed in range(30):
        for row in rows_out(ROWS[:3], kinds=(kind,), seed=seed):
            text = last(row)
            material = (CODE, TRACE, DOC)[row["origin"]["index"]]
            assert material in text, (kind, text)


def test_each_kind_noises_the_instruction_as_a_person_types() -> None:
    rng = random.Random(1)
    style = A.Style(lower_all=True, commas=True, apostrophes=True, typo_rate=1.0)
    assert A.case("Where is Sydney's Opera House?", style, rng, True) == "where is sydney's opera house?"
    assert A.punct("Hi, what's up? Tell me.", style, rng, True) == "Hi whats up? Tell me"
    assert A.polite("Could you please explain recursion in C? Thank you!", style, rng, True) == "explain recursion in C?"
    assert A.polite("Thanks a lot!", style, rng, True) == "Thanks a lot!"  # a thanks stays a thanks
    typoed = A.typo("explain recursion", style, rng, True)
    assert typoed != "explain recursion" and len(typoed.split()) == 2
    assert A.typo("call parse_url() on example.com", style, rng, True).count("parse_url() on example.com") == 1


def test_terse_summary_keeps_the_document_and_swaps_the_instruction() -> None:
    seen = set()
    for seed in range(40):
        text = A.terse("Please summarize this article for my manager. Keep it short.\n\n" + DOC,
                       "summarization", random.Random(seed))
        assert DOC in text and "manager" not in text
        ask = text.replace(DOC, "").strip()
        assert ask in A.TERSE_SUMMARY
        seen.add(text.startswith(DOC))
    assert seen == {True, False}  # the terse ask goes before or after the document
    # a code request keeps its first sentence and its code; a question without material is left alone
    assert A.terse("Fix this function. It returns the wrong total.\n\n" + CODE, "code_generation",
                   random.Random(0)) == "Fix this function.\n\n" + CODE
    question = "What is the capital of Australia? Tell me why."
    assert A.terse(question, "simple_chat", random.Random(0)) == question


def test_split_marks_only_the_instruction_as_prose() -> None:
    pieces = A.split("fix it:\n\n" + TRACE)
    prose = "".join(p for p, is_prose in pieces if is_prose)
    assert "".join(p for p, _ in pieces) == "fix it:\n\n" + TRACE
    assert prose == "fix it:" and "Traceback" not in prose
    # a document first, then the ask at the end
    pieces = A.split(DOC + "\n\n" + DOC + "\n\nwhat is this about?")
    assert [p for p, is_prose in pieces if is_prose] == ["what is this about?"]


# The origin-aware CV (scripts/train_classifier.py, scripts/eval_classifier.py)

def test_copies_share_their_origins_fold_and_other_folds_are_unchanged() -> None:
    pytest.importorskip("sklearn")
    import train_classifier as T

    rows = [{"label": T.TASKS[i % 4], "messages": []} for i in range(40)]
    copies = [{"label": r["label"], "origin": {"file": "realistic_train", "index": i}} for i, r in enumerate(rows)]
    files = ["realistic_train"] * 40 + ["aug"] * 40
    origin = T.origins(rows + copies, files)
    assert origin == [None] * 40 + list(range(40))
    keys = [f + r["label"] for f, r in zip(files, rows + copies)]
    fold = T.folds_with_origins(keys, origin)
    assert fold[:40] == T.folds(keys[:40])  # no augmented rows: the shipped protocol's folds
    assert fold[40:] == fold[:40]
    with pytest.raises(ValueError):  # a copy whose label differs from its origin's
        T.origins(rows + [{**copies[0], "label": T.TASKS[1]}], files[:41])


def test_cv_never_trains_on_a_copy_of_a_tested_row() -> None:
    """Rows whose label only a unique word tells: with the copies trained on while their origins are
    tested, the CV would read the label off the copy; with the exclusion it cannot."""
    pytest.importorskip("sklearn")
    import eval_classifier as E
    import train_classifier as T

    rng = random.Random(5)

    def word(i: int) -> str:
        return "zz" + "".join(chr(97 + (i // 26**k) % 26) for k in range(3))

    target = [{"messages": [{"role": "user", "content": f"tell me about {word(i)} now"}],
               "label": T.TASKS[rng.randrange(4)]} for i in range(60)]
    base = [{"messages": [{"role": "user", "content": f"generic request number {t}"}], "label": t}
            for t in T.TASKS for _ in range(5)]
    # two copies of each row, so that a row's word is in training twice (MIN_DF) when the copies leak
    copies = [{"messages": [{"role": "user", "content": r["messages"][0]["content"] + end}], "label": r["label"],
               "origin": {"file": "realistic_train", "index": i}} for i, r in enumerate(target) for end in ("", " pls")]

    def accuracy(sets: dict[str, list[dict]], scale: dict[str, float] | None) -> float:
        m = E.Bench(sets, None, scale).cv("combined", "realistic_train")
        return m["acc"]

    leaky = accuracy({"realistic_train": target, "dev": base,
                      "extra": [{k: v for k, v in r.items() if k != "origin"} for r in copies]}, None)
    honest = accuracy({"realistic_train": target, "dev": base, "aug": copies}, {"aug": 1.0})
    assert leaky > 0.9
    assert honest < 0.6
