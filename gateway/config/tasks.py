"""The one list of tasks and the one priority ranking: the classifier, the planner, the state
scripts' arguments and the offline tools all import them from here (or from gateway.config)."""

from __future__ import annotations

TASKS = ("simple_chat", "code_generation", "summarization", "complex_reasoning")
# How demanding a task is (higher needs a stronger model): the classifier's low-confidence policy
# and on_uncertain's quality_first tie-break both rank tasks by it.
TASK_TIER = {"simple_chat": 0, "summarization": 1, "code_generation": 2, "complex_reasoning": 2}
PRIORITIES = ("low", "normal", "high", "critical")  # lowest first
# A priority's rank: compares priorities, and is the integer the state scripts receive (admit's
# ARGV: 0 low .. 3 critical).
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
EXPERIMENT_PRIORITIES = PRIORITIES[:-1]  # an experiment's default: every priority but critical
