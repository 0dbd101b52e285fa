"""The typed arguments and answers of the state scripts: what the pipeline sends to admit and
settle and what comes back. Plain dataclasses, so `store` (which sends them) and `commands`
(which pre-encodes them) both depend on this module and never on each other.

The ones built for every request are not frozen: a frozen dataclass's __init__ sets each field
through object.__setattr__, about three times the cost, and nothing mutates them after they are
built. The two that key admit's command cache (BreakerParams, PaceArgs) are frozen, so hashable.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.tasks import PRIORITY_RANK

OUTCOMES = ("success", "failure", "neutral", "throttled", "disabled")


@dataclass(frozen=True, slots=True)
class BreakerParams:
    failures: int = 5            # N failures within window_ms (or N consecutive) trip it
    window_ms: int = 60_000
    cooldown_ms: int = 30_000    # first open period; doubled after each failed probe
    max_cooldown_ms: int = 300_000
    probe_lease_ms: int = 30_000  # the half-open probe's lease; taken over when it expires
    min_sources: int = 1         # distinct sources (API keys, the health probe) needed to trip it


@dataclass(slots=True)
class Failure:
    deployment: str
    breaker_gen: int
    kind: str = "failure"        # anything but "neutral" counts as a failure


@dataclass(slots=True)
class Candidate:
    deployment: str
    rpm: int
    tpm: int
    max_cost_micro: int
    breaker: BreakerParams = BreakerParams()
    expected_cost_micro: int = -1  # ranks candidates when downgrading; -1: use max_cost_micro


@dataclass(frozen=True, slots=True)
class PaceArgs:
    """The daily budget's pace rule, as integers for the script (see lua/lib/pace.lua)."""

    soft_budget_micro: int       # the daily budget; spend past it triggers the at-limit policy
    day_start_us: int            # start of the budget day (its timezone's midnight), epoch µs
    day_len_us: int = 86_400_000_000
    burst_micro: int = 0
    enter_permille: int = 1000
    normal_enter_permille: int = 1250
    exit_permille: int = 900
    at_limit_cheapest: bool = False


PRIORITY_LEVELS = PRIORITY_RANK  # a priority's name -> the integer admit.lua receives


@dataclass(slots=True)
class AdmitRequest:
    req_id: str
    key: str
    key_rpm: int
    key_tpm: int
    key_budget_micro: int
    global_budget_micro: int
    day: str
    est_tokens: int                      # the token reservation: prompt bound + n x output allowance
    candidates: tuple[Candidate, ...]
    failed: tuple[Failure, ...] = ()
    reservation_ttl_ms: int = 600_000
    priority: int = 1                    # PRIORITY_LEVELS
    pace: PaceArgs | None = None
    deadline_us: int = 0                 # engine clock; an admit run later takes nothing ('expired')
    key_id: str = "-"                    # a runtime key's id ("-": a key of the config file)
    key_version: int = 0                 # the worker's cached version of that key's record
    key_old: bool = False                # the request used the secret a rotation replaced
    team: str = ""                       # the key's team ("": none); its limits are read in admit
    key_monthly_micro: int = 0


@dataclass(slots=True)
class Admission:
    ok: bool
    index: int
    reason: str
    retry_after_ms: int
    breaker_gen: int
    probe: bool
    spent_micro: int
    reserved_micro: int
    budget_remaining_micro: int
    skipped: tuple[tuple[str, str], ...]
    duplicate: bool = False      # this req_id was admitted before: the stored decision
    now_us: int = 0              # the engine clock the decision was made at
    downgraded: str = ""         # "" | "pace" | "budget_limit": a cheaper candidate than the first was chosen
    pace_mode: int = 0           # 0 on pace, 1 low downgraded, 2 low+normal downgraded
    pace_ratio_permille: int = 0  # spend / allowance
    degraded: bool = False       # decided in-process because Redis was unreachable


@dataclass(slots=True)
class SettleRequest:
    req_id: str
    key: str
    deployment: str
    provider: str
    model: str
    task: str
    route: str
    day: str
    cost_micro: int
    tokens_in: int
    tokens_out: int
    cached_tokens: int
    outcome: str
    breaker_gen: int
    latency_us: int              # request start to settle; the ledger keeps it (sub-ms answers)
    tpm: int
    key_tpm: int
    force: bool = False          # journal replay of a request admitted while Redis was away
    arm: str = ""                # "experiment:arm" when the request was in an experiment
    hold_ms: int = 0             # throttled: skip the deployment this long; disabled: keep it open
    team: str = ""               # for a forced settle (no reservation): the key's team
    monthly: bool = False        # for a forced settle: a runtime key (counted in the month's hash)
    # what the cost priced beyond in/out/cached, kept on the ledger entry for the audit (0: left off)
    web_searches: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0   # of cache_write_tokens


@dataclass(slots=True)
class SettleResult:
    settled: bool
    status: str                  # settled | unknown | already_settled | released | orphan
    spent_micro: int             # the day's settled spend after this settle
    reserved_micro: int
    now_us: int
    breaker_state: str
    breaker_gen: int
