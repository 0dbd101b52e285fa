"""The per-worker dependencies of the pipeline, made once in the app's lifespan.

No behaviour lives here: each step is its own object (`Admit`, `Settle`, `RequestObserver`,
the planner, the upstream client) and the handlers reach them through
`request.app.state.gateway`.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from gateway.auth import Authenticator
from gateway.config import Config
from gateway.guard.apply import Guardrails
from gateway.net.upstream import Upstream
from gateway.observe.log import RequestLog, get_logger
from gateway.observe.metrics import Metrics
from gateway.observe.metrics_share import MetricsShare
from gateway.observe.tracing import ExportClient, Tracer
from gateway.observe.request import RequestObserver
from gateway.pipeline.admit import Admit, BudgetClock
from gateway.pipeline.cache import Cache
from gateway.pipeline.keyring import Keyring
from gateway.pipeline.settle import Settle
from gateway.pipeline.tokens import TokenFamilies
from gateway.routing.classify import classify
from gateway.routing.plan import Planner
from gateway.routing.tokstats import TokenStats
from gateway.state.guard import GuardedState

Classifier = Callable[[list[dict[str, Any]]], Any]


class Gateway:
    def __init__(self, config: Config, state: GuardedState, upstream: Upstream,
                 classifier: Classifier = classify) -> None:
        self.config = config
        self.state = state
        self.upstream = upstream
        self.started = time.time()
        self.auth = Authenticator(config.keys, config.admin_key_sha256, config.admin_keys)
        self.keyring = Keyring(self.auth, state)
        self.metrics = Metrics(config.metrics.per_key)
        self.metrics_share = MetricsShare.from_env(self.metrics)
        self.log = get_logger("gateway.request")
        self.observer = RequestObserver(self.metrics, RequestLog(os.environ.get("GATEWAY_LOG_LEVEL", "info")),
                                        self.log)
        self.classifier = classifier
        self.tokstats = TokenStats()
        self.planner = Planner(config, self.tokstats)
        self.families = TokenFamilies()
        self.clock = BudgetClock(config)
        self.admit = Admit(config, state, self.clock, self.observer, self.keyring)
        self.settle = Settle(config, state, self.clock, self.observer)
        self.cache = Cache(config.cache, state, self.observer)
        # tracing on: every request gets a trace (pipeline.chat, embeddings); off: None, and the
        # hot path only looks for a client's traceparent to log its trace id
        self.tracer = (Tracer(config.tracing, self.metrics, ExportClient(upstream, config.tracing.egress))
                       if config.tracing.enabled else None)
        self.observer.tracer = self.tracer
        self.guard = Guardrails.of(config)  # None without `guardrails`: the pipeline skips the step
        if self.guard is not None:  # a runtime key's team may name a policy: the keyring keeps them
            self.keyring.teams = True
            self.guard.teams = self.keyring.team_guardrails
