"""Loading the YAML file: environment expansion, parsing, and validation of every section."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway.config.model import (
    ALL_CAPABILITIES, CACHE_SCOPES, CAPABILITIES, KINDS, MARKED_CACHE_FORMATS, MEDIA_KINDS, NO_EMBEDDINGS,
    NO_WEB_SEARCH, PRIORITIES, TASKS, WEB_SEARCH_OPT_IN,
    AdminAuth, AdminKey, ApiKey, BatchSettings, Breaker, Config, ConfigError, Deployment, Housekeeping, LeftOut,
    MetricsSettings,
    GuardPolicy, Provider, ResponseCache, ResponseStorage,
    Route, Server, StateSettings,
)
from gateway.config.aws import parse_bedrock
from gateway.config.media import MEDIA_FIELDS, check_media, parse_media_price
from gateway.config.guardrails import guardrail_name, parse_guardrails
from gateway.config.leftout import prune_route
from gateway.config.pools import parse_pools
from gateway.config.prices import FIELDS as CHAT_PRICE_FIELDS, parse_price
from gateway.config.provider import parse_provider, read_bool
from gateway.config.reader import Reader, sha256_hex, usd_to_micro
from gateway.config.routes import parse_budget, parse_route
from gateway.config.tracing import parse_tracing


PRICE_FIELDS = CHAT_PRICE_FIELDS | MEDIA_FIELDS


def _path(r: Reader, doc: dict, name: str) -> str | None:
    """A file the state connection reads (a CA bundle, a client certificate or key)."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isfile(value):
        raise r.fail(f"state.{name}", value, "expected the path of an existing file")
    return value


def _deployment(r: Reader, name: str, doc: Any, providers: dict[str, Provider]) -> Deployment:
    path = f"models.{name}"
    doc = r.mapping(doc, path, required=True)
    r.known(doc, path, {"provider", "upstream", "price", "context_window", "max_output_tokens", "rpm", "tpm",
                        "quality", "kind", "bedrock", "supports", "prompt_cache"})
    provider_name = r.string(doc, "provider", path)
    if provider_name not in providers:
        raise r.fail(f"{path}.provider", provider_name, f"unknown provider; defined: {sorted(providers)}")
    upstream = r.string(doc, "upstream", path, name)
    kind = r.string(doc, "kind", path, "chat", choices=KINDS)
    if kind in MEDIA_KINDS:  # a moderation model may be free: no price
        pdoc = r.mapping(doc.get("price"), f"{path}.price", required=kind != "moderation")
        r.known(pdoc, f"{path}.price", PRICE_FIELDS)
        price = parse_media_price(r, pdoc, f"{path}.price", kind)
    else:
        price = parse_price(r, r.mapping(doc.get("price"), f"{path}.price", required=True), f"{path}.price",
                            providers[provider_name], upstream)
    qdoc = r.mapping(doc.get("quality"), f"{path}.quality")
    quality = []
    for task, score in qdoc.items():
        if task not in TASKS:
            raise r.fail(f"{path}.quality.{task}", task, f"unknown task; expected one of {list(TASKS)}")
        quality.append((task, r.number(qdoc, task, f"{path}.quality")))
        if quality[-1][1] > 1:
            raise r.fail(f"{path}.quality.{task}", score, "must be between 0 and 1")
    guardrail, latency = parse_bedrock(r, doc.get("bedrock"), path, providers[provider_name].format, kind)
    return Deployment(
        name=name, provider=providers[provider_name], upstream=upstream,
        price=price, context_window=r.number(doc, "context_window", path, 128_000, minimum=1, integer=True),
        max_output_tokens=r.number(doc, "max_output_tokens", path, 16_384, minimum=1, integer=True),
        rpm=r.number(doc, "rpm", path, 0, integer=True), tpm=r.number(doc, "tpm", path, 0, integer=True),
        quality=tuple(quality), kind=kind,
        guardrail=guardrail, latency=latency, supports=_supports(r, doc, path, kind, providers[provider_name].format),
        prompt_cache=_prompt_cache(r, doc, path, kind, providers[provider_name].format),
    )


