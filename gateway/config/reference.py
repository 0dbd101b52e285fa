"""The configuration reference: every field of the YAML file, its type, default and meaning.

`python -m gateway.config.reference > docs/configuration.md` (`make docs`) writes the page. The
defaults are read from the config model (the frozen dataclasses of `gateway.config.model`), in
the file's units (seconds, USD); a test checks that the page is what this module prints, that
every field the parser accepts is here (and nothing else), and that the parser's defaults are
the model's, so the page cannot drift from the code.
"""

from __future__ import annotations

import sys
from typing import Any

from gateway.config.model import (CAPABILITIES, PRIORITIES, TASKS, UNCERTAIN_BELOW, UNCERTAIN_POLICIES,
                                  WIRE_FORMATS, Breaker, Budget, Pace, Provider, Quirks, Server, StateSettings, Timeouts)
from gateway.config.reference_fields import NONE, REQUIRED, Field, Section, fields_from, seconds_of_ms, model_default
from gateway.config.reference_ops import OPS_SECTIONS
from gateway.guard.detectors import BUILTIN
from gateway.guard.policy import ACTIONS
from gateway.net.egress import Egress


_CHAIN = (
    Field("primary", "model or pool name", REQUIRED, "The first model tried (a pool: its members, in the "
          "conversation's order). Not needed with `strategy: cheapest`."),
    Field("fallbacks", "list of model or pool names", "[]", "Tried in order when the one before fails with a "
          "retryable error (connection, timeout, 5xx, 429, the provider refusing the gateway's key)."),
    Field("min_quality", "number 0..1", 0.0, "With `strategy: cheapest`: only models whose quality for the task "
          "(`models.<name>.quality`) reaches this. With `ordered`: the primary must reach it."),
    Field("priority", f"one of {', '.join(PRIORITIES)}", "normal", "The requests' priority: low (then normal) "
          "moves to its cheapest candidate when spend runs ahead of pace; critical never does."),
    Field("strategy", "ordered | cheapest", "ordered", "`ordered`: primary then fallbacks. `cheapest`: every chat "
          "model good enough, ranked by this request's expected cost (equal costs: in the conversation's "
          "rendezvous order, as in a pool)."),
)

