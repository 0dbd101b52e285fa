"""Admit and settle as ready-to-send RESP commands, with everything static encoded once.

Most of an admit's ~60 keys and arguments (the key's limits and budgets, the day, the pace
rule, each deployment's limits and breaker settings) change only with the config or the day;
per request only the request id, the token estimate and each candidate's costs are new. The
static runs are cached as encoded bytes, so building a command is a join of a dozen pieces.

The result is byte for byte `Scripts.pack(name, *StateStore.admit_call(req))` (a test checks
it), which stays the readable definition of the argument order the scripts expect.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway.state.keys import Keys, admit_scope, month_of, prev_day
from gateway.state.types import AdmitRequest, Candidate, PaceArgs, SettleRequest

_CACHE_LIMIT = 4096


def bulk(value: str | int | bytes) -> bytes:
    """One RESP bulk string (ints in decimal, strings as UTF-8)."""
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = b"%d" % value
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _bulks(values: Any) -> bytes:
    return b"".join(bulk(v) for v in values)


@lru_cache(maxsize=64)
def _prev(day: str) -> str:
    return prev_day(day)


class Commands:
    def __init__(self, keys: Keys, heads: dict[str, bytes], ledger_maxlen: int, retention_s: int) -> None:
        self.k = keys
        self.heads = heads              # "$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" per script
        self.ledger_maxlen = ledger_maxlen
        self.retention_s = retention_s
        self._admit: dict[tuple[Any, ...], tuple[bytes, bytes, bytes, bytes, bytes]] = {}
        self._cand: dict[tuple[Any, ...], tuple[bytes, bytes, bytes]] = {}
        self._settle: dict[tuple[Any, ...], tuple[bytes, bytes, bytes, bytes]] = {}

    # ------------------------------------------------------------------ admit
    def admit(self, req: AdmitRequest) -> bytes:
        n, nf = len(req.candidates), len(req.failed)
        static = (req.key, req.key_rpm, req.key_tpm, req.key_budget_micro, req.global_budget_micro, req.day,
                  req.reservation_ttl_ms, n, nf, req.priority, req.pace, req.key_id, req.key_version, req.key_old,
                  req.team, req.key_monthly_micro)
        parts = self._admit.get(static)
        if parts is None:
            parts = self._admit_static(req, static)
        keys_head, keys_tail, args_a, args_b, args_c = parts
        out = [b"*%d\r\n" % (3 + 16 + 3 * n + nf + 30 + 11 * n + 3 * nf), self.heads["admit"],
               bulk(16 + 3 * n + nf), bulk(self.k.req(req.req_id)), keys_head]
        cands = [self._candidate(c) for c in req.candidates]
        out += [c[0] for c in cands]
        out += [bulk(self.k.breaker(f.deployment)) for f in req.failed]
        out += (keys_tail, bulk(req.req_id), args_a, bulk(req.est_tokens), args_b, bulk(req.deadline_us), args_c)
        for c, (_, head, tail) in zip(req.candidates, cands):
            expected = c.max_cost_micro if c.expected_cost_micro < 0 else c.expected_cost_micro
            out += (head, bulk(c.max_cost_micro), bulk(expected), tail)
        for f in req.failed:
            out += (bulk(f.deployment), bulk(f.breaker_gen), bulk(f.kind))
        return b"".join(out)

    def _admit_static(self, req: AdmitRequest, static: tuple[Any, ...]) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        k, day = self.k, req.day
        p = req.pace or PaceArgs(0, 0)
        parts = (
            _bulks((k.res(), k.resdl(), k.spend(day), k.spend(_prev(day)), k.ledger(), k.key_rpm(req.key),
                    k.key_tpm(req.key))),
            _bulks((k.pace(day), k.pace_events(day), *admit_scope(k, req.key_id, req.team, day))),
            _bulks((req.key, req.key_rpm, req.key_tpm, req.key_budget_micro, req.global_budget_micro, day,
                    _prev(day))),
            _bulks((req.reservation_ttl_ms, req.reservation_ttl_ms + 86_400_000, self.ledger_maxlen,
                    self.retention_s, len(req.candidates), len(req.failed), req.priority, p.soft_budget_micro,
                    p.day_start_us, p.day_len_us, p.burst_micro, p.enter_permille, p.normal_enter_permille,
                    p.exit_permille, int(p.at_limit_cheapest))),
            _bulks((req.key_id, req.key_version, int(req.key_old), req.team or "-", req.key_monthly_micro)),
        )
        if len(self._admit) > _CACHE_LIMIT:
            self._admit.clear()
        self._admit[static] = parts
        return parts

    def _candidate(self, c: Candidate) -> tuple[bytes, bytes, bytes]:
        static = (c.deployment, c.rpm, c.tpm, c.breaker)
        parts = self._cand.get(static)
        if parts is None:
            k, b = self.k, c.breaker
            parts = (_bulks((k.dep_rpm(c.deployment), k.dep_tpm(c.deployment), k.breaker(c.deployment))),
                     _bulks((c.deployment, c.rpm, c.tpm)),
                     _bulks((b.failures, b.window_ms, b.cooldown_ms, b.max_cooldown_ms, b.probe_lease_ms,
                             b.min_sources)))
            if len(self._cand) > _CACHE_LIMIT:
                self._cand.clear()
            self._cand[static] = parts
        return parts

    # ------------------------------------------------------------------ settle
    def settle(self, req: SettleRequest) -> bytes:
        static = (req.key, req.deployment, req.provider, req.model, req.task, req.route, req.day, req.tpm,
                  req.key_tpm, req.force, req.arm, req.team, req.monthly)
        parts = self._settle.get(static)
        if parts is None:
            parts = self._settle_static(req, static)
        keys_rest, args_a, args_b, args_c = parts
        return b"".join((
            b"*45\r\n", self.heads["settle"], b"$2\r\n14\r\n", bulk(self.k.req(req.req_id)), keys_rest,
            bulk(req.req_id), args_a, bulk(req.cost_micro), bulk(req.tokens_in), bulk(req.tokens_out),
            bulk(req.cached_tokens), bulk(req.outcome), bulk(req.breaker_gen), bulk(req.latency_us), args_b,
            bulk(req.hold_ms), args_c, bulk(req.web_searches), bulk(req.cache_write_tokens),
            bulk(req.cache_write_1h_tokens),
        ))

    def _settle_static(self, req: SettleRequest, static: tuple[Any, ...]) -> tuple[bytes, bytes, bytes, bytes]:
        k, day = self.k, req.day
        parts = (
            _bulks((k.res(), k.resdl(), k.spend(day), k.spend(_prev(day)), k.ledger(), k.key_tpm(req.key),
                    k.dep_tpm(req.deployment), k.breaker(req.deployment), k.latency(req.deployment),
                    k.team_tpm(req.team or "-"), k.spend_month(month_of(day)), k.spend_month(month_of(_prev(day))),
                    k.last_use())),
            _bulks((req.key, req.deployment, req.provider, req.model, req.task, req.route, day, _prev(day))),
            _bulks((req.tpm, req.key_tpm, self.ledger_maxlen, self.retention_s, int(req.force), req.arm or "-")),
            _bulks((req.team or "-", int(req.monthly))),
        )
        if len(self._settle) > _CACHE_LIMIT:
            self._settle.clear()
        self._settle[static] = parts
        return parts
