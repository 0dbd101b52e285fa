"""Step 9, observe: one request's log line and metrics, and the admission gauges.

The request record (`pipeline.record.Call`) is the single source: the decision headers, this log
line and the settle call are all made from it, so they agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.observe.log import RequestLog
from gateway.observe.metrics import Metrics

if TYPE_CHECKING:
    from gateway.config import Deployment
    from gateway.observe.tracing import Tracer
    from gateway.pipeline.record import Call
    from gateway.state.types import Admission


class RequestObserver:
    def __init__(self, metrics: Metrics, request_log: RequestLog, log: Any) -> None:
        self.metrics = metrics
        self.request_log = request_log
        self.log = log
        self.tracer: "Tracer | None" = None  # while tracing is on: the request's spans are queued at finish

    def admission(self, admission: "Admission") -> None:
        m = self.metrics
        m.degraded.set((), 1.0 if admission.degraded else 0.0)
        if admission.degraded:
            return
        m.budget_spent.set((), admission.spent_micro / 1_000_000)
        if admission.budget_remaining_micro >= 0:
            m.budget_remaining.set((), admission.budget_remaining_micro / 1_000_000)
        m.pace_mode.set((), admission.pace_mode)

    def refused(self, reason: str) -> None:
        self.metrics.refusals.inc((reason,))

    def upstream_error(self, dep: "Deployment", code: str) -> None:
        self.metrics.upstream_errors.inc((dep.name, code))

    def provider_rejected(self, dep: "Deployment", status: int, cooldown_s: int) -> None:
        """The provider refused the gateway's own set-up (credentials or model name): the operator
        must act, so it is a log line and a metric, and the breaker keeps the deployment open."""
        self.metrics.provider_rejected.inc((dep.name, dep.provider.name, str(status)))
        self.log.error("provider_rejected_gateway_setup", deployment=dep.name, provider=dep.provider.name,
                       upstream_status=status, cooldown_s=cooldown_s,
                       fix="provider API key" if status in (401, 403) else "upstream model name")

    def finish(self, call: "Call") -> None:
        fields = call.log_fields()
        m = self.metrics
        m.requests.inc((call.route or "-", call.deployment or "-", call.provider or "-", str(call.status)))
        m.latency.observe((call.route or "-", call.deployment or "-"), fields["latency_ms"] / 1000)
        if call.ttft_s is not None:
            m.ttft.observe((call.deployment,), call.ttft_s)
        if call.deployment:
            m.tokens.inc((call.deployment, "in"), call.usage.prompt_tokens)
            m.tokens.inc((call.deployment, "out"), call.usage.completion_tokens)
            labels = (call.deployment, call.provider, call.task or "-")
            m.cost.inc(labels + (call.key,) if m.per_key else labels, call.cost_micro / 1_000_000)
            if call.fallbacks:
                m.fallbacks.inc((call.deployment,), call.fallbacks)
        if call.cache:
            m.cache.inc((call.cache,))
        for verdict, side in ((call.guardrail, "prompt"), (call.output_guardrail, "output")):
            if verdict is not None:
                for detector, count in verdict.found:
                    m.guardrail.inc((detector, verdict.action, side), count)
        fields["worker"] = m.worker
        if call.trace_id:
            call.trace_fields(fields)
            if self.tracer is not None:
                self.tracer.finish(call)
        self.request_log.write(fields)