def _prompt_cache(r: Reader, doc: dict[str, Any], path: str, kind: str, fmt: str) -> bool:
    """`models.<name>.prompt_cache`: `auto` (the adapter marks cache breakpoints) or `off`."""
    mode = r.string(doc, "prompt_cache", path, "off", choices=("auto", "off"))
    if mode == "auto" and (kind != "chat" or fmt not in MARKED_CACHE_FORMATS):
        raise r.fail(f"{path}.prompt_cache", mode, "only a chat model on a Claude or Bedrock Converse provider ("
                     + ", ".join(MARKED_CACHE_FORMATS) + ") takes it; OpenAI's and Gemini's APIs cache prompt "
                     "prefixes by themselves")
    return mode == "auto"


def _supports(r: Reader, doc: dict[str, Any], path: str, kind: str, fmt: str) -> frozenset[str]:
    """`models.<name>.supports`: exactly the capabilities listed (`[]`: text only); absent or
    null: every one its wire format is known to serve (all but `web_search` on a NO_WEB_SEARCH or
    WEB_SEARCH_OPT_IN format), so a config written before the field routes as it did but for
    searches. An embedding model takes none: it has no messages for a capability to be read from."""
    if doc.get("supports") is None:
        unsure = fmt in NO_WEB_SEARCH or fmt in WEB_SEARCH_OPT_IN
        return ALL_CAPABILITIES - {"web_search"} if unsure else ALL_CAPABILITIES
    if kind != "chat":
        raise r.fail(f"{path}.supports", doc["supports"], "only a chat model takes `supports`")
    names = r.strings(doc, "supports", path)
    for i, name in enumerate(names):
        if name not in CAPABILITIES:
            raise r.fail(f"{path}.supports[{i}]", name, f"unknown capability; expected some of {list(CAPABILITIES)}")
        if name == "web_search" and fmt in NO_WEB_SEARCH:
            raise r.fail(f"{path}.supports[{i}]", name, NO_WEB_SEARCH[fmt])
    return frozenset(names)


def _key(r: Reader, i: int, doc: Any, known: set[str], gone: dict[str, str],
         guardrails: dict[str, GuardPolicy]) -> ApiKey:
    path = f"keys[{i}]"
    doc = r.mapping(doc, path, required=True)
    r.known(doc, path, {"name", "sha256", "rpm", "tpm", "daily_budget_usd", "allowed_models", "priority",
                        "default_task", "guardrail"})
    allowed = r.strings(doc, "allowed_models", path)
    for j, model in enumerate(allowed):
        if model not in known and model not in gone:
            raise r.fail(f"{path}.allowed_models[{j}]", model, "unknown model, pool or route")
    default_task = doc.get("default_task")
    if default_task is not None and default_task not in TASKS:
        raise r.fail(f"{path}.default_task", default_task, f"expected one of {list(TASKS)}")
    return ApiKey(
        name=r.string(doc, "name", path), sha256=sha256_hex(r, doc.get("sha256"), f"{path}.sha256"),
        rpm=r.number(doc, "rpm", path, 0, integer=True), tpm=r.number(doc, "tpm", path, 0, integer=True),
        daily_budget_micro=usd_to_micro(r.number(doc, "daily_budget_usd", path, 0.0)),
        allowed_models=frozenset(allowed),
        priority=r.string(doc, "priority", path, choices=PRIORITIES) if "priority" in doc else None,
        default_task=default_task, guardrail=guardrail_name(r, doc, path, guardrails),
    )


