"""`gateway keys|teams|audit-log` tables (gateway/ops/admin_cli.py): the audit log says when and
what changed, money reads as decimals, and `--guardrail` goes into a key's or team's body."""

from __future__ import annotations

from gateway.ops.admin_cli import _key_body, _limits, _table, audit_changes, audit_rows, parser


def test_audit_rows_say_when_and_what_changed() -> None:
    entry = {"id": "1796672239592-0", "ts_us": 1796672239592850, "actor": "ci", "op": "key.update",
             "target": "key_1", "before": {"name": "a", "rpm": "5", "version": "1", "updated_us": "1"},
             "after": {"name": "a", "rpm": "7", "tpm": "100", "version": "2", "updated_us": "2"}}
    row = audit_rows([entry])[0]
    assert row["time"] == "2026-12-07T19:37:19Z"
    assert row["changes"] == "rpm: 5 -> 7, tpm: - -> 100"  # unchanged and bookkeeping fields left out
    assert audit_changes({}, {"name": "a"}) == "name: - -> a" and audit_changes({"name": "a"}, None) == "name: a -> -"


def test_money_cells_are_plain_decimals() -> None:
    table = _table([{"id": "k", "spend": 1.8e-05, "budget": 10.0, "left": None}], ("id", "spend", "budget", "left"))
    assert table.splitlines()[1].split() == ["k", "0.000018", "10.0", "-"]


def test_guardrail_flag_names_a_policy_and_an_empty_one_unsets_it() -> None:
    args = parser().parse_args(["keys", "create", "--name", "ci", "--guardrail", "pii"])
    assert _key_body(args) == {"name": "ci", "guardrail": "pii"}
    args = parser().parse_args(["teams", "update", "red", "--guardrail", ""])
    assert _limits(args) == {"guardrail": None}
    assert "guardrail" not in _limits(parser().parse_args(["teams", "create", "red", "--rpm", "5"]))
