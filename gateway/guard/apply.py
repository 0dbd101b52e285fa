"""Which policy a request falls under, and applying it: step 2½ of the pipeline, after the parse
and before the classifier, so the classifier, the cache key and the provider all see the
redacted prompt (and a blocked request costs no classification, no round trip, no call).

Precedence: the key's `guardrail`, else its team's (a runtime key's team, read by the keyring),
else the route's (the route the request's `model` names; `auto` is the default route, or the
embedding route on embeddings), else `default_guardrail`; `none` at a level is no policy. A
config without `guardrails` makes no `Guardrails` at all: the pipeline's only cost is one
attribute check. The policy's `output` (what it does to answers) is left on the request's
record for the relay (gateway/guard/answer.py, gateway/guard/stream.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from gateway.config import ApiKey, Config
from gateway.errors import GatewayError
from gateway.guard.policy import OFF, GuardPolicy
from gateway.guard.scan import NATIVE_CONTENT, Scan, Slot, collect
from gateway.providers.base import NATIVE

OUTCOMES = {"redact": "redacted", "block": "blocked", "log": "logged"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a policy found in one request: never the values, only their kinds and how many."""

    policy: str
    action: str                              # redact | block | log
    found: tuple[tuple[str, int], ...]       # (detector, distinct values), detectors that found any
    answer: bool = False                     # found in the answer (the policy's `output`), not the prompt

    @property
    def outcome(self) -> str:
        """The `x-gateway-guardrail` (or `-output`) header: redacted, blocked or logged."""
        return OUTCOMES[self.action]

    @property
    def detectors(self) -> list[str]:
        return [name for name, _ in self.found]

    def log_field(self) -> dict[str, Any]:
        return {"policy": self.policy, "action": self.outcome, "detectors": self.detectors}

    def error(self) -> GatewayError:
        """The 400 of a blocked request or answer: the kinds found, never the text. An answer's is a
        400 too, not a 5xx: an SDK retries a 5xx, and each retry would be paid for again."""
        kinds = ", ".join(self.detectors)
        if self.answer:
            return GatewayError(400, f"The answer was blocked by the gateway's guardrail policy {self.policy!r}: "
                                f"it contains {kinds}. The model's answer is not shown.",
                                "invalid_request_error", "guardrail_blocked")
        return GatewayError(400, f"The request was blocked by the gateway's guardrail policy {self.policy!r}: it "
                            f"contains {kinds}. Remove them and send it again.",
                            "invalid_request_error", "guardrail_blocked")


class Recorded(Protocol):
    """The request record (gateway.pipeline.record.Call) as the guard writes to it."""

    guardrail: Verdict | None
    output_policy: GuardPolicy | None
    output_guardrail: Verdict | None


def check(policy: GuardPolicy, body: dict[str, Any], embedding: bool = False) -> Verdict | None:
    """Scan a canonical body under `policy` (redacting it in place when the action is redact);
    None when nothing was found."""
    scan = Scan(policy.scanner, write=policy.action == "redact")
    slots: list[Slot] = []
    if embedding:
        collect(body.get("input"), slots, body, "input")
    else:
        collect(body.get("messages"), slots)
        native = body.get(NATIVE)
        own = native.get("body") if isinstance(native, dict) else None
        if isinstance(own, dict):
            for field in NATIVE_CONTENT:
                if field in own:
                    collect(own[field], slots, own, field)
    scan.run(slots)
    found = scan.counts()
    return Verdict(policy.name, policy.action, found) if found else None


class Guardrails:
    """The config's policies, resolved per request."""

    __slots__ = ("policies", "default", "routes", "chat_route", "embedding_route", "teams")

    def __init__(self, config: Config) -> None:
        self.policies = config.guardrails
        self.teams: Mapping[str, str | None] = {}  # team -> its guardrail (the keyring's, kept fresh there)
        self.default = self.policies.get(config.default_guardrail or "")
        self.routes = {name: self.policies.get(route.guardrail) for name, route in config.routes.items()
                       if route.guardrail is not None}
        self.chat_route, self.embedding_route = config.default_route, config.embedding_route

    @classmethod
    def of(cls, config: Config) -> "Guardrails | None":
        return cls(config) if config.guardrails else None

    def policy(self, key: ApiKey, model: str, embedding: bool = False) -> GuardPolicy | None:
        for name in (key.guardrail, self.teams.get(key.team) if key.team else None):
            if name is not None:
                if name == OFF:
                    return None
                policy = self.policies.get(name)
                if policy is not None:
                    return policy  # else a runtime key's or team's policy a new config dropped: the next level
        if model == "auto":
            model = (self.embedding_route if embedding else self.chat_route) or model
        return self.routes.get(model, self.default)

    def apply(self, call: Recorded, key: ApiKey, model: str, body: dict[str, Any], embedding: bool = False) -> None:
        """Check (and redact) the request; a blocked one raises its 400 once the call records why."""
        policy = self.policy(key, model, embedding)
        if policy is None:
            return
        if not embedding:
            call.output_policy = policy.output
        if not policy.scanner.detectors:  # a policy of answers only
            return
        verdict = check(policy, body, embedding)
        if verdict is not None:
            call.guardrail = verdict
            if verdict.action == "block":
                raise verdict.error()
