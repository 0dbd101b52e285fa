"""Where the state engine is and how to reach it: one reading of REDIS_URL and the `state`
config for both clients, the hot path's pipelined connection (resp.py) and redis-py (admin reads,
script loading, the CLI), so they never disagree on TLS, keepalive, health checks or the master.

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS), `unix:///path?db=N`,
and `redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]` (or
`rediss+sentinel://`: TLS to the sentinels and the master) whose sentinels are asked for the
master's address at every (re)connect. TLS options as redis-py reads them from the query string
(`ssl_cert_reqs=none|optional|required`, `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`,
`ssl_check_hostname`) win over the config's `state.tls_*`; sentinel credentials are
`sentinel_username` / `sentinel_password` query parameters.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.net.egress import KEEPALIVE_COUNT, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
KEEPALIVE_OPTIONS = {socket.TCP_KEEPIDLE: KEEPALIVE_IDLE_S, socket.TCP_KEEPINTVL: KEEPALIVE_INTERVAL_S,
                     socket.TCP_KEEPCNT: KEEPALIVE_COUNT} if hasattr(socket, "TCP_KEEPIDLE") else {}


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def seeds(url: str) -> list[str]:
    """REDIS_URL as a list: several comma-separated cluster seeds, or one URL (a sentinel URL's
    commas separate its sentinels)."""
    return [url] if is_sentinel(url) else [u.strip() for u in url.split(",") if u.strip()]


def redis_client(url: str, settings: Any = None, **kw: Any) -> Any:
    """redis-py for an operator command (spend, status, audit): the first seed of a cluster
    list, else the engine or the sentinels' master, with the same TLS options as the gateway."""
    return parse_endpoint(seeds(url)[0], settings).redis_py(**kw)


@dataclass(frozen=True, slots=True)
class Tls:
    cert_reqs: str = "required"
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        """Built as redis-py's RedisSSLContext builds it: the system's CAs plus `ca_certs`."""
        context = ssl.create_default_context()
        context.check_hostname = self.check_hostname and self.cert_reqs != "none"
        context.verify_mode = CERT_REQS[self.cert_reqs]
        if self.certfile or self.keyfile:
            context.load_cert_chain(certfile=self.certfile or "", keyfile=self.keyfile)
        if self.ca_certs:
            context.load_verify_locations(cafile=self.ca_certs)
        return context

    def redis_kwargs(self) -> dict[str, Any]:
        return {"ssl_cert_reqs": self.cert_reqs, "ssl_ca_certs": self.ca_certs, "ssl_certfile": self.certfile,
                "ssl_keyfile": self.keyfile, "ssl_check_hostname": self.check_hostname}


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None              # a unix socket
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: Tls | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    health_check_s: float = 30.0

    def redis_kwargs(self) -> dict[str, Any]:
        """What redis-py needs besides the URL: TLS, keepalive, the idle health check."""
        kw: dict[str, Any] = {"health_check_interval": self.health_check_s}
        if self.path is None:
            kw.update(socket_keepalive=True, socket_keepalive_options=KEEPALIVE_OPTIONS)
        if self.tls is not None:
            kw.update(self.tls.redis_kwargs())
        return kw

    def redis_py(self, **kw: Any) -> Any:
        """A redis.asyncio client for this endpoint (a Sentinel-managed one for sentinel URLs)."""
        import redis.asyncio as aioredis
        from redis.asyncio.sentinel import Sentinel

        kw = {**kw, **self.redis_kwargs()}
        if not self.sentinels:
            return aioredis.Redis.from_url(self.url, **kw)  # its query options win, as they do in parse_endpoint
        if self.tls is not None:
            kw["ssl"] = True
        sentinel_kw = {k: v for k, v in kw.items() if k.startswith(("ssl", "socket_"))}
        sentinel_kw.update(username=self.sentinel_username, password=self.sentinel_password)
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=sentinel_kw, **kw)
        return sentinel.master_for(self.service, username=self.username, password=self.password, db=self.db)

    def handshake(self) -> list[list[bytes]]:
        """AUTH and SELECT, as redis-py sends them; ROLE last on a sentinel-found master."""
        commands: list[list[bytes]] = []
        if self.password is not None:
            user = [self.username.encode()] if self.username else []
            commands.append([b"AUTH", *user, self.password.encode()])
        if self.db:
            commands.append([b"SELECT", str(self.db).encode()])
        if self.sentinels:
            commands.append([b"ROLE"])
        return commands

    async def master(self, timeout_s: float) -> tuple[str, int]:
        """Ask each sentinel in turn for the master's address (the first that knows wins)."""
        if not self.sentinels:
            return self.host, self.port
        last = "no sentinel answered"
        context = self.tls.context() if self.tls is not None else None
        for host, port in self.sentinels:
            try:
                async with asyncio.timeout(timeout_s):
                    reply = await _ask_sentinel(host, port, context, self)
            except (OSError, TimeoutError, ValueError) as exc:
                last = f"sentinel {host}:{port}: {type(exc).__name__}"
                continue
            if isinstance(reply, list) and len(reply) == 2:
                return reply[0].decode(), int(reply[1])
            last = f"sentinel {host}:{port} does not know master {self.service!r}"
        raise RedisConnectionError(f"cannot find the state engine's master: {last}")


