"""How upstream connections leave the process: proxies, trust stores, TCP keepalive.

Many companies allow no way out but an HTTP proxy, so the upstream client reads the variables
the Python HTTP libraries read (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, lower case
first, as urllib's `getproxies()` does for requests and httpx), and a provider may name its own
proxy in the config (`proxy:`; `none` bypasses the environment). Origins behind an https URL are
reached through an HTTP CONNECT tunnel (TLS end to end, the proxy sees only the host name);
plain-http origins are sent absolute-form requests (`POST http://host/path`), as curl, requests
and httpx do, since most proxies allow CONNECT only to port 443. Userinfo in the proxy URL becomes
`Proxy-Authorization: Basic`. Only `http://` proxy URLs are supported.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import Callable, Mapping, TypeVar
from urllib.parse import unquote, urlsplit

# TCP keepalive on every upstream and state socket: first probe after 30 s of silence, then every
# 10 s, dead after 3 unanswered: a peer (or a NAT mapping) that vanished is found within a minute,
# and a quiet connection (a long first-byte wait) keeps its NAT and load-balancer entries alive.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 30, 10, 3


def set_keepalive(sock: socket.socket | None) -> None:
    """SO_KEEPALIVE with the timings above (TCP sockets only; unix sockets have no keepalive)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                        ("TCP_KEEPCNT", KEEPALIVE_COUNT)):
        if hasattr(socket, name):  # Linux; macOS has only TCP_KEEPALIVE (idle), left at its default
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: one pool set per provider, fast lookups
class Egress:
    """One provider's way out. `proxy`: None takes it from the environment, "" never uses one,
    else an http:// proxy URL. `ca_file`: a PEM bundle that replaces the system trust store
    (None: the system's, where OpenSSL honours SSL_CERT_FILE / SSL_CERT_DIR). `max_connections`:
    open connections per origin and worker; more concurrent calls wait their turn, first come
    first served."""

    proxy: str | None = field(default=None, repr=False)  # may hold credentials
    ca_file: str | None = None
    max_connections: int = 100


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # "Basic ...": never in a log line

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """`http://[user:password@]host[:port]` (a bare `host:port` is read as http, like requests)."""
    if "://" not in url:
        url = "http://" + url
    u = urlsplit(url)
    if u.scheme != "http":
        raise ValueError(f"unsupported proxy scheme {u.scheme!r}: only http:// proxies are supported")
    if not u.hostname:
        raise ValueError("proxy URL has no host")
    try:
        port = u.port or 80
    except ValueError:
        raise ValueError("proxy URL has an invalid port") from None
    auth = None
    if u.username is not None:
        pair = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(u.hostname, port, auth)


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name.lower(), env.get(name.upper()))  # lower case wins (even empty), as in urllib
    return (value.strip() or None) if value is not None else None


@dataclass(frozen=True, slots=True)
class _Bypass:
    everything: bool = False
    hosts: tuple[tuple[str, int | None], ...] = ()  # (domain, port): the domain and its subdomains
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def matches(self, host: str, port: int) -> bool:
        if self.everything:
            return True
        host = host.lower().rstrip(".")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and any(ip.version == n.version and ip in n for n in self.networks):
            return True
        return any((host == d or host.endswith("." + d)) and p in (None, port) for d, p in self.hosts)


def parse_no_proxy(value: str | None) -> _Bypass:
    """curl's and httpx's reading: `*`; host names (matching their subdomains too, a leading `.`
    or `*.` changes nothing); `host:port`; IP addresses and CIDR ranges; comma or space separated."""
    hosts: list[tuple[str, int | None]] = []
    networks = []
    for entry in (value or "").replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return _Bypass(everything=True)
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        port: int | None = None
        name = entry
        if entry.startswith("["):  # [v6]:port
            name, _, rest = entry[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        elif entry.count(":") == 1 and entry.rsplit(":", 1)[1].isdigit():
            name, port = entry.rsplit(":", 1)[0], int(entry.rsplit(":", 1)[1])
        hosts.append((name.removeprefix("*").lstrip(".").rstrip("."), port))
    return _Bypass(hosts=tuple(hosts), networks=tuple(networks))


@dataclass(frozen=True, slots=True)
class EnvProxies:
    """The proxy variables of one environment, parsed once (bad values fail at start-up)."""

    http: Proxy | None = None
    https: Proxy | None = None
    bypass: _Bypass = _Bypass()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "EnvProxies":
        found: dict[str, Proxy | None] = {}
        for name in ("http_proxy", "https_proxy", "all_proxy"):
            value = _env(env, name)
            try:
                found[name] = parse_proxy(value) if value else None
            except ValueError as exc:
                raise ValueError(f"{name.upper()} / {name}: {exc}") from None
        everyone = found["all_proxy"]
        return cls(found["http_proxy"] or everyone, found["https_proxy"] or everyone,
                   parse_no_proxy(_env(env, "no_proxy")))

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.bypass.matches(host, port):
            return None
        return proxy


def choose_proxy(egress: Egress, env: EnvProxies, scheme: str, host: str, port: int) -> Proxy | None:
    """A provider's own `proxy:` wins over the environment (NO_PROXY does not apply to it)."""
    if egress.proxy is None:
        return env.for_origin(scheme, host, port)
    return parse_proxy(egress.proxy) if egress.proxy else None


@functools.lru_cache(maxsize=32)
def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates and host names verified; one context per trust store, shared by its origins."""
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


class ProxyRefused(Exception):
    """The proxy answered the CONNECT with something other than 2xx (407: wrong credentials)."""


class _TunnelHead(asyncio.Protocol):
    """Collects the proxy's answer to CONNECT, up to the blank line."""

    def __init__(self) -> None:
        self.buffer = b""
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer and not self.done.done():
            self.done.set_result(self.buffer)
        elif len(self.buffer) > 65536 and not self.done.done():
            self.done.set_exception(ProxyRefused("the proxy's answer to CONNECT is too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ProxyRefused("the proxy closed the connection during CONNECT"))


P = TypeVar("P", bound=asyncio.Protocol)


async def dial(factory: Callable[[], P], host: str, port: int, context: ssl.SSLContext | None,
               proxy: Proxy | None) -> P:
    """A connected protocol: direct, or through `proxy` (a CONNECT tunnel when the origin is
    TLS, a plain connection to the proxy otherwise); TCP keepalive on. The caller bounds the time."""
    loop = asyncio.get_running_loop()
    if proxy is None or context is None:
        target_host, target_port = (proxy.host, proxy.port) if proxy else (host, port)
        transport, protocol = await loop.create_connection(
            factory, target_host, target_port, ssl=context, server_hostname=host if context else None)
        set_keepalive(transport.get_extra_info("socket"))
        return protocol
    raw, head = await loop.create_connection(_TunnelHead, proxy.host, proxy.port)
    set_keepalive(raw.get_extra_info("socket"))
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if proxy.authorization:
            lines += f"Proxy-Authorization: {proxy.authorization}\r\n"
        raw.write((lines + "\r\n").encode("latin-1"))
        answer = await head.done
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].startswith("2"):
            raise ProxyRefused(f"proxy {proxy.address} refused the tunnel: {status_line[:100]}")
        if not answer.endswith(b"\r\n\r\n"):  # bytes past the head: not a clean tunnel
            raise ProxyRefused(f"proxy {proxy.address} sent bytes after its CONNECT answer")
        protocol = factory()
        raw.set_protocol(protocol)
        tls = await loop.start_tls(raw, protocol, context, server_hostname=host)
        protocol.connection_made(tls)
        return protocol
    except BaseException:
        raw.abort()
        raise