SECTIONS: tuple[Section, ...] = (
    Section("top level", "The file's top-level fields.", (
        Field("default_route", "route name", "`auto` if defined, else the first route",
              "The route for `model` values that name neither a route nor a model."),
        Field("embedding_route", "route name", "`embeddings` if defined, else none",
              "What `model=\"auto\"` means on `/v1/embeddings`; its models must be `kind: embedding`."),
        Field("admin_key_sha256", "SHA-256 hex", NONE, "The admin key's digest: a `write` admin key (admin API, "
              "dashboard, `gateway keys`). Unset: the admin API and dashboard are closed."),
        Field("server", "mapping", "", "See [server](#server)."),
        Field("state", "mapping", "", "See [state](#state)."),
        Field("budget", "mapping", "", "See [budget](#budget)."),
        Field("breaker", "mapping", "", "See [breaker](#breaker)."),
        Field("providers", "mapping", REQUIRED, "Name → provider; see [providers.&lt;name&gt;](#providersname)."),
        Field("models", "mapping", REQUIRED, "Name → model; see [models.&lt;name&gt;](#modelsname)."),
        Field("routes", "mapping", "", "Name → route; see [routes.&lt;name&gt;](#routesname)."),
        Field("pools", "mapping", "", "Name → pool of equivalent deployments; see [pools.&lt;name&gt;](#poolsname)."),
        Field("keys", "list", "[]", "The gateway keys of the file; see [keys[]](#keys)."),
        Field("admin_keys", "list", "[]", "More admin keys with a scope; see [admin_keys[]](#admin_keys)."),
        Field("housekeeping", "mapping", "", "See [housekeeping](#housekeeping)."),
        Field("admin", "mapping", "", "See [admin](#admin)."),
        Field("metrics", "mapping", "", "See [metrics](#metrics)."),
        Field("responses", "mapping", "", "See [responses](#responses)."),
        Field("cache", "mapping", "", "See [cache](#cache)."),
        Field("tracing", "mapping", "", "See [tracing](#tracing)."),
        Field("batch", "mapping", "", "See [batch](#batch)."),
        Field("guardrails", "mapping", "", "Name → guardrail policy; see [guardrails.&lt;name&gt;](#guardrailsname)."),
        Field("default_guardrail", "policy name or `none`", NONE, "The policy of a request whose key and route "
              "name none (docs/guardrails.md)."),
    )),
    Section("server", "Limits of one request and of the HTTP edge.", fields_from(Server, [
        ("max_body_bytes", "integer >= 1024", "A larger body is refused with 413 before it is read whole."),
        ("request_timeout_s", "seconds", "The whole request's deadline, every attempt and backoff included."),
        ("attempt_budget", "integer >= 1", "Upstream calls one request may make, fallbacks and retries included."),
        ("reservation_ttl_s", "integer seconds", "A reservation no settle has replaced by then is charged in "
         "full (a replica died mid-request)."),
        ("default_max_output_tokens", "integer", "The output allowance reserved (and sent upstream as the cap) "
         "when the request sets none."),
        ("body_read_timeout_s", "seconds", "From the end of the headers to the end of the body: 408 beyond."),
        ("max_header_bytes", "integer >= 1024", "Request line and headers together: 431 beyond."),
        ("max_headers", "integer >= 8", "Header lines: 431 beyond."),
        ("header_timeout_s", "seconds", "From a request's first byte to the end of its headers: 408 beyond."),
        ("keep_alive_s", "seconds", "An idle connection is closed after this."),
        ("max_connections", "integer >= 16", "Open connections per worker; lowered to fit the open-file limit."),
    ])),
    Section("state", "The shared state in Redis (or the private engine) and what happens when it is away.",
            fields_from(StateSettings, [
        ("prefix", "string", "The hash tag of every key (`{gw}:...`): one slot, so Redis Cluster works unchanged. "
         "No braces or spaces."),
        ("timeout_ms", "integer milliseconds", "A state call slower than this counts as Redis unavailable."),
        ("retention_days", "integer", "How long daily spend counters and the ledger's days are kept."),
        ("ledger_maxlen", "integer >= 100", "Settled requests kept in the ledger stream (fold reads it)."),
        ("fold_interval_ms", "integer milliseconds", "How often each worker folds per-dimension spend counters "
         "from the ledger; 0: only when the admin API, dashboard or `gateway spend` reads them."),
        ("on_failure_rate_limits", "fail_open | fail_closed", "Rate limits while Redis is unreachable."),
        ("on_failure_breakers", "fail_open | fail_closed", "Circuit breakers while Redis is unreachable."),
        ("on_failure_budgets", "auto | fail_open | fail_closed", "Budgets while Redis is unreachable; `auto`: "
         "closed for keys with a budget, open otherwise."),
        ("replicas", "integer >= 1", "While degraded, each replica enforces the shared rate limits divided "
         "by this."),
        ("journal_dir", "path", "Where settles Redis could not take wait to be replayed; default "
         "`<data dir>/journal`."),
        ("unready_after_s", "seconds", "With the private engine, `/readyz` answers 503 once it has been "
         "unreachable this long."),
        ("health_check_s", "seconds", "A connection idle longer than this is PINGed before use; 0: never."),
        ("tls_ca_file", "path", "CA bundle for `rediss://` URLs (their `ssl_*` query options win)."),
        ("tls_cert_file", "path", "Client certificate for `rediss://`."),
        ("tls_key_file", "path", "Client certificate's key for `rediss://`."),
        ("tls_cert_reqs", "required | optional | none", "Server certificate verification for `rediss://`."),
        ("tls_check_hostname", "boolean", "Check the server certificate's host name."),
    ])),
    Section("budget", "The global daily budget, decided in Redis with Redis time so every replica agrees.", (
        Field("daily_usd", "USD", model_default(Budget, "daily_micro", 1e6), "The daily budget; 0: none. Spend "
              "past it follows `at_limit`."),
        Field("timezone", "IANA timezone", model_default(Budget, "timezone"), "Where the budget day starts."),
        Field("hard_limit_usd", "USD >= daily_usd", "`daily_usd`", "Never overshot: admit reserves each request's "
              "worst case against it."),
        Field("pace", "mapping", "", "See [budget.pace](#budgetpace)."),
        Field("at_limit", "mapping", "", "See [budget.at_limit](#budgetat_limit)."),
    )),
    Section("budget.pace", "When spend runs ahead of the day's allowance (daily budget × elapsed share of the day "
            "+ burst), low-priority work moves to cheaper models; hysteresis keeps it from flapping. "
            "Needs exit < enter <= normal_enter.", fields_from(Pace, [
        ("burst_share", "number", "Share of the daily budget allowed ahead of pace."),
        ("enter", "number", "Low priority downgrades at spend >= enter × allowance."),
        ("normal_enter", "number", "Normal priority downgrades too at spend >= normal_enter × allowance."),
        ("exit", "number", "Both return to their own chain below exit × allowance."),
    ])),
    Section("budget.at_limit", "Past the daily budget, per priority: `cheapest` (serve on the cheapest candidate "
            "up to the hard limit) or `refuse` (429 `budget_exceeded`).",
            tuple(Field(p, "refuse | cheapest", dict(Budget().at_limit)[p], f"Requests of priority {p}.")
                  for p in PRIORITIES)),
    Section("breaker", "One circuit breaker per deployment, shared by every replica, with one half-open probe "
            "cluster-wide.", fields_from(Breaker, [
        ("failures", "integer >= 1", "Failures within `window_s` that open it."),
        ("window_s", "seconds", "The window failures are counted in."),
        ("cooldown_s", "seconds", "Open this long before a probe; doubles on each failed probe."),
        ("max_cooldown_s", "seconds", "The cooldown's ceiling."),
        ("probe_lease_s", "seconds", "How long the one half-open probe may take before another may try."),
        ("min_sources", "integer >= 1", "Distinct API keys (or the health probe) whose failures are needed to "
         "open it: one bad client cannot."),
        ("auth_cooldown_s", "seconds", "Open this long when the provider rejects the gateway's own key."),
        ("throttle_s", "seconds", "A deployment that answered 429 without Retry-After is skipped this long."),
        ("max_throttle_s", "seconds", "A provider's Retry-After is honoured up to this."),
    ], seconds_of_ms("window_s", "cooldown_s", "max_cooldown_s", "probe_lease_s", "auth_cooldown_s", "throttle_s",
           "max_throttle_s"))),
    Section("providers.<name>", "An upstream API.", (
        Field("format", " | ".join(WIRE_FORMATS), REQUIRED, "The wire format spoken."),
        Field("base_url", "http(s) URL", REQUIRED, "The API's base URL (OpenAI-style ones end in `/v1`); "
              "`vertex_*`: Vertex's host for `location` unless set (a private endpoint, a test server)."),
        Field("api_key_env", "environment variable name", REQUIRED, "Where the provider key is read from; the "
              "key is never in the file. `null`: no key (a local server)."),
        Field("optional", "boolean", False, "Unset key: leave the provider out with its models (one warning) "
              "instead of refusing to start."),
        Field("api_version", "string", NONE, "Azure OpenAI's `api-version` (required for `azure`)."),
        Field("aws_region", "AWS region", "from a `bedrock-runtime.<region>.amazonaws.com` base URL",
              "`bedrock`, `bedrock_anthropic` only: the region requests are signed for (SigV4)."),
        Field("aws_access_key_env", "environment variable name", "AWS_ACCESS_KEY_ID", "`bedrock*` with "
              "`api_key_env: null`: the AWS access key id, for SigV4 signing (`api_key_env` set: a Bedrock API "
              "key, sent as a bearer token, instead)."),
        Field("aws_secret_key_env", "environment variable name", "AWS_SECRET_ACCESS_KEY",
              "`bedrock*` with `api_key_env: null`: the AWS secret access key."),
        Field("aws_session_token_env", "environment variable name", "AWS_SESSION_TOKEN",
              "`bedrock*` with `api_key_env: null`: the session token of temporary credentials; unset: none."),
        Field("project", "string", NONE, "`vertex_*` only (required): the Google Cloud project id."),
        Field("location", "string", NONE, "`vertex_*` only (required): the Vertex location, e.g. `us-central1`, "
              "`us-east5` or `global`."),
        Field("credentials_file", "path", "GOOGLE_APPLICATION_CREDENTIALS", "`vertex_*` only: a service-account "
              "key file; the gateway exchanges it for access tokens and renews them. Instead of `api_key_env`, "
              "which then holds an access token (e.g. `gcloud auth print-access-token`; it is not renewed)."),
        Field("metadata_server", "bool", "false", "`vertex_*` only: sign in as the machine's or pod's own service "
              "account, with tokens from the metadata server (GKE workload identity, Compute Engine, Cloud Run; "
              "`GCE_METADATA_HOST` overrides the host), renewed like a key file's. Instead of `api_key_env` and "
              "`credentials_file`."),
        Field("headers", "mapping", "{}", "Extra headers sent on every call."),
        Field("max_retries", "integer", model_default(Provider, "max_retries"), "How many more times one request may call a "
              "deployment of this provider after it failed, when the whole chain is retried after a backoff "
              "(0: once per request); `server.attempt_budget` bounds all calls."),
        Field("timeouts", "mapping", "", "See [providers.&lt;name&gt;.timeouts](#providersnametimeouts)."),
        Field("quirks", "mapping", "", "See [providers.&lt;name&gt;.quirks](#providersnamequirks)."),
        Field("proxy", "http:// URL | none", "from `HTTPS_PROXY`/`NO_PROXY`", "The egress proxy; `none`: direct."),
        Field("ca_file", "path", NONE, "A PEM CA bundle that replaces the system trust store for this provider "
              "(e.g. behind a TLS-inspecting proxy)."),
        Field("max_connections", "integer >= 1", model_default(Egress, "max_connections"),
              "Open connections to this provider, per worker; more concurrent calls wait their turn."),
    )),
    Section("providers.<name>.timeouts", "Per attempt.", fields_from(Timeouts, [
        ("connect_s", "seconds", "TCP and TLS connect."),
        ("first_byte_s", "seconds", "From the request sent to the answer's headers."),
        ("idle_s", "seconds", "Between two chunks of a stream."),
        ("total_s", "seconds", "The whole attempt."),
    ])),
    Section("providers.<name>.quirks", "What an OpenAI-compatible server does differently.", fields_from(Quirks, [
        ("stream_usage", "boolean", "Send `stream_options.include_usage` on streams."),
        ("max_tokens_field", "max_tokens | max_completion_tokens", "Rename the output cap to this field."),
        ("drop_fields", "list of strings", "Request fields the server rejects, removed before sending."),
        ("custom_tools", "boolean", "Takes OpenAI's custom (freeform) tools; `false`: they are sent as "
         "function tools with one string parameter, and the calls come back as custom calls."),
        ("reasoning_content", "boolean", "Takes an assistant message's `reasoning_content` back (DeepSeek asks for "
         "it on tool-call turns); `false`: it is left out, as OpenAI, Mistral and Cerebras refuse it."),
        ("extra_content", "boolean", "Takes a tool call's `extra_content` back (Google's OpenAI-compatible "
         "endpoint wants Gemini's thought signature there); `false`: it is left out, as OpenAI refuses it."),
    ])),
    Section("models.<name>", "A deployment: one model reachable through one provider, the unit of routing, "
            "limits and breakers.", (
        Field("provider", "provider name", REQUIRED, "Which `providers` entry serves it."),
        Field("upstream", "string", "the model's name", "The model name sent to the provider."),
        Field("price", "mapping", REQUIRED, "See [models.&lt;name&gt;.price](#modelsnameprice)."),
        Field("context_window", "integer tokens", 128_000, "Prompt and output together; longer requests skip it."),
        Field("max_output_tokens", "integer tokens", 16_384, "The largest output cap it accepts."),
        Field("rpm", "integer", 0, "Requests per minute across the cluster; 0: no limit."),
        Field("tpm", "integer", 0, "Tokens per minute (reserved worst case) across the cluster; 0: no limit."),
        Field("quality", "mapping task → 0..1", "{}", f"Per task ({', '.join(TASKS)}): how good it is; "
              "`min_quality` and `strategy: cheapest` read it."),
        Field("kind", "chat | embedding | transcription | speech | image | moderation", "chat", "Embedding models "
              "serve `/v1/embeddings` only; `transcription` `/v1/audio/transcriptions` and `/translations`, "
              "`speech` `/v1/audio/speech`, `image` `/v1/images/generations`, `moderation` `/v1/moderations` "
              "(on `openai` providers, and but for moderation `azure`; `auto` on one of these means the route "
              "named `transcriptions`, `speech`, `images` or `moderations`; see docs/media.md)."),
        Field("bedrock", "mapping", NONE, "A Bedrock (`bedrock`, `bedrock_anthropic`) chat model's options; see "
              "[models.&lt;name&gt;.bedrock](#modelsnamebedrock)."),
        Field("supports", f"list of {', '.join(CAPABILITIES)}", "every capability its format has", "What a "
              "chat model takes beyond text: `vision` (image parts), `audio` (audio input), `files` (PDF and "
              "document parts), `tools` (function or custom tools, tool turns), `json_schema` (`response_format` "
              "json_schema), `web_search` (server-side search tools, `web_search_options`). Given: exactly those "
              "(`[]`: text only); a request needing one it lacks skips it (`skipped: <model>:lacks:vision` in the "
              "log line), and none left is a 400 `unsupported_capability`. Absent, `web_search` is left out on "
              "`bedrock` (Converse has no search tool: listing it is a config error) and `bedrock_anthropic` "
              "(list it if your Bedrock runs Anthropic's web search tool). Chat models only."),
        Field("prompt_cache", "auto | off", "off", "`auto`: the adapter marks the prompt's cache breakpoints "
              "(tools, system prompt, and in a conversation the last and the previous user turn) for a client "
              "that marked none, so repeated prefixes are read at the `cached_input` price (docs/cost.md, Prompt "
              "caching). Chat models of `anthropic`, `vertex_anthropic`, `bedrock_anthropic` and `bedrock` "
              "(Claude, Nova) providers: OpenAI's and Gemini's APIs cache prefixes by themselves."),
    )),
    Section("models.<name>.bedrock", "Amazon Bedrock options of a chat model of a `bedrock` (Converse) or "
            "`bedrock_anthropic` (InvokeModel) provider.", (
        Field("guardrail", "mapping", NONE, "A guardrail every call of the model is checked by (Converse's "
              "`guardrailConfig`, InvokeModel's `X-Amzn-Bedrock-Guardrail*` headers); see "
              "[models.&lt;name&gt;.bedrock.guardrail](#modelsnamebedrockguardrail)."),
        Field("latency", "optimized | standard", "Bedrock's: standard", "`optimized` calls the model's "
              "latency-optimized version (Converse's `performanceConfig`, InvokeModel's "
              "`X-Amzn-Bedrock-PerformanceConfig-Latency` header); only some models and regions offer it."),
    )),
    Section("models.<name>.bedrock.guardrail", "An Amazon Bedrock guardrail. When it intervenes the answer is "
            "its message with finish_reason `content_filter` (not a provider failure).", (
        Field("id", "string", REQUIRED, "The guardrail's id or ARN."),
        Field("version", "number or DRAFT", REQUIRED, "The guardrail version."),
        Field("trace", "enabled | disabled | enabled_full", "Bedrock's: disabled", "The guardrail trace in answers "
              "(the gateway does not pass it on)."),
        Field("stream_processing_mode", "sync | async", "Bedrock's: sync", "Streams: `sync` holds chunks until "
              "the guardrail has checked them; `async` sends them at once and checks in the background."),
    )),
    Section("models.<name>.price", "USD per million tokens; a media model's in its own units (docs/media.md).", (
        Field("input", "USD", REQUIRED, "Prompt tokens."),
        Field("output", "USD", 0.0, "Output tokens."),
        Field("cached_input", "USD", "`input`", "Prompt tokens the provider served from its cache."),
        Field("reasoning", "USD", "`output`", "Reasoning tokens, where priced apart."),
        Field("cache_write", "USD", "1.25 × `input` for Claude, else `input`", "Prompt tokens written to the "
              "provider's cache (Anthropic's 5-minute cache; Claude on Vertex and Bedrock bills the same)."),
        Field("cache_write_1h", "USD", "2 × `input` for Claude, else `cache_write`", "Prompt tokens written to "
              "Anthropic's 1-hour cache."),
        Field("web_search", "USD per 1,000", "10 for Claude and `openai_responses`; Gemini 3: 14, Gemini 2.x: 35; "
              "else 0", "A server-side web search, on top of its tokens: Claude's web search tool, a Responses "
              "`web_search_call`, a Gemini Google Search grounding query (see docs/cost.md)."),
        Field("web_search_unit", "`call` or `request`", "`request` for Gemini 2.x, else `call`", "What one charge "
              "is: each search call, or one per request that searched (Gemini 2.x bills a grounded prompt). On an "
              "`openai`/`azure` provider, `request` with a `web_search` price charges every answer one search "
              "(OpenAI's chat `*-search-*` models search for every request; their answers carry no count)."),
        Field("per_minute", "USD", "0", "`kind: transcription`: a minute of audio, charged by the duration the "
              "provider reports (the reservation: the upload's size at 16 kb/s). A model billed in tokens "
              "(gpt-4o-transcribe) takes `input` and `output` too."),
        Field("per_million_chars", "USD", "0", "`kind: speech`: a million characters of `input`."),
        Field("per_image", "USD, or mapping quality/size → USD", "0", "`kind: image`: one image, by "
              "`\"<quality>/<size>\"`, `\"<size>\"` or `\"<quality>\"` (the first that matches the "
              "request); a request none matches pays the dearest."),
        Field("per_request", "USD", "0", "A media model: a fee per request (a moderation model is free "
              "without it)."),
    )),
    Section("routes.<name>", "What a `model` value that names the route means: a default chain and per-task "
            "chains.", _CHAIN + (
        Field("tasks", "mapping task → chain", "{}", "Per task chains; see "
              "[routes.&lt;name&gt;.tasks.&lt;task&gt;](#routesnametaskstask). Without a default chain, "
              "unknown tasks take `complex_reasoning`'s."),
        Field("experiments", "list", "[]", "See [routes.&lt;name&gt;.experiments[]](#routesnameexperiments)."),
        Field("on_uncertain", " | ".join(UNCERTAIN_POLICIES), NONE, "Where a request whose task the classifier "
              "is unsure of goes: the most demanding task's chain, the default chain, or the cheapest."),
        Field("uncertain_below", "number 0..1", UNCERTAIN_BELOW, "A classification with a lower confidence is "
              "uncertain."),
        Field("guardrail", "policy name or `none`", NONE, "The guardrail policy of requests for this route "
              "(`auto`: the default route), unless their key names one; none: `default_guardrail`."),
    )),
    Section("routes.<name>.tasks.<task>", f"The chain of one task ({', '.join(TASKS)}); its priority defaults "
            "to the route's.", _CHAIN),
    Section("routes.<name>.experiments[]", "A sticky weighted split: `weight` of the traffic (per end user) "
            "takes this chain instead.", _CHAIN + (
        Field("name", "string", REQUIRED, "Shown in `x-gateway-experiment` and the dashboard."),
        Field("weight", "number 0..1", REQUIRED, "The share of traffic."),
        Field("task", "task", NONE, "Only requests of this task; none: every task."),
        Field("priorities", "list of priorities", ", ".join(PRIORITIES[:-1]), "The priorities it may take."),
    )),
    Section("pools.<name>", "Equivalent deployments of one model sharing its traffic. The name stands wherever "
            "a model name does (a chain, a client's `model`, `allowed_models`); each request tries every member, "
            "the conversation's own first (weighted rendezvous hashing on the end user and the conversation's "
            "start), so the provider's prompt cache keeps hitting and a full or broken member spills over.", (
        Field("members", "list of chat model names", REQUIRED, "The deployments; not routes or pools."),
        Field("weights", "mapping model → number >= 0", "1 each", "Each member's share of the conversations; "
              "0: spillover only."),
    )),
    Section("keys[]", "The gateway keys of the file (runtime keys are made with `gateway keys`).", (
        Field("name", "string", REQUIRED, "Unique; the name in logs, spend and metrics."),
        Field("sha256", "SHA-256 hex", REQUIRED, "The key's digest; the key itself is never stored."),
        Field("rpm", "integer", 0, "Requests per minute; 0: no limit."),
        Field("tpm", "integer", 0, "Tokens per minute (reserved worst case); 0: no limit."),
        Field("daily_budget_usd", "USD", 0.0, "The key's daily budget; 0: none."),
        Field("allowed_models", "list of model, pool or route names", "[]", "Empty: every model and route. "
              "A pool allows its members."),
        Field("priority", f"one of {', '.join(PRIORITIES)}", NONE, "Raises (never lowers) its requests' priority."),
        Field("default_task", "task", NONE, "The task when the request forces none (`x-gateway-task`)."),
        Field("guardrail", "policy name or `none`", NONE, "The key's guardrail policy, before its route's and "
              "`default_guardrail` (a runtime key's, before its team's); `none`: no policy for this key."),
    )),
    Section("guardrails.<name>", "A guardrail policy (docs/guardrails.md): what it looks for in a request's "
            "prompt and what it does on a finding.", (
        Field("detect", f"list of {', '.join(BUILTIN)}", "[]", "Built-in detectors: e-mail addresses, phone "
              "numbers, Luhn-checked card numbers, mod-97-checked IBANs, US SSNs, IPv4 addresses and secrets "
              "(provider and cloud keys, GitHub and Slack tokens, JWTs, PEM private keys)."),
        Field("custom", "mapping name → regular expression", "{}", "Your own detectors (Python `re` syntax), "
              "compiled at start-up; the name (lower case) is its kind and its placeholder (`[NAME_1]`)."),
        Field("action", " | ".join(ACTIONS), "redact", "`redact`: each finding replaced by a placeholder before "
              "anything reads the prompt; `block`: refused with 400 `guardrail_blocked`; `log`: served as it "
              "came, counted."),
        Field("output", "mapping", NONE, "Read answers too, whole and streamed; see "
              "[guardrails.&lt;name&gt;.output](#guardrailsnameoutput). A policy may have only `output` "
              "(`detect: []`): it reads answers alone."),
    )),
    Section("guardrails.<name>.output", "What the policy does to answers (docs/guardrails.md, Answers): their "
            "text, refusals and tool-call arguments, in every client API.", (
        Field("detect", f"list of {', '.join(BUILTIN)}", "the policy's", "Built-in detectors for answers; with "
              "`custom` absent too, the policy's own detectors."),
        Field("custom", "mapping name → regular expression", "the policy's", "Your own detectors for answers."),
        Field("action", " | ".join(ACTIONS), "the policy's", "`redact`: placeholders in the answer (not mapped "
              "back; a stream holds back its last 256 characters); `block`: 400 `guardrail_blocked`, or the "
              "client API's error event mid-stream (still charged); `log`: served as it came, counted."),
    )),
    Section("admin_keys[]", "Admin keys besides `admin_key_sha256`.", (
        Field("name", "string", REQUIRED, "Named in the audit log."),
        Field("sha256", "SHA-256 hex", REQUIRED, "The key's digest."),
        Field("scope", "read | write", "read", "`read`: the admin API's GETs and the dashboard; `write`: also "
              "creating, changing and revoking keys and teams."),
    )),
) + OPS_SECTIONS