def parse_config(doc: Any, source: str = "<config>", env: dict[str, str] | None = None, *,
                 need_keys: bool = True, written: Any = None) -> Config:
    """Validate a parsed YAML document and build the frozen Config. `need_keys=False` (operator
    commands that call no provider) accepts unset provider keys; `written` is the document as
    written, before ${VAR} expansion, for the config hash."""
    env = dict(os.environ) if env is None else env
    r = Reader(source)
    doc = r.mapping(doc, "<root>", required=True)
    r.known(doc, "<root>", {"server", "state", "budget", "breaker", "providers", "models", "routes",
                            "default_route", "embedding_route", "keys", "admin_key_sha256", "housekeeping",
                            "admin", "metrics", "responses", "cache", "admin_keys", "pools", "tracing", "guardrails",
                            "default_guardrail", "batch"})
    sdoc = r.mapping(doc.get("server"), "server")
    r.known(sdoc, "server", set(Server.__slots__))
    base = Server()
    server = Server(
        max_body_bytes=r.number(sdoc, "max_body_bytes", "server", base.max_body_bytes, minimum=1024, integer=True),
        request_timeout_s=r.number(sdoc, "request_timeout_s", "server", base.request_timeout_s, minimum=0.01),
        attempt_budget=r.number(sdoc, "attempt_budget", "server", base.attempt_budget, minimum=1, integer=True),
        reservation_ttl_s=r.number(sdoc, "reservation_ttl_s", "server", base.reservation_ttl_s, minimum=1,
                                   integer=True),
        default_max_output_tokens=r.number(sdoc, "default_max_output_tokens", "server",
                                           base.default_max_output_tokens, minimum=1, integer=True),
        body_read_timeout_s=r.number(sdoc, "body_read_timeout_s", "server", base.body_read_timeout_s, minimum=0.01),
        max_header_bytes=r.number(sdoc, "max_header_bytes", "server", base.max_header_bytes, minimum=1024,
                                  integer=True),
        max_headers=r.number(sdoc, "max_headers", "server", base.max_headers, minimum=8, integer=True),
        header_timeout_s=r.number(sdoc, "header_timeout_s", "server", base.header_timeout_s, minimum=0.1),
        keep_alive_s=r.number(sdoc, "keep_alive_s", "server", base.keep_alive_s, minimum=0.1),
        max_connections=r.number(sdoc, "max_connections", "server", base.max_connections, minimum=16, integer=True),
    )
    stdoc = r.mapping(doc.get("state"), "state")
    r.known(stdoc, "state", set(StateSettings.__slots__))
    sbase = StateSettings()
    state = StateSettings(
        prefix=r.string(stdoc, "prefix", "state", sbase.prefix),
        timeout_ms=r.number(stdoc, "timeout_ms", "state", sbase.timeout_ms, minimum=1, integer=True),
        retention_days=r.number(stdoc, "retention_days", "state", sbase.retention_days, minimum=1, integer=True),
        ledger_maxlen=r.number(stdoc, "ledger_maxlen", "state", sbase.ledger_maxlen, minimum=100, integer=True),
        fold_interval_ms=r.number(stdoc, "fold_interval_ms", "state", sbase.fold_interval_ms, minimum=0, integer=True),
        on_failure_rate_limits=r.string(stdoc, "on_failure_rate_limits", "state", sbase.on_failure_rate_limits,
                                        choices=("fail_open", "fail_closed")),
        on_failure_breakers=r.string(stdoc, "on_failure_breakers", "state", sbase.on_failure_breakers,
                                     choices=("fail_open", "fail_closed")),
        on_failure_budgets=r.string(stdoc, "on_failure_budgets", "state", sbase.on_failure_budgets,
                                    choices=("auto", "fail_open", "fail_closed")),
        replicas=r.number(stdoc, "replicas", "state", sbase.replicas, minimum=1, integer=True),
        journal_dir=r.string(stdoc, "journal_dir", "state") if stdoc.get("journal_dir") is not None else None,
        health_check_s=r.number(stdoc, "health_check_s", "state", sbase.health_check_s, minimum=0),
        **{f: _path(r, stdoc, f) for f in ("tls_ca_file", "tls_cert_file", "tls_key_file")},
        tls_cert_reqs=r.string(stdoc, "tls_cert_reqs", "state", sbase.tls_cert_reqs,
                               choices=("required", "optional", "none")),
        tls_check_hostname=read_bool(r, stdoc, "tls_check_hostname", "state", sbase.tls_check_hostname),
        unready_after_s=r.number(stdoc, "unready_after_s", "state", sbase.unready_after_s, minimum=0.1),
    )
    if any(c in state.prefix for c in "{} "):
        raise r.fail("state.prefix", state.prefix, "must not contain braces or spaces")
    budget = parse_budget(r, doc.get("budget"))
    hdoc = r.mapping(doc.get("housekeeping"), "housekeeping")
    r.known(hdoc, "housekeeping", set(Housekeeping.__slots__))
    hbase = Housekeeping()
    housekeeping = Housekeeping(**{
        f: r.number(hdoc, f, "housekeeping", getattr(hbase, f), minimum=0.01 if f != "inflation_min_requests" else 1,
                    integer=f == "inflation_min_requests") for f in Housekeeping.__slots__})
    brdoc = r.mapping(doc.get("breaker"), "breaker")
    r.known(brdoc, "breaker", {"failures", "window_s", "cooldown_s", "max_cooldown_s", "probe_lease_s",
                               "min_sources", "auth_cooldown_s", "throttle_s", "max_throttle_s"})
    breaker = Breaker(
        failures=r.number(brdoc, "failures", "breaker", 5, minimum=1, integer=True),
        window_ms=round(1000 * r.number(brdoc, "window_s", "breaker", 30, minimum=0.001)),
        cooldown_ms=round(1000 * r.number(brdoc, "cooldown_s", "breaker", 10, minimum=0.001)),
        max_cooldown_ms=round(1000 * r.number(brdoc, "max_cooldown_s", "breaker", 300, minimum=0.001)),
        probe_lease_ms=round(1000 * r.number(brdoc, "probe_lease_s", "breaker", 30, minimum=0.001)),
        min_sources=r.number(brdoc, "min_sources", "breaker", 2, minimum=1, integer=True),
        auth_cooldown_ms=round(1000 * r.number(brdoc, "auth_cooldown_s", "breaker", 600, minimum=0.001)),
        throttle_ms=round(1000 * r.number(brdoc, "throttle_s", "breaker", 1, minimum=0.001)),
        max_throttle_ms=round(1000 * r.number(brdoc, "max_throttle_s", "breaker", 60, minimum=0.001)),
    )
    pdoc = r.mapping(doc.get("providers"), "providers", required=True)
    providers, left_out, warnings = {}, {}, []
    for name, p in pdoc.items():
        try:
            providers[name] = parse_provider(r, name, p, env, need_keys)
        except LeftOut as exc:
            left_out[name] = str(exc)
    mdoc = r.mapping(doc.get("models"), "models", required=True)
    if not mdoc:
        raise r.fail("models", mdoc, "at least one model is required")
    gone = {name: left_out[m["provider"]] for name, m in mdoc.items()
            if isinstance(m, dict) and m.get("provider") in left_out}
    for name, key_env in left_out.items():
        models = [m for m in gone if mdoc[m]["provider"] == name]
        warnings.append(f"{source}: provider {name} left out ({key_env} is not set)"
                        + (f" with its models {', '.join(models)}" if models else ""))
    deployments = {name: _deployment(r, name, m, providers) for name, m in mdoc.items() if name not in gone}
    if not deployments:
        raise ConfigError(f"{source}: every provider is left out: set at least one of "
                          f"{', '.join(sorted(set(left_out.values())))}")
    pools = parse_pools(r, doc.get("pools"), deployments, gone)
    guardrails = parse_guardrails(r, doc.get("guardrails"))
    rdoc = r.mapping(doc.get("routes"), "routes")
    routes = {}
    for name, rt in rdoc.items():
        if name in deployments or name in gone:
            raise r.fail(f"routes.{name}", name, "a route may not share its name with a model or a pool")
        if name in pools:
            raise r.fail(f"routes.{name}", name, "a route may not share its name with a pool")
        rt = prune_route(source, name, rt, gone)
        if rt is None:
            warnings.append(f"{source}: route {name} left out (every model of it is)")
            continue
        routes[name] = parse_route(r, name, rt, deployments, pools, guardrails)
    default_route = doc.get("default_route", "auto" if "auto" in routes else next(iter(routes), None))
    if default_route not in routes:
        raise r.fail("default_route", default_route, f"must name a route; defined: {sorted(routes)}")
    for name, dep in deployments.items():
        if dep.kind == "embedding" and dep.provider.format in NO_EMBEDDINGS:
            raise r.fail(f"models.{name}.kind", "embedding", NO_EMBEDDINGS[dep.provider.format])
    check_media(r, deployments, routes)
    embedding_route = doc.get("embedding_route", "embeddings" if "embeddings" in routes else None)
    if embedding_route is not None and embedding_route not in routes and embedding_route in rdoc:
        embedding_route = None  # an optional route, left out: no embeddings until a key is set
    if embedding_route is not None:
        if embedding_route not in routes:
            raise r.fail("embedding_route", embedding_route, f"must name a route; defined: {sorted(routes)}")
        for model in {m for chain in (routes[embedding_route].default, *routes[embedding_route].tasks.values())
                      for m in chain.models}:
            if deployments[model].kind != "embedding":
                raise r.fail(f"routes.{embedding_route}", model, "the embedding route names a chat model")
    kdoc = doc.get("keys") or []
    if not isinstance(kdoc, list):
        raise r.fail("keys", kdoc, "expected a list")
    keys = tuple(_key(r, i, k, {*deployments, *routes, *pools}, gone, guardrails) for i, k in enumerate(kdoc))
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise r.fail("keys", names, "key names must be unique")
    admin_auth, metrics = _admin_auth(r, doc.get("admin")), _metrics(r, doc.get("metrics"))
    admin = doc.get("admin_key_sha256")
    return Config(warnings=tuple(warnings),
        source=source, hash=config_hash(doc, written), server=server, state=state, budget=budget, breaker=breaker,
        providers=providers, deployments=deployments, routes=routes, default_route=default_route, keys=keys,
        admin_key_sha256=sha256_hex(r, admin, "admin_key_sha256") if admin is not None else None,
        embedding_route=embedding_route, housekeeping=housekeeping, admin=admin_auth, metrics=metrics,
        responses=_responses(r, doc.get("responses")), cache=_cache(r, doc.get("cache")),
        admin_keys=_admin_keys(r, doc.get("admin_keys")), pools=pools, tracing=parse_tracing(r, doc.get("tracing")),
        guardrails=guardrails, default_guardrail=guardrail_name(r, doc, "<root>", guardrails, "default_guardrail"),
        batch=_batch(r, doc.get("batch"), server),
    )


