"""The training script's private feature copies (train_classifier.PRIVATE, ``--private``; off for
the shipped weights): what only one file's rows show is learnt partly by that file's private copy,
which is not shipped, so the shipped (shared) weight of such a shortcut is smaller than without
the copies. Needs the ``train`` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import train_classifier as T  # noqa: E402


def _rows() -> tuple[list[T.Feats], list[str], list[str]]:
    feats, labels, files = [], [], []
    for i in range(80):
        label = T.TASKS[i % 4]
        word = ("hello", "function", "condense", "prove")[i % 4]
        feats.append(({word, f"w{i % 7}"}, set()))
        labels.append(label)
        files.append("realistic_train")
        # human_train: every summary is long (the shortcut), and says "condense" too
        feats.append(({word, "#len9"} if label == "summarization" else {word, "#len1"}, set()))
        labels.append(label)
        files.append("human_train")
    return feats, labels, files


def test_private_copies_shrink_a_shortcut_seen_in_one_file_only() -> None:
    feats, labels, files = _rows()
    weights = [1.0] * len(feats)
    summ = T.TASKS.index("summarization")
    plain = T.fit(feats, labels, weights, domains=files, private=())
    private = T.fit(feats, labels, weights, domains=files, private=("human_train",))
    shortcut_plain, shortcut_private = plain["weights"]["#len9"][summ], private["weights"]["#len9"][summ]
    assert shortcut_plain > 0 and shortcut_private < 0.75 * shortcut_plain
    # what both files show keeps its shared weight, and no private feature is shipped
    assert private["weights"]["condense"][summ] > 0
    assert set(private["weights"]) <= set(plain["weights"])
    assert len(private["bias"]) == len(T.TASKS)
