"""Key-name builders for the shared state (readable with redis-cli).

Every key shares ONE hash tag, the prefix inside braces (`{gw}`), so every script touches a
single slot: the layout works unchanged on a single engine and on Redis Cluster (where all of
it lives on one master). Sharding by tenant (`{gw:t:<tenant>}` for budgets and key limits,
`{gw:d:<deployment>}` for breakers and deployment limits, scripts split per slot and sent as
one pipeline) is a later step; only this module and the script composition would change.

Schema (prefix `gw`):

    {gw}:spend:<day>            HASH   per-day counters: cost:total, req:total, in:total, out:total,
                                       cached:total, cost:key:<k>, req:model:<m>, in:task:<t>, ...
                                       (dims: key model provider task route deployment),
                                       reserved:total, reserved:key:<k>, orphans:total;
                                       EXPIRE retention_days. Settle adds cost:total and
                                       cost:key:<k>; fold.lua adds the rest from the ledger
    {gw}:res                    HASH   req_id -> open reservation (JSON: day key amount deadline_us ...)
    {gw}:resdl                  ZSET   req_id scored by reservation deadline (µs, engine clock)
    {gw}:req:<req_id>           HASH   admission record (decision, state admitted/refused/settled/
                                       released/orphan); PX reservation_ttl + 1 day (idempotency)
    {gw}:ledger                 STREAM one entry per settle / orphan / release, MAXLEN ~ ledger_maxlen
    {gw}:fold                   STRING id of the last ledger entry fold.lua added to the counters
    {gw}:rl:key:<k>:rpm         STRING GCRA theoretical arrival time (µs), PX auto
    {gw}:rl:key:<k>:tpm         STRING GCRA TAT for tokens (strict: admit takes the whole
                                       reservation; settle/release refund the unused part), PX auto
    {gw}:rl:dep:<d>:rpm         STRING   "
    {gw}:rl:dep:<d>:tpm         STRING   "
    {gw}:cb:<d>                 HASH   circuit breaker: state gen fails fsrc (the failures' sources)
                                       consec opened_us cooldown_ms probe_id probe_dl_us throttle_us
                                       (a provider 429 holds it until then) + params n window_ms
                                       cooldown0_ms max_cooldown_ms lease_ms min_src
    {gw}:lat:<d>                HASH   latency of successful calls: n sum_ms ewma_ms (alpha 1/8)
    {gw}:tokstats               HASH   n:<model>:<task>, in:<model>:<task>, out:<model>:<task>
    {gw}:lease:<name>           STRING health-probe lease holder, PX ttl
    {gw}:authfail:ip:<address>  HASH   failed admin authentications of one client: n until_us
    {gw}:authfail:all           HASH   the same for every client (lua/admin_auth.lua)
    {gw}:dash:sess:<sha256>     STRING a dashboard session (the SHA-256 of its cookie), PX its TTL
    {gw}:pace:<day>             HASH   pace mode (0 on pace, 1 low downgraded, 2 low+normal),
                                       changed_us, ratio_permille, changes; EXPIRE 2 days
    {gw}:pace:<day>:events      LIST   "<us>:<mode>:<ratio permille>" per mode change (last 200)
    {gw}:resp:<key>             HASH   stored Responses turns of one API key: id -> conversation JSON,
                                       '#bytes' their total (lua/response_put.lua); PX ttl
    {gw}:respexp:<key>          ZSET   their ids scored by expiry (µs, engine clock); PX ttl
"""

from __future__ import annotations

import datetime as _dt


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

    def dash_session(self, digest: str) -> str:
        return f"{self.tag}:dash:sess:{digest}"

    def responses(self, key: str) -> tuple[str, str]:
        """An API key's stored Responses turns and their expiry index."""
        return f"{self.tag}:resp:{key}", f"{self.tag}:respexp:{key}"
