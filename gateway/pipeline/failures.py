"""What one failed upstream attempt means: fall back or stop, and what the breaker hears.

A breaker counts only what says something about the deployment's health: 5xx, timeouts and
connection failures. A provider's 4xx answer is about the request (stop, neutral), except the
ones that are about the operator's set-up: 401/403 (the gateway's provider key) and 404 (the
configured upstream model) make the deployment unusable for a long cooldown and the request
falls back, unless the adapter's caller marked it the request's own (`request_fault`: a 403/404
about a resource the request names, such as a Gemini `cachedContent`). A 429 is the provider's rate limit, not a fault: the deployment is skipped until
its Retry-After and the request falls back. The gateway's own limits (an answer over the read
cap) are neutral. Upstream error codes never reach the client as they are on a 502: the
gateway names its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Breaker
from gateway.providers import UpstreamError

# 5xx that say "unavailable" or "overloaded": several deployments may answer them at once in an
# outage. Any other 5xx seen on two deployments is probably caused by the request itself.
AVAILABILITY_5XX = frozenset({502, 503, 504, 529})


@dataclass(slots=True)
class Verdict:
    fall_back: bool      # try the next candidate (else the failure is the request's answer)
    outcome: str         # what settle tells the breaker: failure | neutral | throttled | disabled
    hold_ms: int = 0     # throttled: skip the deployment this long; disabled: keep it open


def judge(err: UpstreamError, breaker: Breaker) -> Verdict:
    status = err.upstream_status
    if err.request_fault:  # e.g. a Gemini cachedContent the provider's project does not hold
        return Verdict(False, "neutral")
    if status == 0:  # no HTTP answer: connection, timeout, or the gateway's own read cap
        if err.code == "upstream_body_too_large":
            return Verdict(False, "neutral")
        return Verdict(True, "failure")
    if status in (401, 403, 404):
        return Verdict(True, "disabled", breaker.auth_cooldown_ms)
    if status == 429:
        wait_ms = breaker.throttle_ms if err.retry_after_s is None else round(err.retry_after_s * 1000)
        return Verdict(True, "throttled", max(1, min(wait_ms, breaker.max_throttle_ms)))
    if err.retryable:  # 408, 409, 425, 5xx, 529
        return Verdict(True, "failure")
    return Verdict(False, "neutral")


def same_fault_twice(err: UpstreamError, seen: dict[int, str], deployment: str) -> bool:
    """True when another deployment already failed this request with the same non-availability
    5xx: the request is the likely cause, so retrying elsewhere only spreads the damage."""
    status = err.upstream_status
    if status < 500 or status in AVAILABILITY_5XX:
        return False
    first = seen.setdefault(status, deployment)
    return first != deployment


def client_error(err: UpstreamError, provider: str, attempts: int, timed_out: bool) -> tuple[int, str, str, str]:
    """(status, message, type, code) for the client when every attempt failed and `err` was the
    last: no internal address, no upstream code, the provider named."""
    status = err.upstream_status
    if timed_out or err.status == 504:
        return 504, f"All upstream attempts failed ({attempts}); the last, to {provider}, timed out.", \
            "timeout", "upstream_timeout"
    if status == 429:
        return 429, f"Every provider that could serve this request is rate limiting it ({provider} last).", \
            "rate_limit_error", "upstream_rate_limited"
    if status in (401, 403):
        return 502, (f"The provider {provider} rejected the gateway's credentials (HTTP {status}); the "
                     "operator must fix the provider key. No other model could serve the request."), \
            "upstream_error", "provider_auth_failed"
    if status == 404:
        return 502, (f"The provider {provider} does not know the model the gateway is configured to ask for "
                     "(HTTP 404); the operator must fix the upstream model name."), \
            "upstream_error", "upstream_model_not_found"
    what = f"answered HTTP {status}" if status else ("could not be reached" if err.code == "upstream_unreachable"
                                                     else "failed before answering")
    return 502, f"All upstream attempts failed ({attempts}); the last, to {provider}, {what}.", \
        "upstream_error", "upstream_error"
