"""One list of tasks and one priority ranking (gateway/config/tasks.py): everyone who names tasks
or ranks priorities uses those objects, not copies."""

from __future__ import annotations

import re
import subprocess

from gateway.config import model
from gateway.offline.classifier_eval import SHORT
from gateway.offline.trace import DEFAULT_OUTPUT_TOKENS
from gateway.routing import classify, plan
from gateway.state import store, types
from tests.procs import ROOT


def test_one_task_list_and_one_priority_ranking() -> None:
    assert classify.TASKS is model.TASKS and classify.TIER is model.TASK_TIER
    assert types.PRIORITY_LEVELS is model.PRIORITY_RANK is plan.RANK is store.PRIORITY_LEVELS
    assert set(model.TASK_TIER) == set(model.TASKS)
    assert model.PRIORITY_RANK == {"low": 0, "normal": 1, "high": 2, "critical": 3}
    # quality_first's tie-break order, as it was spelled out before being derived from the tiers
    assert model.UNCERTAIN_ORDER == ("simple_chat", "summarization", "code_generation", "complex_reasoning")
    assert model.Experiment("e", 0.1, model.Chain("m")).priorities == {"low", "normal", "high"}
    # tables keyed by task cover exactly the tasks
    assert set(DEFAULT_OUTPUT_TOKENS) == set(SHORT) == set(model.TASKS)


def test_admit_lua_reads_the_same_ranking() -> None:
    """admit.lua's ARGV documents the integers it receives: 0 low .. 3 critical."""
    text = (ROOT / "lua" / "admit.lua").read_text()
    first, first_name, last, last_name = re.search(r"priority \((\d) (\w+) \.\. (\d) (\w+)\)", text).groups()
    assert (model.PRIORITY_RANK[first_name], model.PRIORITY_RANK[last_name]) == (int(first), int(last))
    assert (first_name, last_name) == (model.PRIORITIES[0], model.PRIORITIES[-1])


def test_nobody_else_spells_the_lists_out() -> None:
    found = subprocess.run(["git", "grep", "-n", "-E", r'"simple_chat", "code_generation"|"low": 0|"critical": 3',
                            "--", "gateway/*.py"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert [line for line in found if not line.startswith("gateway/config/tasks.py:")
            and not line.startswith("gateway/simulator/")] == []
