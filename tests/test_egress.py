"""gateway.net.egress: proxy URLs, the proxy variables as urllib reads them, NO_PROXY, the keepalive
options on a real socket, and the per-provider config options."""

from __future__ import annotations

import socket

import pytest

from gateway.config import ConfigError
from gateway.config.parse import parse_config
from gateway.net.egress import (
    KEEPALIVE_COUNT, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, EnvProxies, Egress, choose_proxy, parse_no_proxy,
    parse_proxy, set_keepalive,
)


def test_proxy_url_with_credentials_becomes_basic_auth():
    p = parse_proxy("http://us%40er:p%3Ass@proxy.corp:3128")
    assert (p.host, p.port) == ("proxy.corp", 3128)
    assert p.authorization == "Basic dXNAZXI6cDpzcw=="  # base64("us@er:p:ss")
    assert "p:ss" not in repr(p) and "dXNA" not in repr(p)  # credentials never in a log line


@pytest.mark.parametrize("url, host, port", [
    ("proxy.corp:8080", "proxy.corp", 8080),  # no scheme: http, as requests reads it
    ("http://proxy.corp", "proxy.corp", 80),
    ("http://[fd00::1]:3128", "fd00::1", 3128),
])
def test_proxy_url_forms(url, host, port):
    p = parse_proxy(url)
    assert (p.host, p.port, p.authorization) == (host, port, None)


@pytest.mark.parametrize("url, why", [
    ("socks5://proxy:1080", "only http://"), ("https://proxy:443", "only http://"), ("http://:3128", "no host"),
    ("http://proxy:notaport", "invalid port"),
])
def test_unsupported_proxy_urls_are_refused(url, why):
    with pytest.raises(ValueError, match=why):
        parse_proxy(url)


@pytest.mark.parametrize("entry, host, port, bypassed", [
    ("*", "api.openai.com", 443, True),
    ("openai.com", "openai.com", 443, True),
    ("openai.com", "api.openai.com", 443, True),      # subdomains too
    ("openai.com", "notopenai.com", 443, False),      # not a mere suffix
    (".openai.com", "api.openai.com", 443, True),
    (".openai.com", "openai.com", 443, True),         # curl: a leading dot changes nothing
    ("*.openai.com", "api.openai.com", 443, True),
    ("OpenAI.COM", "api.openai.com", 443, True),      # case-insensitive
    ("10.0.0.0/8", "10.1.2.3", 80, True),             # CIDR
    ("10.0.0.0/8", "11.1.2.3", 80, False),
    ("127.0.0.1", "127.0.0.1", 9100, True),
    ("127.0.0.1", "127.0.0.2", 9100, False),
    ("::1", "::1", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("[::1]:8080", "::1", 8081, False),
    ("internal:8443", "internal", 8443, True),        # host:port
    ("internal:8443", "internal", 443, False),
    ("a.com, b.com  c.com", "x.c.com", 443, True),    # comma and space separated
    ("", "api.openai.com", 443, False),
])
def test_no_proxy(entry, host, port, bypassed):
    assert parse_no_proxy(entry).matches(host, port) is bypassed


def test_env_variables_lower_case_first_and_all_proxy_fallback():
    env = EnvProxies.from_env({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2",
                               "ALL_PROXY": "http://every:3", "NO_PROXY": "internal"})
    assert env.for_origin("https", "api.openai.com", 443).host == "lower"
    assert env.for_origin("http", "api.openai.com", 80).host == "every"  # no HTTP_PROXY: ALL_PROXY
    assert env.for_origin("https", "internal", 443) is None
    # an empty lower-case variable switches the upper-case one off, as in urllib.getproxies()
    assert EnvProxies.from_env({"HTTPS_PROXY": "http://upper:1", "https_proxy": ""}).https is None
    assert EnvProxies.from_env({}).for_origin("https", "x", 443) is None


def test_bad_env_proxy_names_the_variable():
    with pytest.raises(ValueError, match="HTTPS_PROXY / https_proxy: unsupported proxy scheme 'socks5'"):
        EnvProxies.from_env({"HTTPS_PROXY": "socks5://p:1080"})


def test_provider_proxy_overrides_the_environment_and_none_disables_it():
    env = EnvProxies.from_env({"HTTPS_PROXY": "http://envproxy:1", "NO_PROXY": "api.example.com"})
    assert choose_proxy(Egress(), env, "https", "x.com", 443).host == "envproxy"
    assert choose_proxy(Egress(proxy=""), env, "https", "x.com", 443) is None
    own = choose_proxy(Egress(proxy="http://own:8"), env, "https", "api.example.com", 443)
    assert own.host == "own"  # NO_PROXY is for the environment's proxy only


def test_keepalive_options_on_a_tcp_socket():
    with socket.socket() as sock:
        set_keepalive(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == KEEPALIVE_INTERVAL_S
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPALIVE_COUNT
    with socket.socket(socket.AF_UNIX) as sock:
        set_keepalive(sock)  # nothing to do on a unix socket, and no error
        set_keepalive(None)


def provider_config(extra: str) -> dict:
    import yaml

    return yaml.safe_load(f"""
providers:
  p:
    format: openai
    base_url: https://api.example.com/v1
    api_key_env: null
{extra}
models:
  m: {{provider: p, price: {{input: 1, output: 1}}}}
routes:
  auto: {{primary: m}}
""")


def test_config_egress_defaults():
    e = parse_config(provider_config("")).providers["p"].egress
    assert (e.proxy, e.ca_file, e.max_connections) == (None, None, 100)


@pytest.mark.parametrize("value, expected", [("none", ""), ("''", ""), ("null", ""),
                                             ("http://u:pw@proxy:3128", "http://u:pw@proxy:3128")])
def test_config_proxy(value, expected):
    p = parse_config(provider_config(f"    proxy: {value}\n    max_connections: 7")).providers["p"]
    assert (p.egress.proxy, p.egress.max_connections) == (expected, 7)
    assert "pw" not in repr(p) and "pw" not in repr(p.egress)


@pytest.mark.parametrize("extra, message", [
    ("    proxy: socks5://u:secret@p:1080", "only http:// proxies"),
    ("    ca_file: /nonexistent/ca.pem", "cannot load a CA bundle"),
    ("    max_connections: 0", "max_connections"),
])
def test_config_egress_errors(extra, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(provider_config(extra))
    assert "secret" not in str(info.value)


def test_config_ca_file_is_loaded(tmp_path):
    from tests.egress_helpers import make_certs

    certs = make_certs(tmp_path)
    assert parse_config(provider_config(f"    ca_file: {certs.ca}")).providers["p"].egress.ca_file == str(certs.ca)
    with pytest.raises(ConfigError, match="cannot load a CA bundle"):
        parse_config(provider_config(f"    ca_file: {certs.server_key}"))

