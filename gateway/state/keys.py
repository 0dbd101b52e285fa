"""Key-name builders for the shared state (readable with redis-cli).

Every key shares ONE hash tag, the prefix inside braces (`{gw}`), so every script touches a
single slot: the layout works unchanged on a single engine and on Redis Cluster (where all of
it lives on one master). The one exception is the response cache's entries: each script call
touches one of them alone, so they carry no tag and spread over every master; their names
start with the prefix and the entry's scope, so an operator's flush finds them with SCAN MATCH
(`cache_pattern`). Sharding by tenant (`{gw:t:<tenant>}` for budgets and key limits,
`{gw:d:<deployment>}` for breakers and deployment limits, scripts split per slot and sent as
one pipeline) is a later step; only this module and the script composition would change.

This module builds every key name the gateway uses; nothing else spells one out. The schema
(each key's type, fields and lifetime) is written once, in `lua/README.md`, and
`tests/state/test_keys.py` checks that its table names exactly the keys built here.
"""

from __future__ import annotations

import datetime as _dt


def month_of(day: str) -> str:
    """The budget month of a budget day: "YYYY-MM" (the month's hash of its spend)."""
    return day[:7]


def prev_day(day: str) -> str:
    """The budget day before `day` ("YYYY-MM-DD")."""
    return (_dt.date.fromisoformat(day) - _dt.timedelta(days=1)).isoformat()


class Keys:
    __slots__ = ("prefix", "tag")

    def __init__(self, prefix: str = "gw") -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError(f"bad key prefix {prefix!r}")
        self.prefix = prefix
        self.tag = "{" + prefix + "}"

    def spend(self, day: str) -> str:
        return f"{self.tag}:spend:{day}"

    def res(self) -> str:
        return f"{self.tag}:res"

    def resdl(self) -> str:
        return f"{self.tag}:resdl"

    def req(self, req_id: str) -> str:
        return f"{self.tag}:req:{req_id}"

    def ledger(self) -> str:
        return f"{self.tag}:ledger"

    def key_rpm(self, key: str) -> str:
        return f"{self.tag}:rl:key:{key}:rpm"

    def key_tpm(self, key: str) -> str:
        return f"{self.tag}:rl:key:{key}:tpm"

    def dep_rpm(self, deployment: str) -> str:
        return f"{self.tag}:rl:dep:{deployment}:rpm"

    def dep_tpm(self, deployment: str) -> str:
        return f"{self.tag}:rl:dep:{deployment}:tpm"

    def breaker(self, deployment: str) -> str:
        return f"{self.tag}:cb:{deployment}"

    def latency(self, deployment: str) -> str:
        return f"{self.tag}:lat:{deployment}"

    def pace(self, day: str) -> str:
        return f"{self.tag}:pace:{day}"

    def pace_events(self, day: str) -> str:
        return f"{self.tag}:pace:{day}:events"

    def tokstats(self) -> str:
        return f"{self.tag}:tokstats"

    def fold_cursor(self) -> str:
        return f"{self.tag}:fold"

    def lease(self, name: str) -> str:
        return f"{self.tag}:lease:{name}"

    def auth_failures(self, client: str) -> str:
        return f"{self.tag}:authfail:ip:{client}"

    def auth_failures_all(self) -> str:
        return f"{self.tag}:authfail:all"

    # -- the ops features' keys (gateway/state/ops.py): no script touches them --
    def dash_session(self, digest: str) -> str:
        return f"{self.tag}:dash:sess:{digest}"

    def replicas(self) -> str:
        return f"{self.tag}:replicas"

    def tokhist(self) -> str:
        return f"{self.tag}:tokhist"

    def alerts(self) -> str:
        return f"{self.tag}:alerts"

    def dash_series(self, day: str) -> str:
        return f"{self.tag}:dash:spend:{day}"

    def dash_refusals(self, day: str) -> str:
        return f"{self.tag}:dash:refusals:{day}"

    # -- the Responses API's stored turns (lua/response_put.lua, response_get.lua) --
    def responses(self, key: str) -> tuple[str, str]:
        """An API key's stored Responses turns and their expiry index."""
        return f"{self.tag}:resp:{key}", f"{self.tag}:respexp:{key}"

    # -- the exact-match response cache (lua/cache_put.lua, cache_get.lua) --
    def cache(self, scope: str, digest: str) -> str:
        """One cached answer, with no hash tag (entries spread over a cluster's masters): `scope`
        says who may be served it (`key:<id>`, `cfg:<name>`, `team:<t>`, `global`: a flush by
        scope matches it), `digest` (64 hex) hashes the request's deciding fields and the scope,
        so no prompt is readable in the name."""
        return f"{self.prefix}:cache:{scope}:{digest}"

    # -- the Batch API's files and batches (lua/file_put.lua, batch_*.lua; gateway/batch/) --
    def file(self, file_id: str) -> str:
        return f"{self.tag}:file:{file_id}"

    def batch(self, batch_id: str) -> list[str]:
        """A batch's six keys, in the order every batch script takes them (lua/lib/batch.lua):
        record, input lines, 2xx results, other results, chunk leases, the active batches."""
        b = f"{self.tag}:batch:{batch_id}"
        return [b, f"{b}:in", f"{b}:ok", f"{b}:err", f"{b}:lease", self.active_batches()]

    def active_batches(self) -> str:
        """Batches that may have lines to run, by creation time: what the workers poll."""
        return f"{self.tag}:batches:active"

    def batches(self) -> str:
        """Every batch by creation time (the admin list)."""
        return f"{self.tag}:batches"

    def owner_batches(self, owner: str) -> str:
        """One owner's batches (`cfg:<key name>` / `rt:<key id>`) by creation time."""
        return f"{self.tag}:batches:of:{owner}"

    def spend_month(self, month: str) -> str:
        return f"{self.tag}:spendm:{month}"

    def key_record(self, key_id: str) -> str:
        return f"{self.tag}:akey:{key_id}"

    def key_list(self) -> str:
        return f"{self.tag}:akeys"

    def key_index(self) -> str:
        return f"{self.tag}:akeys:idx"

    def team_record(self, team: str) -> str:
        return f"{self.tag}:team:{team}"

    def team_list(self) -> str:
        return f"{self.tag}:teams"

    def team_rpm(self, team: str) -> str:
        return f"{self.tag}:rl:team:{team}:rpm"

    def team_tpm(self, team: str) -> str:
        return f"{self.tag}:rl:team:{team}:tpm"

    def audit(self) -> str:
        return f"{self.tag}:audit"

    def last_use(self) -> str:
        """When each key and team last settled a request (written by settle, same slot)."""
        return f"{self.tag}:lastuse"