def _responses(r: Reader, doc: Any) -> ResponseStorage:
    doc = r.mapping(doc, "responses")
    r.known(doc, "responses", set(ResponseStorage.__slots__))
    base, enabled = ResponseStorage(), read_bool(r, doc, "enabled", "responses", False)
    return ResponseStorage(
        enabled=enabled, ttl_s=r.number(doc, "ttl_s", "responses", base.ttl_s, minimum=1, integer=True),
        max_response_bytes=r.number(doc, "max_response_bytes", "responses", base.max_response_bytes, minimum=1024,
                                    integer=True),
        max_key_bytes=r.number(doc, "max_key_bytes", "responses", base.max_key_bytes, minimum=1024, integer=True))


def _batch(r: Reader, doc: Any, server: Server) -> BatchSettings:
    doc = r.mapping(doc, "batch")
    r.known(doc, "batch", set(BatchSettings.__slots__))
    base, p = BatchSettings(), "batch"
    out = BatchSettings(
        enabled=read_bool(r, doc, "enabled", p, False),
        concurrency=r.number(doc, "concurrency", p, base.concurrency, minimum=1, integer=True),
        poll_interval_s=r.number(doc, "poll_interval_s", p, base.poll_interval_s, minimum=0.01),
        lease_s=r.number(doc, "lease_s", p, base.lease_s, minimum=1),
        max_file_bytes=r.number(doc, "max_file_bytes", p, base.max_file_bytes, minimum=1024, integer=True),
        max_lines=r.number(doc, "max_lines", p, base.max_lines, minimum=1, integer=True),
        file_ttl_s=r.number(doc, "file_ttl_s", p, base.file_ttl_s, minimum=60, integer=True),
        output_ttl_s=r.number(doc, "output_ttl_s", p, base.output_ttl_s, minimum=60, integer=True))
    if out.lease_s <= server.request_timeout_s:  # a line still running would lose its chunk to another worker
        raise r.fail("batch.lease_s", out.lease_s, f"must be longer than server.request_timeout_s "
                     f"({server.request_timeout_s:g}): a chunk is held that long past its last result")
    return out


