"""The configuration's shape: frozen dataclasses, built once at start-up and never changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.guard.policy import GuardPolicy
from gateway.net.egress import Egress

from gateway.config.routing_model import (  # noqa: F401 (re-exported: the configuration's one namespace)
    UNCERTAIN_BELOW, UNCERTAIN_ORDER, UNCERTAIN_POLICIES, Chain, Experiment, Pool, Route,
)
from gateway.config.batch import BatchSettings  # noqa: F401 (re-exported)
from gateway.config.tasks import EXPERIMENT_PRIORITIES, PRIORITIES, PRIORITY_RANK, TASK_TIER, TASKS  # noqa: F401

WIRE_FORMATS = ("openai", "openai_responses", "azure", "anthropic", "gemini", "bedrock", "bedrock_anthropic",
                "vertex_gemini", "vertex_anthropic")
# What a chat model can take beyond text (`models.<name>.supports`; absent: all of them): image,
# audio and file (PDF, document) input parts, function/custom tools or tool turns, a
# response_format json_schema, server-side web search tools. The planner skips a model lacking one
# a request needs (gateway/routing/needs.py), rather than send it a request it would refuse.
CAPABILITIES = ("vision", "audio", "files", "tools", "json_schema", "web_search")
ALL_CAPABILITIES = frozenset(CAPABILITIES)
# The wire formats with no server-side web search to ask for, and why: a chat model on one never
# has `web_search` (its default `supports` leaves it out, and listing it is a config error), so the
# planner never sends it a search request (an OpenAI chat `web_search_options`, a native search
# tool) it would answer without searching. The adapter registry checks this against each
# adapter's capabilities.
NO_WEB_SEARCH = {"bedrock": "Bedrock Converse has no server-side web search tool"}
# The formats whose adapter can send a search tool the provider is not documented to run: a model
# on one lacks `web_search` by default, and has it when its `supports` lists it (the operator's word).
WEB_SEARCH_OPT_IN = {
    "bedrock_anthropic": "Claude on Bedrock is not documented to run Anthropic's web search tool; list "
                         "`web_search` in `supports` if yours does",
}
# The formats whose APIs cache a prompt prefix only where the request marks it (Claude's
# `cache_control`, Converse's `cachePoint`): `prompt_cache: auto` marks it for clients that do not.
# OpenAI's and Gemini's APIs cache prefixes by themselves.
MARKED_CACHE_FORMATS = ("anthropic", "vertex_anthropic", "bedrock_anthropic", "bedrock")
AWS_FORMATS = ("bedrock", "bedrock_anthropic")  # Amazon Bedrock: one region, API key or SigV4 (config/aws.py)
# The wire formats with no embeddings endpoint, and why: a `kind: embedding` model on one is a
# config error (the adapter registry checks this against each adapter's capabilities).
NO_EMBEDDINGS = {
    "openai_responses": "the Responses API has no embeddings; give the embedding model a `format: openai` provider",
    "anthropic": "Anthropic has no embeddings endpoint",
    "vertex_anthropic": "Claude on Vertex AI has no embeddings endpoint; use vertex_gemini",
    "bedrock_anthropic": "Claude on Bedrock has no embeddings endpoint; use a `bedrock` provider's Titan or "
                         "Cohere embedding model",
}
# `models.<name>.kind`: what a model serves. The media kinds are OpenAI's other endpoints, each
# served by the wire formats that have it (MEDIA_FORMATS); a model of a kind its provider's format
# lacks is a config error. `auto` (or no `model`, on moderations) on a media endpoint means the
# route named MEDIA_ROUTES[kind].
MEDIA_KINDS = ("transcription", "speech", "image", "moderation")
KINDS = ("chat", "embedding", *MEDIA_KINDS)
MEDIA_FORMATS = {"openai": frozenset(MEDIA_KINDS), "azure": frozenset({"transcription", "speech", "image"})}
MEDIA_ROUTES = {"transcription": "transcriptions", "speech": "speech", "image": "images", "moderation": "moderations"}


def no_media(fmt: str, kind: str) -> str:
    """Why a `kind: <media kind>` model cannot be on a provider of format `fmt`."""
    if fmt == "azure" and kind == "moderation":
        return ("Azure OpenAI has no moderations endpoint (Azure AI Content Safety is another API); give the "
                "moderation model a `format: openai` provider")
    return (f"format {fmt} has no {kind} endpoint; {kind} models need a provider of format "
            f"{' or '.join(f for f, kinds in MEDIA_FORMATS.items() if kind in kinds)}")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names file, path and value."""