async def _ask_sentinel(host: str, port: int, context: ssl.SSLContext | None, ep: Endpoint) -> Any:
    reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host if context else None)
    try:
        commands: list[list[bytes]] = []
        if ep.sentinel_password is not None:
            user = [ep.sentinel_username.encode()] if ep.sentinel_username else []
            commands.append([b"AUTH", *user, ep.sentinel_password.encode()])
        commands.append([b"SENTINEL", b"get-master-addr-by-name", ep.service.encode()])
        writer.write(b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in c)
                              for c in commands))
        parser = hiredis.Reader()
        replies: list[Any] = []
        while len(replies) < len(commands):
            data = await reader.read(65536)
            if not data:
                raise ValueError("sentinel closed the connection")
            parser.feed(data)
            while (reply := parser.gets()) is not False:
                replies.append(reply)
        if any(isinstance(r, hiredis.ReplyError) for r in replies):
            raise ValueError("sentinel refused the command")
        return replies[-1]
    finally:
        writer.close()


def _host_port(item: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or a bare host (port 26379, the sentinel's)."""
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 26379
    host, sep, port = item.rpartition(":")
    return (host, int(port)) if sep else (item, 26379)


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on", "y")


def parse_endpoint(url: str, settings: Any = None) -> Endpoint:
    """REDIS_URL plus the `state` config (StateSettings, or None for the defaults)."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    query = {k: unquote(v[0]) for k, v in parse_qs(u.query).items() if v}
    tls = None
    if scheme in ("rediss", "rediss+sentinel"):
        base = Tls(getattr(settings, "tls_cert_reqs", "required"), getattr(settings, "tls_ca_file", None),
                   getattr(settings, "tls_cert_file", None), getattr(settings, "tls_key_file", None),
                   getattr(settings, "tls_check_hostname", True))
        reqs = query.get("ssl_cert_reqs", base.cert_reqs).lower()
        if reqs not in CERT_REQS:
            raise ValueError(f"ssl_cert_reqs must be one of {sorted(CERT_REQS)}, not {reqs!r}")
        tls = Tls(reqs, query.get("ssl_ca_certs", base.ca_certs), query.get("ssl_certfile", base.certfile),
                  query.get("ssl_keyfile", base.keyfile),
                  _flag(query["ssl_check_hostname"]) if "ssl_check_hostname" in query else base.check_hostname)
    elif scheme not in ("redis", "unix", "redis+sentinel"):
        raise ValueError(f"unsupported state URL scheme {scheme!r} (redis, rediss, unix, redis+sentinel)")
    parts = [p for p in u.path.split("/") if p]
    common: dict[str, Any] = dict(
        url=url, username=unquote(u.username) if u.username else None,
        password=unquote(u.password) if u.password is not None else None, tls=tls,
        health_check_s=float(query.get("health_check_interval", getattr(settings, "health_check_s", 30.0))))
    if scheme == "unix":
        return Endpoint(path=u.path, db=int(query.get("db", 0)), **common)
    if scheme in SENTINEL_SCHEMES:
        sentinels = [_host_port(item.strip()) for item in u.netloc.rsplit("@", 1)[-1].split(",")]
        if not parts:
            raise ValueError("a redis+sentinel:// URL names the master's service: redis+sentinel://host:26379/mymaster")
        return Endpoint(sentinels=tuple(sentinels), service=parts[0], db=int(query.get("db", parts[1] if len(parts) > 1 else 0)),
                        sentinel_username=query.get("sentinel_username"), sentinel_password=query.get("sentinel_password"),
                        **common)
    return Endpoint(host=u.hostname or "127.0.0.1", port=u.port or 6379,
                    db=int(query.get("db", parts[0] if parts else 0)), **common)
