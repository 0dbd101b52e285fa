"""Builders for admit/settle requests used across the state tests."""

from __future__ import annotations

import uuid

from gateway.state.store import AdmitRequest, BreakerParams, Candidate, SettleRequest

DAY = "2026-11-30"


def rid() -> str:
    return uuid.uuid4().hex[:12]


def cand(dep: str = "d1", rpm: int = 0, tpm: int = 0, cost: int = 100, **bp) -> Candidate:
    return Candidate(dep, rpm, tpm, cost, BreakerParams(**bp))


def admit_req(req_id: str | None = None, key: str = "demo", key_rpm: int = 0, key_tpm: int = 0,
              key_budget: int = 0, global_budget: int = 0, est: int = 0, cands=None, failed=(),
              ttl_ms: int = 600_000, day: str = DAY) -> AdmitRequest:
    return AdmitRequest(req_id or rid(), key, key_rpm, key_tpm, key_budget, global_budget, day, est,
                        tuple(cands or (cand(),)), tuple(failed), ttl_ms)


def settle_req(req_id: str, key: str = "demo", dep: str = "d1", cost: int = 100, tin: int = 10,
               tout: int = 5, outcome: str = "success", gen: int = 0, tpm: int = 0, key_tpm: int = 0,
               day: str = DAY, latency_us: int = 100_000, cached: int = 0) -> SettleRequest:
    return SettleRequest(req_id, key, dep, "prov", "model-a", "code_generation", "auto", day, cost,
                         tin, tout, cached, outcome, gen, latency_us, tpm, key_tpm)
