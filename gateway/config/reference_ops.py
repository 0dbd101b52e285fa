"""The configuration reference's operational sections (gateway.config.reference): housekeeping,
admin-key throttling, metrics, Responses storage, the response cache, batches and tracing, the
blocks an operator tunes once the routing works."""

from __future__ import annotations

from gateway.config.model import (AdminAuth, BatchSettings, Housekeeping, MetricsSettings, ResponseCache,
                                  ResponseStorage, Tracing)
from gateway.config.reference_fields import NONE, Field, Section, fields_from

OPS_SECTIONS: tuple[Section, ...] = (
    Section("housekeeping", "Work one replica does at a time under a Redis lease: provider health probes that "
            "feed the breakers, the token-inflation watch, the spend samples of the dashboard. A provider's probe "
            "is one free GET its adapter names (`health_probe`): the model listing for OpenAI-compatible, Azure, "
            "Anthropic and Gemini providers, `ListAsyncInvokes` for Bedrock, the location's endpoint listing for "
            "Vertex. A 2xx closes a half-open breaker; a network failure, 5xx or 429 counts as a failure; any "
            "other answer (401, 403, 404) tells nothing.",
            fields_from(Housekeeping, [
        ("interval_s", "seconds", "How often."),
        ("probe_timeout_s", "seconds", "One health probe's timeout."),
        ("inflation_threshold", "number", "Alert when tokens per request of a (model, task) change by more "
         "than this share."),
        ("inflation_recent_s", "seconds", "The recent window compared."),
        ("inflation_baseline_s", "seconds", "The baseline window it is compared with."),
        ("inflation_min_requests", "integer >= 1", "Requests needed in each window before an alert."),
    ])),
    Section("admin", "Failed admin-key attempts (dashboard login, `/admin/*`) allowed per window, counted "
            "across replicas.", fields_from(AdminAuth, [
        ("failures_per_client", "integer >= 1", "Per client address."),
        ("failures_total", "integer >= 1", "From every client together."),
        ("window_s", "seconds", "The window they are counted in."),
        ("client_ip_header", "header name", "The header a trusted proxy puts the client's address in (its last "
         "entry); unset: the TCP peer."),
    ])),
    Section("metrics", "`GET /metrics`.", fields_from(MetricsSettings, [
        ("token_sha256", "SHA-256 hex", "A bearer token the scrape must send (its digest); unset: open."),
        ("per_key", "boolean", "Give the cost series a `key` label (one series per key)."),
    ])),
    Section("responses", "Responses API storage for `previous_response_id`.", fields_from(ResponseStorage, [
        ("enabled", "boolean", "Store responses at all."),
        ("ttl_s", "integer seconds", "How long a stored turn is kept."),
        ("max_response_bytes", "integer >= 1024", "The largest turn stored."),
        ("max_key_bytes", "integer >= 1024", "Stored per API key; the oldest go first."),
    ])),
    Section("cache", "The exact-match response cache (docs/cache.md): a repeated deterministic request "
            "answered from Redis, with no provider call and no cost.", fields_from(ResponseCache, [
        ("enabled", "boolean", "Cache answers at all (off: no lookup, no header, no round trip)."),
        ("ttl_s", "integer seconds", "How long a cached answer is served."),
        ("max_bytes", "integer >= 1024", "The largest answer kept (the canonical completion's JSON)."),
        ("scope", "key, team or global", "Who may be served an answer: the API key that stored it, its team "
         "(a key without a team: itself), or every key."),
    ])),
    Section("batch", "The OpenAI Batch API (`/v1/files`, `/v1/batches`), run by the gateway itself on any "
            "provider (docs/batch.md).", fields_from(BatchSettings, [
        ("enabled", "boolean", "Serve the Files and Batch endpoints and run batches (off: 404, no polling)."),
        ("concurrency", "integer >= 1", "Batch lines one worker runs at once, beside its interactive traffic."),
        ("poll_interval_s", "seconds", "How often an idle worker looks for batch lines to run."),
        ("lease_s", "seconds", "How long a claimed chunk is held past its last result; a dead worker's chunk is "
         "claimed again after it. Longer than `server.request_timeout_s`."),
        ("max_file_bytes", "integer >= 1024", "The largest uploaded file (413 beyond)."),
        ("max_lines", "integer >= 1", "The most requests in one batch's input file."),
        ("file_ttl_s", "integer seconds", "How long an uploaded file is kept."),
        ("output_ttl_s", "integer seconds", "How long a batch and its output and error files are kept past its "
         "24 h window."),
    ])),
    Section("tracing", "OpenTelemetry spans over OTLP/HTTP JSON (docs/operations.md, Tracing): a server span per "
            "request and a client span per upstream attempt, with the GenAI semantic conventions; never a prompt.",
            fields_from(Tracing, [
        ("enabled", "boolean", "Trace at all (off: no span, no `traceparent` sent upstream; a client's trace id "
         "still reaches the log line)."),
        ("endpoint", "URL", "The collector's OTLP/HTTP base URL (`http://otel-collector:4318`); spans are POSTed "
         "to `/v1/traces` under it. Required when enabled."),
    ]) + (Field("headers", "mapping", "{}", "Headers sent to the collector (its API key: `${VAR}` from the "
                "environment)."),) + fields_from(Tracing, [
        ("sample_ratio", "0 to 1", "Share of new traces recorded (by trace id); a client's sampled flag wins."),
        ("service_name", "string", "The `service.name` resource attribute."),
        ("max_queue_spans", "integer >= 16", "Spans waiting for export per worker; past it the oldest are dropped."),
        ("batch_spans", "integer >= 1", "Spans per export request."),
        ("export_interval_s", "seconds", "The longest a span waits for a batch to fill."),
        ("export_timeout_s", "seconds", "One export request's limit; also the flush at shutdown."),
        ("export_attempts", "integer >= 1", "Tries of one batch while the collector answers 429, 502, 503, 504 or "
         "not at all (1: no retry); other statuses are not retried."),
        ("export_backoff_s", "seconds", "The wait before the first retry (drawn from its upper half), doubled for "
         "each next one; a `Retry-After` replaces it."),
        ("export_max_backoff_s", "seconds", "The longest wait with a batch held; a longer `Retry-After` gives the "
         "batch up and holds the next export until it has passed."),
    ]) + (Field("proxy", "http:// URL | none", "from `HTTPS_PROXY`/`NO_PROXY`", "The proxy to the collector; "
                "`none`: direct."),
          Field("ca_file", "path", NONE, "A PEM CA bundle that replaces the system trust store for an https "
                "`endpoint` (a private CA)."))),
)
