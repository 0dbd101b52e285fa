"""`gateway classifier adapt`: the prior-centred refit on an operator's labelled rows
(gateway/offline/adapt_fit.py, classifier_adapt.py). The refit needs numpy and scipy (the train
extra; the test extra carries scipy so these run in CI)."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import orjson
import pytest

from gateway.offline.classifier_cli import main
from gateway.routing.classify import TASKS, WEIGHTS_PATH, _Model, classify, extract_features, load_model
from tests.procs import ROOT

HELDOUT = ROOT / "tests" / "data" / "heldout_tasks.jsonl"
TOPICS = ("the harbour", "my garden", "a birthday", "the new bridge", "our cat", "the weekend", "a bike ride",
          "the museum", "a rainy day", "the library", "my neighbour", "the old train", "a picnic", "the market",
          "a snowman", "the beach", "a kite", "the school play", "the bakery", "a lost key")


def _pattern_rows() -> list[dict]:
    """An operator's convention the shipped model cannot know: "zorblat <topic>" asks for a summary."""
    rows = [{"messages": [{"role": "user", "content": f"zorblat {t} please"}], "label": "summarization"} for t in TOPICS]
    rows += [{"messages": [{"role": "user", "content": f"hi! tell me something nice about {t}"}], "label": "simple_chat"}
             for t in TOPICS[:10]]
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def test_predict_mirrors_classify() -> None:
    pytest.importorskip("scipy")
    from gateway.offline.adapt_fit import predict

    model = load_model(WEIGHTS_PATH)
    for line in HELDOUT.read_bytes().splitlines()[:80]:
        row = orjson.loads(line)
        assert TASKS[predict(model, extract_features(row["messages"]))] == classify(row["messages"]).task


def test_refit_learns_the_pattern_and_leaves_unfired_features_alone() -> None:
    pytest.importorskip("scipy")
    from gateway.offline.adapt_fit import predict, refit

    base = orjson.loads(WEIGHTS_PATH.read_bytes())
    rows = _pattern_rows()
    feats = [extract_features(r["messages"]) for r in rows]
    fitted = refit(base, feats, [r["label"] for r in rows], strength=5.0)
    fired = set().union(*(s | w for s, w in feats))
    # every shipped feature these rows never fire keeps its weight exactly
    untouched = [f for f in base["weights"] if f not in fired]
    assert len(untouched) > 1000 and all(fitted.data["weights"][f] == base["weights"][f] for f in untouched)
    assert fitted.changed > 0 and "zorblat" in fitted.data["weights"]  # a word the vocabulary lacked
    new = [{"role": "user", "content": "zorblat the county fair please"}]
    assert classify(new).task != "summarization"  # the shipped weights get it wrong
    adapted = _Model(fitted.data)
    assert TASKS[predict(adapted, extract_features(new))] == "summarization"
    assert TASKS[predict(adapted, extract_features([{"role": "user", "content": "hi! how was the fair?"}]))] == "simple_chat"


def test_adapt_writes_a_file_the_loader_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("scipy")
    src = _write(tmp_path / "mine.jsonl", _pattern_rows())
    out = tmp_path / "adapted.json"
    # made-up rows that teach one odd word: the held-out drop depends on the base weights, and is
    # not what this test is about (--max-drop 5)
    assert main(["adapt", str(src), "--out", str(out), "--version", "test+adapt", "--max-drop", "5"]) == 0
    report = capsys.readouterr().out
    assert "5-fold cross-validation" in report and "held-out macro-F1 drop" in report
    model = load_model(out)  # raises if the stored hash does not match the content
    data = json.loads(out.read_text())
    base = json.loads(WEIGHTS_PATH.read_text())
    assert model.version == "test+adapt" and model.hash == data["hash"] != base["hash"]
    assert data["adapted"]["base_hash"] == base["hash"] and data["adapted"]["base_version"] == base["version"]
    assert data["adapted"]["rows"] == {"simple_chat": 10, "summarization": 20} and data["adapted"]["strength"] == 5.0
    scores = model.scores(*extract_features([{"role": "user", "content": "zorblat the county fair please"}]))
    assert TASKS[scores.index(max(scores))] == "summarization"


def test_refuses_when_general_traffic_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("scipy")
    # mislabelled rows: held-out requests of every task, all called simple_chat, barely held back
    lines = HELDOUT.read_bytes().splitlines()[::5]
    src = _write(tmp_path / "bad.jsonl", [{**orjson.loads(x), "label": "simple_chat"} for x in lines])
    out = tmp_path / "adapted.json"
    assert main(["adapt", str(src), "--out", str(out), "--strength", "0.05", "--folds", "2"]) == 1
    assert "not written" in capsys.readouterr().out and not out.exists()
    assert main(["adapt", str(src), "--out", str(out), "--strength", "0.05", "--folds", "2", "--force"]) == 0
    assert load_model(out) is not None


def test_without_scipy_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    real = builtins.__import__

    def no_scipy(name, *args, **kw):
        if name.split(".")[0] in ("scipy", "numpy"):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    assert main(["adapt", str(_write(tmp_path / "x.jsonl", _pattern_rows()))]) == 2
    assert "pip install 'gateway[train]'" in capsys.readouterr().out