def _cache(r: Reader, doc: Any) -> ResponseCache:
    doc = r.mapping(doc, "cache")
    r.known(doc, "cache", set(ResponseCache.__slots__))
    base, enabled = ResponseCache(), read_bool(r, doc, "enabled", "cache", False)
    return ResponseCache(
        enabled=enabled, ttl_s=r.number(doc, "ttl_s", "cache", base.ttl_s, minimum=1, integer=True),
        max_bytes=r.number(doc, "max_bytes", "cache", base.max_bytes, minimum=1024, integer=True),
        scope=r.string(doc, "scope", "cache", base.scope, CACHE_SCOPES))


def _admin_keys(r: Reader, doc: Any) -> tuple[AdminKey, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise r.fail("admin_keys", doc, "expected a list of {name, sha256, scope}")
    out = []
    for i, item in enumerate(doc):
        path = f"admin_keys[{i}]"
        item = r.mapping(item, path, required=True)
        r.known(item, path, {"name", "sha256", "scope"})
        out.append(AdminKey(r.string(item, "name", path), sha256_hex(r, item.get("sha256"), f"{path}.sha256"),
                            r.string(item, "scope", path, choices=("read", "write")) if "scope" in item else "read"))
    return tuple(out)


def _admin_auth(r: Reader, doc: Any) -> AdminAuth:
    doc = r.mapping(doc, "admin")
    r.known(doc, "admin", set(AdminAuth.__slots__))
    base = AdminAuth()
    header = doc.get("client_ip_header")
    return AdminAuth(
        failures_per_client=r.number(doc, "failures_per_client", "admin", base.failures_per_client, minimum=1,
                                     integer=True),
        failures_total=r.number(doc, "failures_total", "admin", base.failures_total, minimum=1, integer=True),
        window_s=r.number(doc, "window_s", "admin", base.window_s, minimum=0.001),
        client_ip_header=r.string(doc, "client_ip_header", "admin").lower() if header is not None else None,
    )


def _metrics(r: Reader, doc: Any) -> MetricsSettings:
    doc = r.mapping(doc, "metrics")
    r.known(doc, "metrics", set(MetricsSettings.__slots__))
    per_key = read_bool(r, doc, "per_key", "metrics", False)
    token = doc.get("token_sha256")
    return MetricsSettings(token_sha256=sha256_hex(r, token, "metrics.token_sha256") if token is not None else None,
                           per_key=per_key)


# Where a provider is reached (not how requests are decided): often ${VAR}s of the shell or the
# pod (a port, a proxy), so they stay out of the hash as expanded and count only as written.
_CONNECTION = ("base_url", "proxy", "ca_file", "headers", "api_key_env", "credentials_file")


def config_hash(doc: dict[str, Any], written: Any = None) -> str:
    """The config as written plus the expanded values that change decisions: two replicas of the
    same file agree even when their shells set a provider's port or proxy differently."""
    providers = doc.get("providers") if isinstance(doc.get("providers"), dict) else {}
    decisions = {**doc, "providers": {n: {k: v for k, v in p.items() if k not in _CONNECTION}
                                      if isinstance(p, dict) else p for n, p in providers.items()}}
    decisions.pop("tracing", None)  # where spans go decides nothing (and its headers may hold a secret)
    both = [doc if written is None else written, decisions]
    return hashlib.sha256(orjson.dumps(both, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: dict[str, str], source: str) -> str:
    """Replace ${NAME} and ${NAME:-default} so one file serves several environments (ports, URLs)."""

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name, default)
        if value is None:
            raise ConfigError(f"{source}: ${{{name}}} is used but the environment variable is not set")
        return value

    return _ENV_REF.sub(sub, text)


def load_config(path: str | Path, env: dict[str, str] | None = None, *, need_keys: bool = True) -> Config:
    """Read and validate a YAML config file (`need_keys=False`: unset provider keys are fine)."""
    source = str(path)
    env = dict(os.environ) if env is None else env
    try:
        raw = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    text = expand_env(raw, env, source)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    try:
        written = yaml.safe_load(raw)
    except yaml.YAMLError:
        written = None
    return parse_config(doc, source, env, need_keys=need_keys, written=written)
