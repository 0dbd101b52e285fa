"""An Amazon Bedrock provider's AWS settings (`format: bedrock`, Converse, and `bedrock_anthropic`,
Claude through InvokeModel: the same service, so the same fields): its region, and where the SigV4
credentials are read from.

A Bedrock provider authenticates one of two ways: with a Bedrock API key (`api_key_env`, sent as a
bearer token), or, when `api_key_env` is null, by signing every request with AWS Signature V4 from
an access key, a secret key and an optional session token, each read from an environment variable
(the usual AWS names by default). The region is read from the config, or from a
`bedrock-runtime.<region>.amazonaws.com` base URL.

A chat deployment of either (`format: bedrock`, Converse's `guardrailConfig`; `bedrock_anthropic`,
InvokeModel's guardrail headers) may name a guardrail (`models.<name>.bedrock.guardrail`) that
every call of it is checked by, and a latency (`models.<name>.bedrock.latency`: `optimized` asks
for the latency-optimized version of the model): `parse_bedrock`.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config.model import AWS_FORMATS, AwsAuth, Guardrail, LeftOut
from gateway.config.reader import Reader

FIELDS = ("aws_region", "aws_access_key_env", "aws_secret_key_env", "aws_session_token_env")
DEFAULT_ENV = {"aws_access_key_env": "AWS_ACCESS_KEY_ID", "aws_secret_key_env": "AWS_SECRET_ACCESS_KEY",
               "aws_session_token_env": "AWS_SESSION_TOKEN"}
CLAUDE_ID = re.compile(r"(?:^|[./])anthropic\.claude")  # a Claude model id, profile or ARN on Bedrock
# Bedrock's own patterns for GuardrailConfiguration (the API reference)
_GUARDRAIL_ID = re.compile(r"^(?:[a-z0-9]+|arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+)$")
_GUARDRAIL_VERSION = re.compile(r"^(?:[1-9][0-9]{0,7}|DRAFT)$")
LATENCIES = ("standard", "optimized")  # Bedrock's PerformanceConfigLatency
_REGION_IN_URL = re.compile(r"^https?://bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


def parse_aws(r: Reader, doc: dict[str, Any], path: str, fmt: str, base_url: str, env: dict[str, str], *,
              bearer: bool, need_keys: bool, optional: bool) -> AwsAuth | None:
    """The AwsAuth of a Bedrock provider (None for any other format, which may not set these
    fields). With `bearer` (an API key is configured) no credentials are read."""
    if fmt not in AWS_FORMATS:
        for name in FIELDS:
            if name in doc:
                raise r.fail(f"{path}.{name}", doc[name], "only a Bedrock provider (`bedrock`, `bedrock_anthropic`) "
                             "takes AWS settings")
        return None
    found = _REGION_IN_URL.match(base_url)
    region = r.string(doc, "aws_region", path, found.group(1) if found else None)
    if bearer:
        return AwsAuth(region)
    values: dict[str, str | None] = {}
    for name, default in DEFAULT_ENV.items():
        var = r.string(doc, name, path, default)
        values[name] = env.get(var) or None
        if values[name] is None and name != "aws_session_token_env" and need_keys:
            if optional:
                raise LeftOut(var)
            raise r.fail(f"{path}.{name}", var, "environment variable is not set (SigV4 signing needs it when "
                         "api_key_env is null)")
    return AwsAuth(region, values["aws_access_key_env"], values["aws_secret_key_env"],
                   values["aws_session_token_env"])


def parse_bedrock(r: Reader, doc: Any, path: str, fmt: str, kind: str) -> tuple[Guardrail | None, str | None]:
    """A deployment's `bedrock` options: (its guardrail, its latency), each None when unset. Only
    a chat model of a Bedrock provider (Converse's `guardrailConfig` and `performanceConfig`,
    InvokeModel's guardrail and performance headers) may set them."""
    if doc is None:
        return None, None
    doc = r.mapping(doc, f"{path}.bedrock")
    if fmt not in AWS_FORMATS or kind != "chat":
        raise r.fail(f"{path}.bedrock", doc, "only a chat model of a Bedrock provider (`bedrock`, "
                     "`bedrock_anthropic`) takes Bedrock options")
    r.known(doc, f"{path}.bedrock", {"guardrail", "latency"})
    latency = r.string(doc, "latency", f"{path}.bedrock", choices=LATENCIES) if "latency" in doc else None
    return _guardrail(r, doc.get("guardrail"), f"{path}.bedrock.guardrail"), latency


def _guardrail(r: Reader, doc: Any, where: str) -> Guardrail | None:
    if doc is None:
        return None
    g = r.mapping(doc, where)
    r.known(g, where, {"id", "version", "trace", "stream_processing_mode"})
    ident = r.string(g, "id", where)
    if not _GUARDRAIL_ID.match(ident):
        raise r.fail(f"{where}.id", ident, "expected a guardrail id (lowercase letters and digits) or its ARN")
    version = g.get("version")
    version = str(version) if isinstance(version, int) and not isinstance(version, bool) else version
    if not isinstance(version, str) or not _GUARDRAIL_VERSION.match(version):
        raise r.fail(f"{where}.version", g.get("version"), "expected a version number (1, 2, ...) or DRAFT")
    trace = r.string(g, "trace", where, choices=("enabled", "disabled", "enabled_full")) if "trace" in g else None
    mode = r.string(g, "stream_processing_mode", where, choices=("sync", "async")) \
        if "stream_processing_mode" in g else None
    return Guardrail(ident, version, trace, mode)
