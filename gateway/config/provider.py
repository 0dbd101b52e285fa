"""A `providers.<name>` section: wire format, URL, key, timeouts, quirks, egress (proxy, CA
bundle, pool size), and the AWS or Vertex credentials of those formats."""

from __future__ import annotations

import ssl
from typing import Any

from gateway.config.aws import FIELDS as AWS_FIELDS, parse_aws
from gateway.config.model import WIRE_FORMATS, LeftOut, Provider, Quirks, Timeouts
from gateway.config.reader import Reader
from gateway.config.vertex import VERTEX_FIELDS, default_base_url, parse_vertex
from gateway.net.egress import Egress, parse_proxy


def parse_provider(r: Reader, name: str, doc: Any, env: dict[str, str], need_keys: bool = True) -> Provider:
    path = f"providers.{name}"
    doc = r.mapping(doc, path, required=True)
    r.known(doc, path, {"format", "base_url", "api_key_env", "headers", "api_version", "timeouts", "max_retries",
                        "quirks", "proxy", "ca_file", "max_connections", "optional", *AWS_FIELDS} | VERTEX_FIELDS)
    optional = read_bool(r, doc, "optional", path, False)
    fmt = r.string(doc, "format", path, choices=WIRE_FORMATS)
    vertex = parse_vertex(r, doc, path, fmt, env, need_keys, optional)
    base_url = r.string(doc, "base_url", path, default_base_url(vertex.location) if vertex else None).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise r.fail(f"{path}.base_url", base_url, "expected an http:// or https:// URL")
    key_env = doc.get("api_key_env")
    api_key = None
    if key_env is not None:
        if not isinstance(key_env, str) or not key_env:
            raise r.fail(f"{path}.api_key_env", key_env, "expected an environment variable name or null")
        api_key = env.get(key_env)
        if not api_key and optional and need_keys:
            raise LeftOut(key_env)
        if not api_key and need_keys:
            raise r.fail(f"{path}.api_key_env", key_env, "environment variable is not set")
    headers = r.mapping(doc.get("headers"), f"{path}.headers")
    tdoc = r.mapping(doc.get("timeouts"), f"{path}.timeouts")
    r.known(tdoc, f"{path}.timeouts", {"connect_s", "first_byte_s", "idle_s", "total_s"})
    base = Timeouts()
    timeouts = Timeouts(**{f: r.number(tdoc, f, f"{path}.timeouts", getattr(base, f), minimum=0.001)
                           for f in ("connect_s", "first_byte_s", "idle_s", "total_s")})
    api_version = doc.get("api_version")
    if fmt == "azure" and not api_version:
        raise r.fail(f"{path}.api_version", api_version, "Azure OpenAI needs an api_version")
    qdoc = r.mapping(doc.get("quirks"), f"{path}.quirks")
    r.known(qdoc, f"{path}.quirks", {"stream_usage", "max_tokens_field", "drop_fields", "custom_tools",
                                     "reasoning_content", "extra_content"})
    stream_usage, custom_tools = qdoc.get("stream_usage", True), qdoc.get("custom_tools", True)
    reasoning_content, extra_content = qdoc.get("reasoning_content", False), qdoc.get("extra_content", False)
    for flag, value in (("stream_usage", stream_usage), ("custom_tools", custom_tools),
                        ("reasoning_content", reasoning_content), ("extra_content", extra_content)):
        if not isinstance(value, bool):
            raise r.fail(f"{path}.quirks.{flag}", value, "expected true or false")
    quirks = Quirks(
        stream_usage=stream_usage,
        max_tokens_field=r.string(qdoc, "max_tokens_field", f"{path}.quirks",
                                  choices=("max_tokens", "max_completion_tokens"))
        if qdoc.get("max_tokens_field") is not None else None,
        drop_fields=r.strings(qdoc, "drop_fields", f"{path}.quirks"), custom_tools=custom_tools,
        reasoning_content=reasoning_content, extra_content=extra_content,
    )
    aws = parse_aws(r, doc, path, fmt, base_url, env, bearer=key_env is not None, need_keys=need_keys,
                    optional=optional)
    return Provider(
        quirks=quirks, aws=aws,
        name=name, format=fmt, base_url=base_url, api_key_env=key_env, api_key=api_key,
        headers=tuple((str(k), str(v)) for k, v in headers.items()), api_version=api_version,
        timeouts=timeouts, max_retries=r.number(doc, "max_retries", path, 1, integer=True),
        egress=Egress(read_proxy(r, doc, path), read_ca_file(r, doc, path),
                      r.number(doc, "max_connections", path, 100, minimum=1, integer=True)),
        vertex=vertex,
    )


def read_proxy(r: Reader, doc: dict, path: str) -> str | None:
    """Absent: from the environment; null, "" or "none": no proxy; else an http:// proxy URL."""
    if "proxy" not in doc:
        return None
    value = doc["proxy"]
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return ""
    if not isinstance(value, str):
        raise r.fail(f"{path}.proxy", value, "expected a proxy URL, or none")
    try:
        parse_proxy(value)
    except ValueError as exc:
        raise r.fail(f"{path}.proxy", "<redacted>" if "@" in value else value, str(exc)) from None
    return value.strip()


def read_bool(r: Reader, doc: dict, name: str, path: str, default: bool) -> bool:
    value = doc.get(name, default)
    if not isinstance(value, bool):
        raise r.fail(f"{path}.{name}", value, "expected true or false")
    return value


def read_ca_file(r: Reader, doc: dict, path: str) -> str | None:
    value = doc.get("ca_file")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise r.fail(f"{path}.ca_file", value, "expected the path of a PEM CA bundle")
    try:
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError) as exc:
        raise r.fail(f"{path}.ca_file", value, f"cannot load a CA bundle from it: {exc}") from None
    return value
