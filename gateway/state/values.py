"""Values as Redis hands them back (bytes or str, or None for a missing field; a counter perhaps
written as "12.0"), read the one forgiving way the operator features need: the admin reads in
`ops.py` and the offline cost audit of the ledger. The hot path decodes in `store.py`, strictly."""

from __future__ import annotations

from typing import Any


def as_text(v: Any) -> str:
    """A stored string; "" for a missing one."""
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def as_int(v: Any) -> int:
    """A counter as stored ("12", b"12", "12.0"); 0 for anything else."""
    try:
        return int(float(as_text(v) or 0))
    except ValueError:
        return 0
