"""What a failed attempt means for fallback and for the breaker (gateway.pipeline.failures)."""

from __future__ import annotations

from gateway.config import Breaker
from gateway.pipeline.failures import client_error, judge, same_fault_twice
from gateway.providers import UpstreamError

B = Breaker(auth_cooldown_ms=600_000, throttle_ms=1_000, max_throttle_ms=60_000)


def err(status: int, code: str | None = None, retryable: bool = True, retry_after: float | None = None,
        client: int = 502) -> UpstreamError:
    return UpstreamError(client, "boom at 10.0.0.7:443", "upstream_error", code, retryable, retry_after, status)


def test_deployment_faults_count_and_fall_back() -> None:
    for status in (500, 502, 503, 504, 529, 408):
        v = judge(err(status), B)
        assert (v.fall_back, v.outcome) == (True, "failure"), status
    assert judge(err(0, "upstream_unreachable"), B).outcome == "failure"
    assert judge(err(0, "upstream_timeout", client=504), B).outcome == "failure"


def test_the_requests_own_faults_and_the_gateways_limits_are_neutral() -> None:
    for status in (400, 413, 422):
        v = judge(err(status, retryable=False, client=400), B)
        assert (v.fall_back, v.outcome) == (False, "neutral"), status
    v = judge(err(0, "upstream_body_too_large"), B)
    assert (v.fall_back, v.outcome) == (False, "neutral")


def test_429_is_a_hold_for_its_retry_after_capped() -> None:
    v = judge(err(429, retry_after=30), B)
    assert (v.fall_back, v.outcome, v.hold_ms) == (True, "throttled", 30_000)
    assert judge(err(429), B).hold_ms == 1_000  # no Retry-After: the configured hold
    assert judge(err(429, retry_after=3600), B).hold_ms == 60_000


def test_the_operators_set_up_disables_the_deployment_and_falls_back() -> None:
    for status in (401, 403, 404):
        v = judge(err(status, retryable=False), B)
        assert (v.fall_back, v.outcome, v.hold_ms) == (True, "disabled", 600_000), status


def test_the_same_500_on_two_deployments_is_the_requests_fault() -> None:
    seen: dict[int, str] = {}
    assert not same_fault_twice(err(500), seen, "a")
    assert not same_fault_twice(err(500), seen, "a")  # the same deployment again (a chain retry)
    assert same_fault_twice(err(500), seen, "b")
    seen = {}
    assert not same_fault_twice(err(503), seen, "a") and not same_fault_twice(err(503), seen, "b")  # an outage


def test_client_errors_name_the_provider_never_an_address_or_upstream_code() -> None:
    for e, code, status in ((err(401), "provider_auth_failed", 502), (err(404), "upstream_model_not_found", 502),
                            (err(429, client=429), "upstream_rate_limited", 429),
                            (err(0, "upstream_unreachable"), "upstream_error", 502),
                            (err(0, "upstream_timeout", client=504), "upstream_timeout", 504)):
        got_status, message, _, got_code = client_error(e, "openai", 2, False)
        assert (got_status, got_code) == (status, code)
        assert "openai" in message and "10.0.0.7" not in message
