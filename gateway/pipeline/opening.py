"""Opening one attempt's upstream call, the same for every endpoint's `Attempt` (chat, embeddings,
media): with tracing on, the request carries the attempt's span as the provider's parent
(`traceparent`) and the span notes the status that came back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.config import Deployment
from gateway.net.upstream import Opened, Upstream
from gateway.providers import UpstreamError
from gateway.providers.base import UpstreamRequest

if TYPE_CHECKING:
    from gateway.observe.tracing import RequestTrace


async def open_attempt(upstream: Upstream, request: UpstreamRequest, dep: Deployment, deadline: float,
                       trace: "RequestTrace | None") -> Opened | UpstreamError:
    """The opened response (status and headers in, body unread), or the network's error."""
    if trace is not None:
        request.headers = {**request.headers, **trace.upstream_headers()}
    opened = await upstream.open(request, dep.provider.timeouts, deadline, dep.provider.egress)
    if trace is not None and not isinstance(opened, UpstreamError):
        trace.attempt_answered(opened.status)
    return opened
