"""Spend reports from the per-day counters settle keeps in Redis.

One hash per budget day (the spend key of lua/README.md's key schema) holds
`<metric>:<dim>:<name>` counters for metric in cost (micro-dollars), req, in, out; this module
turns it into rows for the admin API, the `gateway spend` command and the dashboard. It also
names the budget day the operator features read by default (:func:`today`, :func:`day_param`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from gateway.errors import bad_request

if TYPE_CHECKING:
    from starlette.requests import Request

    from gateway.pipeline.context import Gateway

DIMENSIONS = ("key", "model", "provider", "task", "route", "deployment")
METRICS = ("cost", "req", "in", "out")

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def check_day(day: str) -> str:
    """A budget day asked for by a client: `YYYY-MM-DD`, a real date, and far enough from the
    calendar's ends that the day before, the day after and a window of days back exist (the
    readers step across days; at year 1 or 9999 Python's dates overflow). Else a 400."""
    try:
        if _DAY.match(day) and FIRST_DAY <= date.fromisoformat(day) <= LAST_DAY:
            return day
    except ValueError:
        pass
    raise bad_request(f"day must be a date YYYY-MM-DD between {FIRST_DAY} and {LAST_DAY}.", "day")


def today(gw: "Gateway") -> str:
    """The current budget day (the budget's timezone). The one place ops/ asks the gateway for it."""
    return gw.clock.day()


def day_param(request: "Request", gw: "Gateway") -> str:
    """The `day` query parameter, checked, else today's budget day."""
    return check_day(request.query_params.get("day") or today(gw))


@dataclass(frozen=True, slots=True)
class SpendRow:
    name: str
    cost_micro: int
    requests: int
    tokens_in: int
    tokens_out: int

    @property
    def cost_usd(self) -> float:
        return self.cost_micro / 1_000_000

    def as_dict(self) -> dict[str, Any]:
        n = max(1, self.requests)
        return {**asdict(self), "cost_usd": round(self.cost_usd, 6),
                "avg_tokens_in": round(self.tokens_in / n, 1), "avg_tokens_out": round(self.tokens_out / n, 1),
                "cost_per_request_usd": round(self.cost_micro / n / 1_000_000, 8)}


def _decode(raw: dict[Any, Any]) -> dict[str, int]:
    out = {}
    for k, v in raw.items():
        key = k.decode() if isinstance(k, bytes) else k
        try:
            out[key] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def spend_rows(raw: dict[Any, Any], by: str) -> tuple[SpendRow, list[SpendRow]]:
    """The day's total and one row per value of `by`, most expensive first."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {DIMENSIONS}")
    fields = _decode(raw)
    total = SpendRow("total", fields.get("cost:total", 0), fields.get("req:total", 0), fields.get("in:total", 0),
                     fields.get("out:total", 0))
    prefix = f"cost:{by}:"
    rows = []
    for name in {k[len(prefix):] for k in fields if k.startswith(prefix)}:
        rows.append(SpendRow(name, fields.get(f"cost:{by}:{name}", 0), fields.get(f"req:{by}:{name}", 0),
                             fields.get(f"in:{by}:{name}", 0), fields.get(f"out:{by}:{name}", 0)))
    rows.sort(key=lambda r: (-r.cost_micro, r.name))
    return total, rows


def report(raw: dict[Any, Any], day: str, by: str) -> dict[str, Any]:
    total, rows = spend_rows(raw, by)
    fields = _decode(raw)
    return {"day": day, "by": by, "total": total.as_dict(), "rows": [r.as_dict() for r in rows],
            "reserved_micro": fields.get("reserved:total", 0), "orphans": fields.get("orphans:total", 0)}


def format_table(rep: dict[str, Any]) -> str:
    """A plain-text table for terminals."""
    head = (f"{rep['by']:<24} {'cost USD':>12} {'requests':>9} {'avg in':>9} {'avg out':>9} "
            f"{'USD/request':>12}")
    lines = [f"spend on {rep['day']} by {rep['by']}", head, "-" * len(head)]
    for row in [*rep["rows"], {**rep["total"], "name": "TOTAL"}]:
        if row["name"] == "TOTAL":
            lines.append("-" * len(head))
        lines.append(f"{row['name'][:24]:<24} {row['cost_usd']:>12.6f} {row['requests']:>9} "
                     f"{row['avg_tokens_in']:>9.1f} {row['avg_tokens_out']:>9.1f} "
                     f"{row['cost_per_request_usd']:>12.8f}")
    lines.append(f"reserved (in flight): {rep['reserved_micro'] / 1_000_000:.6f} USD")
    return "\n".join(lines)
