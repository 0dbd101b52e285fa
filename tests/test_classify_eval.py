"""`gateway classifier eval`: the quality figures and the cost of errors in the route's terms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway.routing.classify import classify
from gateway.offline.classifier_eval import evaluate, format_report
from gateway.offline.whatif import load_offline_config
from tests.procs import ROOT

DEMO = ROOT / "configs" / "demo.yaml"
CODE = [{"role": "user", "content": "Write a Python function that merges two sorted lists, with pytest tests."}]
CHAT = [{"role": "user", "content": "hi there! how are you doing today?"}]


def rows() -> list[dict]:
    assert classify(CODE).task == "code_generation" and classify(CHAT).task == "simple_chat"
    return [
        {"messages": CODE, "label": "code_generation"},  # right
        {"messages": CHAT, "label": "simple_chat"},  # right
        {"messages": CODE, "label": "simple_chat"},  # chat sent to the code chain: dearer than needed
        {"messages": CHAT, "label": "complex_reasoning"},  # reasoning sent to the chat model: under quality
        {"messages": CHAT, "label": "no_such_task"},  # skipped
    ]


def test_counts_and_costs_follow_the_routes_chains() -> None:
    config = load_offline_config(DEMO)
    rep = evaluate(rows(), config, "auto")
    assert rep.n == 4 and rep.skipped == 1
    assert rep.cm[0][0] == 1 and rep.cm[1][1] == 1 and rep.cm[0][1] == 1 and rep.cm[3][0] == 1
    # demo.yaml: simple_chat -> deepseek-v4-pro (reasoning quality 0.80 < complex_reasoning's 0.90)
    assert rep.under_quality == 1 and rep.under_saved_micro > 0
    # code -> claude-opus-4.7, far dearer than chat's deepseek-v4-pro
    assert rep.dearer == 1 and rep.dearer_extra_micro > 0
    assert rep.cost_micro - rep.oracle_micro == rep.dearer_extra_micro - rep.under_saved_micro
    p, r, f = rep.prf()[0]
    assert (p, r) == (0.5, 0.5) and f == 0.5
    text = format_report(rep, "auto", "demo.yaml")
    assert "macro-F1" in text and "under the task's min_quality: 1 requests" in text


def test_cli_prints_the_report_and_rejects_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows()) + "\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "gateway.cli", "classifier", "eval", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT)
    out = run(str(data), "--config", str(DEMO))
    assert out.returncode == 0, out.stderr
    assert "4 requests (1 lines skipped" in out.stdout and "confusion" in out.stdout
    assert "dearer model than needed:           1 requests" in out.stdout
    assert run(str(data), "--config", str(DEMO), "--route", "nope").returncode == 2
    assert run(str(tmp_path / "missing.jsonl"), "--config", str(DEMO)).returncode == 2


def test_rows_with_a_source_are_counted_per_source_and_task() -> None:
    config = load_offline_config(DEMO)
    sourced = [dict(r, source=s) for r, s in zip(rows(), ["Dolly (CC BY-SA 3.0) [a:1]", "Dolly (CC BY-SA 3.0) [a:2]",
                                                          "written (CC0)", "MT-bench [q:3]", "written (CC0)"])]
    rep = evaluate(sourced + [{"messages": CHAT, "label": "simple_chat"}], config, "auto")  # no source: total only
    assert rep.n == 5
    assert rep.by_source == {("Dolly", "code_generation"): [1, 1], ("Dolly", "simple_chat"): [1, 1],
                             ("written", "simple_chat"): [0, 1], ("MT-bench", "complex_reasoning"): [0, 1]}
    text = format_report(rep, "auto", "demo.yaml")
    assert "right per source and true task" in text
    assert any(line.split()[:3] == ["MT-bench", "reason", "0/1"] for line in text.splitlines())
    assert "right per source" not in format_report(evaluate(rows(), config, "auto"), "auto", "demo.yaml")