def _cell(value: Any) -> str:
    if value == "":
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (int, float)):
        return f"`{value}`"
    if isinstance(value, tuple):
        return f"`[{', '.join(value)}]`"
    text = str(value)
    return text if "`" in text or " " in text or text in (NONE, REQUIRED) else f"`{text}`"


def render() -> str:
    """The whole page, as docs/configuration.md holds it."""
    out = ["# Configuration reference", "",
           "<!-- Generated by `python -m gateway.config.reference` (`make docs`) from the config model; "
           "do not edit by hand: tests/test_config_reference.py fails when this page and the code differ. -->",
           "",
           "One YAML file, given by `--config` or `GATEWAY_CONFIG`. `${NAME}` and `${NAME:-default}` are "
           "replaced from the environment; `gateway check-config FILE` validates it without serving. An "
           "unknown field, a wrong type or a value out of range stops start-up with the file, the path "
           "and the value. Durations are in seconds unless the name ends in `_ms`; money is in USD. "
           "`<name>` is a name you choose; `[]` is a list item.", ""]
    out += ["Sections: " + ", ".join(f"[{s.path.replace('<', '&lt;').replace('>', '&gt;')}](#{anchor(s.path)})"
                                     for s in SECTIONS), ""]
    for s in SECTIONS:
        out += [f"## {s.path.replace('<', '&lt;').replace('>', '&gt;')}", "", s.doc, "",
                "| field | type | default | meaning |", "|---|---|---|---|"]
        for f in s.fields:
            cells = (f"`{f.name}`", f.type, _cell(f.default), f.doc)
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def anchor(path: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


if __name__ == "__main__":
    sys.stdout.write(render())