class LeftOut(Exception):
    """An optional provider whose key variable is unset: it is left out with its models."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 5.0
    first_byte_s: float = 60.0
    idle_s: float = 60.0
    total_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Quirks:
    """What one OpenAI-compatible API does differently, kept as data so every provider shares
    one code path (e.g. a server that rejects `stream_options`, or knows only `max_tokens`)."""

    stream_usage: bool = True                  # send stream_options.include_usage on streams
    max_tokens_field: str | None = None        # rename max_tokens / max_completion_tokens to this
    drop_fields: tuple[str, ...] = ()          # request fields the API rejects
    custom_tools: bool = True                  # takes OpenAI's custom (freeform) tools; else as functions
    reasoning_content: bool = False            # takes an assistant message's reasoning_content back (DeepSeek)
    extra_content: bool = False                # takes a tool call's extra_content back (Google's OpenAI API)


class AccessToken:
    """A provider's current OAuth access token, for one that signs in with a service account:
    the worker's refresher (gateway/net/google_auth.py) writes it, the adapter reads it, so no
    request waits for a token exchange."""

    __slots__ = ("value", "expires_at")

    def __init__(self) -> None:
        self.value = ""
        self.expires_at = 0.0  # time.time() seconds; 0: none yet


@dataclass(frozen=True, slots=True)
class Vertex:
    """Where a Google Vertex AI provider's models live, and how it signs in: the access token in
    `api_key_env`, a service-account key exchanged for tokens (`credentials_file`), or the
    tokens of the machine's or pod's own service account from the metadata server
    (`metadata_host` set: GKE workload identity, Compute Engine, Cloud Run)."""

    project: str
    location: str
    credentials_file: str | None = None
    metadata_host: str | None = None
    token: AccessToken = field(default_factory=AccessToken, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AwsAuth:
    """Amazon Bedrock's region, and the AWS credentials its requests are signed with (SigV4) when
    the provider has no Bedrock API key; the secrets are read from the environment, never the file."""

    region: str
    access_key_id: str | None = field(repr=False, default=None)
    secret_access_key: str | None = field(repr=False, default=None)
    session_token: str | None = field(repr=False, default=None)


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    format: str
    base_url: str
    api_key_env: str | None
    api_key: str | None = field(repr=False, default=None)
    headers: tuple[tuple[str, str], ...] = ()
    api_version: str | None = None
    timeouts: Timeouts = Timeouts()
    max_retries: int = 1
    quirks: Quirks = Quirks()
    egress: Egress = field(repr=False, default=Egress())  # proxy, CA bundle, connection cap (gateway/net/egress.py)
    aws: AwsAuth | None = None  # the AWS_FORMATS only
    vertex: Vertex | None = None  # the vertex_* formats' project, location and sign-in


@dataclass(frozen=True, slots=True)
class Price:
    """Prices in integer micro-dollars per million tokens (USD 2.50/M → 2_500_000)."""

    input: int
    output: int
    cached_input: int
    reasoning: int | None = None
    cache_write: int | None = None  # a prompt token written to the provider's cache; None: `input`
    cache_write_1h: int | None = None  # one written for an hour; None: `cache_write`
    # A server-side web search (Anthropic's web search tool, OpenAI's `web_search_call`, Gemini's
    # Google Search grounding), billed per call on top of tokens: micro-dollars per 1,000 calls.
    web_search: int = 0
    web_search_per_request: bool = False  # Gemini 2.x: one charge per grounded prompt, whatever its queries
    # OpenAI's chat `*-search-*` models search for every request and their answers carry no count:
    # `web_search_unit: request` on a chat-completions provider charges one search per answer
    web_search_every_request: bool = False
    # The media kinds' own units (gateway/config/media.py), in micro-dollars: a minute of audio
    # transcribed, a million characters spoken, one image by "quality/size", "size", "quality" or
    # "" (flat), and a flat fee per request of any media kind.
    per_minute: int = 0
    per_million_chars: int = 0
    per_image: tuple[tuple[str, int], ...] = ()
    per_request: int = 0


@dataclass(frozen=True, slots=True)
class Guardrail:
    """An Amazon Bedrock guardrail every Converse or InvokeModel call of a deployment is checked by
    (`models.<name>.bedrock.guardrail`): set by the operator, not by each client."""

    identifier: str  # the guardrail's id or ARN
    version: str  # a version number, or DRAFT
    trace: str | None = None  # enabled | disabled | enabled_full; None: Bedrock's default (disabled)
    stream_processing_mode: str | None = None  # streams: sync | async; None: Bedrock's default (sync)


@dataclass(frozen=True, slots=True)
class Deployment:
    """A concrete model reachable through one provider; the unit of routing and of state."""

    name: str
    provider: Provider
    upstream: str
    price: Price
    context_window: int
    max_output_tokens: int
    rpm: int
    tpm: int
    quality: tuple[tuple[str, float], ...] = ()
    kind: str = "chat"
    guardrail: Guardrail | None = None  # `format: bedrock` / `bedrock_anthropic` only
    # `models.<name>.bedrock.latency`: optimized | standard; None: Bedrock's default (standard).
    # Converse's `performanceConfig.latency`, InvokeModel's X-Amzn-Bedrock-PerformanceConfig-Latency
    latency: str | None = None
    supports: frozenset[str] = ALL_CAPABILITIES  # `models.<name>.supports`: CAPABILITIES it takes
    prompt_cache: bool = False  # `models.<name>.prompt_cache: auto`: the adapter marks cache breakpoints


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    sha256: bytes = field(repr=False)
    rpm: int = 0
    tpm: int = 0
    daily_budget_micro: int = 0
    allowed_models: frozenset[str] = frozenset()
    priority: str | None = None  # when set, raises (never lowers) the priority of the key's requests
    default_task: str | None = None
    # a runtime key (gateway/pipeline/keyring.py): its record's id (also its name in counters),
    # the record version the worker cached, whether the caller used the secret a rotation
    # replaced, its team, its monthly budget; a key of this file has key_id "-"
    key_id: str = "-"
    version: int = 0
    old: bool = False
    team: str = ""
    monthly_budget_micro: int = 0
    label: str = ""              # a runtime key's human name (its `name` is its id)
    guardrail: str | None = None  # `keys[].guardrail`: a policy's name, "none", or None (the route's, the default)
    # a batch line runs with its owner's key capped at this priority (gateway/batch/runner.py):
    # the planner lowers the request's priority to it, so the pace downgrades batch work first
    priority_cap: str | None = None


@dataclass(frozen=True, slots=True)
class AdminKey:
    """An admin key with a scope: `read` (the admin API's GETs, the dashboard) or `write`
    (also creating, changing and revoking keys and teams). `admin_key_sha256` is a write key."""

    name: str
    sha256: bytes = field(repr=False)
    scope: str = "read"


@dataclass(frozen=True, slots=True)
class Breaker:
    failures: int = 5
    window_ms: int = 30_000
    cooldown_ms: int = 10_000
    max_cooldown_ms: int = 300_000
    probe_lease_ms: int = 30_000
    min_sources: int = 2              # distinct API keys (or the health probe) whose failures trip it
    auth_cooldown_ms: int = 600_000   # open this long when the provider rejects the gateway's key
    throttle_ms: int = 1_000          # skip a deployment that answered 429 without Retry-After
    max_throttle_ms: int = 60_000     # a Retry-After is honoured up to this


@dataclass(frozen=True, slots=True)
class Pace:
    """When spend runs ahead of the day's allowance, cheaper models take low-priority work first.

    allowance = daily budget x share of the budget day elapsed + burst_share x daily budget;
    low priority downgrades at `enter` x allowance, normal at `normal_enter`, and both return
    below `exit` (hysteresis, so decisions do not flap).
    """

    burst_share: float = 0.05
    enter: float = 1.0
    normal_enter: float = 1.25
    exit: float = 0.9


@dataclass(frozen=True, slots=True)
class Budget:
    daily_micro: int = 0
    timezone: str = "UTC"
    hard_limit_micro: int = 0  # never overshot; defaults to the daily budget
    pace: Pace = Pace()
    # Past the daily budget, per priority: keep serving on the cheapest candidate (up to the hard
    # limit) or refuse with 429 budget_exceeded.
    at_limit: tuple[tuple[str, str], ...] = (("low", "refuse"), ("normal", "refuse"), ("high", "cheapest"),
                                             ("critical", "cheapest"))

    def policy_at_limit(self, priority: str) -> str:
        return dict(self.at_limit).get(priority, "refuse")


@dataclass(frozen=True, slots=True)
class Server:
    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 300.0
    attempt_budget: int = 4
    reservation_ttl_s: int = 900
    default_max_output_tokens: int = 4096
    body_read_timeout_s: float = 30.0      # from the end of the headers to the end of the body, every path
    # Limits at the edge, enforced by the HTTP protocol before any handler or auth runs
    # (gateway/edge/limits.py; docs/operations.md "Limits at the edge").
    max_header_bytes: int = 65536          # request line and headers together: 431 beyond
    max_headers: int = 100                 # header lines: 431 beyond
    header_timeout_s: float = 10.0         # from a request's first byte to the end of its headers: 408
    keep_alive_s: float = 5.0              # a connection with no request in progress is closed after this
    max_connections: int = 4096            # per worker; lowered to fit the open-file limit


@dataclass(frozen=True, slots=True)
class Housekeeping:
    """Work one replica does at a time, under a Redis lease: provider health probes that feed
    the breakers, and the token-inflation watch. Every replica registers its config hash."""

    interval_s: float = 15.0
    probe_timeout_s: float = 5.0
    inflation_threshold: float = 0.2
    inflation_recent_s: float = 3600.0
    inflation_baseline_s: float = 86_400.0
    inflation_min_requests: int = 20


@dataclass(frozen=True, slots=True)
class AdminAuth:
    """Failed admin-key attempts (dashboard login, `/admin/*` Bearer) allowed per window, per
    client address and in all, counted in Redis across replicas (lua/admin_auth.lua)."""

    failures_per_client: int = 10
    failures_total: int = 100
    window_s: float = 300.0
    # The header a trusted proxy puts the client's address in (its last entry is used, the one
    # the proxy appended); unset: the TCP peer's address.
    client_ip_header: str | None = None


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """`/metrics`: a bearer token it requires (its SHA-256; unset: open), and whether the cost
    series carries the `key` label (a key name per series: off by default)."""

    token_sha256: bytes | None = field(repr=False, default=None)
    per_key: bool = False


@dataclass(frozen=True, slots=True)
class ResponseStorage:
    """Responses API storage for `previous_response_id` (lua/response_put.lua): off by default.
    Each API key's turns are its own, kept `ttl_s`, at most `max_response_bytes` each and
    `max_key_bytes` per key (the oldest go first)."""

    enabled: bool = False
    ttl_s: int = 3600
    max_response_bytes: int = 1 << 20
    max_key_bytes: int = 64 << 20


CACHE_SCOPES = ("key", "team", "global")


@dataclass(frozen=True, slots=True)
class ResponseCache:
    """The exact-match response cache (lua/cache_put.lua, cache_get.lua): off by default. An
    answer is kept `ttl_s`, if it is at most `max_bytes`, and served again only within its
    `scope` (the same API key, the same team, or every key) so no tenant sees another's answers."""

    enabled: bool = False
    ttl_s: int = 3600
    max_bytes: int = 262_144
    scope: str = "key"


@dataclass(frozen=True, slots=True)
class Tracing:
    """OpenTelemetry tracing (gateway/observe/tracing/): off by default. Spans go to an OTLP/HTTP
    JSON collector at `endpoint` + /v1/traces, in batches from a bounded queue (the oldest dropped
    when it is full), retried with a backoff while the collector says it may take them later;
    `headers` authenticate to the collector (${VAR}s from the environment)."""

    enabled: bool = False
    endpoint: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    sample_ratio: float = 1.0
    service_name: str = "gateway"
    max_queue_spans: int = 4096
    batch_spans: int = 512
    export_interval_s: float = 1.0
    export_timeout_s: float = 5.0
    export_attempts: int = 5             # tries of one batch while the collector answers 429/502/503/504 or not at all
    export_backoff_s: float = 0.5        # the first retry's wait; doubled for each next one (with jitter)
    export_max_backoff_s: float = 30.0   # no longer wait with a batch held (a longer Retry-After holds the next)
    egress: Egress = field(default=Egress(), repr=False)  # the collector's proxy and CA bundle (gateway/net/egress.py)


@dataclass(frozen=True, slots=True)
class StateSettings:
    prefix: str = "gw"
    timeout_ms: int = 250
    retention_days: int = 35
    ledger_maxlen: int = 100_000
    # How often each worker folds settled requests' per-dimension counters from the ledger
    # (lua/fold.lua); 0: only when the admin API, the dashboard or `gateway spend` reads them.
    fold_interval_ms: int = 100
    # When Redis is down or slow: each control's policy (see gateway/state/guard.py).
    on_failure_rate_limits: str = "fail_open"
    on_failure_breakers: str = "fail_open"
    on_failure_budgets: str = "auto"  # closed for keys with a hard budget, open otherwise
    replicas: int = 1                 # local rate limits while degraded are the shared ones / replicas
    journal_dir: str | None = None    # settles Redis could not take; default <data dir>/journal (guard.py)
    # With the private engine (`gateway serve` without REDIS_URL), /readyz answers 503 once the
    # engine has been unreachable this long, so an orchestrator replaces a replica that cannot recover.
    unready_after_s: float = 15.0
    # Transport (gateway/state/endpoint.py): a connection idle longer than this is PINGed before
    # use (0: never); TLS for rediss:// URLs, whose ssl_* query options win over these.
    health_check_s: float = 30.0
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_cert_reqs: str = "required"   # required | optional | none
    tls_check_hostname: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    source: str
    hash: str
    server: Server
    state: StateSettings
    budget: Budget
    breaker: Breaker
    providers: dict[str, Provider]
    deployments: dict[str, Deployment]
    routes: dict[str, Route]
    default_route: str
    keys: tuple[ApiKey, ...]
    admin_key_sha256: bytes | None = field(repr=False, default=None)
    admin_keys: tuple["AdminKey", ...] = ()
    embedding_route: str | None = None  # what model="auto" means on /v1/embeddings
    housekeeping: Housekeeping = Housekeeping()
    admin: AdminAuth = AdminAuth()
    metrics: MetricsSettings = MetricsSettings()
    warnings: tuple[str, ...] = ()  # providers and routes left out for want of a key (gateway/config/leftout.py)
    responses: ResponseStorage = ResponseStorage()
    cache: ResponseCache = ResponseCache()
    pools: dict[str, Pool] = field(default_factory=dict)
    tracing: Tracing = Tracing()
    guardrails: dict[str, GuardPolicy] = field(default_factory=dict)  # `guardrails.<name>` (gateway/guard/)
    default_guardrail: str | None = None  # the policy of a request no key or route names one for
    batch: BatchSettings = BatchSettings()

    def model_names(self) -> list[str]:
        return [*self.routes, *self.pools, *self.deployments]