def admit_scope(k: Keys, key_id: str, team: str, day: str) -> list[str]:
    """Admit's last keys: the key's record, its team's record and buckets, the months' hashes."""
    t = team or "-"
    return [k.key_record(key_id), k.team_record(t), k.team_rpm(t), k.team_tpm(t), k.spend_month(month_of(day)),
            k.spend_month(month_of(prev_day(day)))]


GLOB_SPECIAL = "\\*?[]"
DIGEST_LEN = 64  # a cache entry's name ends with the hex SHA-256 of its request


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in GLOB_SPECIAL else c for c in text)


def cache_pattern(k: Keys, scope: str | None = None) -> str:
    """A SCAN MATCH pattern for the cache entries of one scope (exactly: the digest is matched as
    64 characters, so scope `key:a` does not match the entries of `key:a:b`), or of every scope."""
    head = _glob_escape(f"{k.prefix}:cache:")
    if scope is None:
        return head + "*"
    return head + _glob_escape(scope) + ":" + "?" * DIGEST_LEN


def cache_scope(k: Keys, name: str) -> str | None:
    """The scope of a cache entry's name (`cache_pattern`'s match); None for another name."""
    head = f"{k.prefix}:cache:"
    if not name.startswith(head) or len(name) < len(head) + DIGEST_LEN + 2 or name[-DIGEST_LEN - 1] != ":":
        return None
    return name[len(head):-DIGEST_LEN - 1]
