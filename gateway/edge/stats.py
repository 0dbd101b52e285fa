"""The edge's counters for /metrics: connections open, shed and refused, per worker.

Kept apart from `gateway.observe.metrics.Metrics` (the per-request series): the protocol counts before
any app or config exists, and the /metrics handler appends these lines to the app's.
"""

from __future__ import annotations

from gateway.observe.metrics import Counter, Gauge


class EdgeStats:
    def __init__(self) -> None:
        self.open = Gauge("gateway_connections_open", "Client connections open in this worker.", ())
        self.limit = Gauge("gateway_connections_limit", "Client connections this worker keeps at most "
                           "(server.max_connections, lowered to fit the open-file limit).", ())
        self.shed = Counter("gateway_connections_shed_total", "Connections closed or refused because the worker "
                            "was at its connection limit: how=shed_idle (the longest-waiting connection without "
                            "a request was closed) or refused (503, every connection had a request).", ("how",))
        self.refused = Counter("gateway_edge_closed_total", "Connections the edge answered with an error or "
                               "closed: idle, header_timeout, request_timeout (body), header_too_large, too_many_headers, "
                               "bad_request.", ("reason",))

    def render(self, worker: str, open_: int, limit: int) -> str:
        self.open.set((), open_)
        self.limit.set((), limit)
        return "".join(line for metric in (self.open, self.limit, self.shed, self.refused)
                       for line in metric.render(worker))
