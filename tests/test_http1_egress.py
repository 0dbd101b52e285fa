"""gateway.net.http1's way out: the per-origin connection cap and its FIFO queue, TCP keepalive on
upstream sockets, TLS with a CA given by config, and real proxying through Debian's tinyproxy
(absolute-form for http origins, CONNECT tunnels for https, Basic proxy credentials, NO_PROXY)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest

from gateway.net.egress import KEEPALIVE_IDLE_S, Egress
from gateway.net.http1 import Client, HTTPError
from gateway.net.pool import Origin
from tests.egress_helpers import make_certs, needs_tinyproxy, start_tinyproxy
from tests.test_http1 import read_request

CT = HT = 2.0


class Origin200:
    """An HTTP/1.1 server (optionally TLS) that answers each request when told to, in order,
    and records which connection each request came on and in which order they arrived."""

    def __init__(self, hold: bool = False, context: ssl.SSLContext | None = None) -> None:
        self.hold = hold
        self.context = context
        self.release = asyncio.Event()
        self.arrived: list[tuple[int, bytes]] = []  # (connection number, request line)
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> "Origin200":
        self.server = await asyncio.start_server(self._on, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/x") -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}{path}"

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.writers.append(writer)
        try:
            while (req := await read_request(reader)) is not None:
                self.arrived.append((number, req.line))
                if self.hold:
                    await self.release.wait()
                body = req.line
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        for w in self.writers:
            w.close()


@asynccontextmanager
async def serving(server: Origin200, client: Client) -> AsyncIterator[tuple[Origin200, Client]]:
    """`server` started for `client`; the client closed and the server stopped at the end."""
    await server.start()
    try:
        yield server, client
    finally:
        client.close()
        await server.stop()


async def fetch(client: Client, url: str, egress: Egress | None = None) -> bytes:
    resp = await client.request("GET", url, {}, b"", connect_timeout=CT, head_timeout=HT, egress=egress)
    body = await resp.read(asyncio.get_running_loop().time() + 5, 5, 1 << 20)
    assert resp.status == 200
    resp.release()
    return body


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# ------------------------------------------------------------------------------ the connection cap

async def test_a_burst_opens_at_most_the_cap_and_everyone_is_served():
    async with serving(Origin200(hold=True), Client(default=Egress(max_connections=3), env={})) as (server, client):
        calls = [asyncio.create_task(fetch(client, server.url(f"/{i}"))) for i in range(20)]
        await until(lambda: len(server.arrived) == 3)
        origin = client._target(server.url())[0]
        assert (origin.open, len(origin.waiters)) == (3, 17)  # 17 queue instead of connecting
        server.release.set()
        bodies = await asyncio.gather(*calls)
        assert sorted(bodies) == sorted(f"GET /{i} HTTP/1.1".encode() for i in range(20))
        assert server.connections == 3
        assert (origin.open, len(origin.idle), len(origin.waiters)) == (3, 3, 0)


async def test_the_queue_is_first_come_first_served():
    async with serving(Origin200(hold=True), Client(default=Egress(max_connections=1), env={})) as (server, client):
        first = asyncio.create_task(fetch(client, server.url("/first")))
        await until(lambda: len(server.arrived) == 1)
        waiting = []
        for i in range(6):  # each is queued before the next one asks
            waiting.append(asyncio.create_task(fetch(client, server.url(f"/{i}"))))
            await until(lambda: len(client._target(server.url())[0].waiters) == i + 1)
        server.release.set()
        await asyncio.gather(first, *waiting)
        assert [line for _, line in server.arrived] == [b"GET /first HTTP/1.1"] + [
            f"GET /{i} HTTP/1.1".encode() for i in range(6)]
        assert {number for number, _ in server.arrived} == {1}  # one connection, handed down the queue


async def test_waiting_for_a_connection_is_bounded_by_the_head_timeout():
    async with serving(Origin200(hold=True), Client(default=Egress(max_connections=1), env={})) as (server, client):
        busy = asyncio.create_task(fetch(client, server.url("/busy")))
        await until(lambda: len(server.arrived) == 1)
        with pytest.raises(HTTPError) as info:
            await client.request("GET", server.url("/late"), {}, b"", connect_timeout=CT, head_timeout=0.1)
        assert info.value.kind == "pool_timeout"
        origin = client._target(server.url())[0]
        assert (origin.open, len(origin.waiters)) == (1, 0)  # the timed-out waiter left the queue
        server.release.set()
        await busy
        assert await fetch(client, server.url("/after")) == b"GET /after HTTP/1.1"


async def test_a_closed_connection_frees_its_slot_for_the_next_in_line():
    async def close_after_answer(reader, writer):
        await read_request(reader)
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(close_after_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    client = Client(default=Egress(max_connections=1), env={})
    try:
        assert await asyncio.gather(*(fetch(client, url) for _ in range(4))) == [b"ok"] * 4
        origin = client._target(url)[0]
        await until(lambda: origin.open == 0)
    finally:
        client.close()
        server.close()


async def test_failed_connects_give_their_slots_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connection refused
    client = Client(default=Egress(max_connections=1), env={})
    url = f"http://127.0.0.1:{port}/"
    for _ in range(3):
        results = await asyncio.gather(*(client.request("GET", url, {}, b"", connect_timeout=CT, head_timeout=HT)
                                         for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, HTTPError) and r.kind == "connect" for r in results)
    assert client._target(url)[0].open == 0


class FakeConn:
    closed = False

    def abort(self) -> None:
        self.closed = True


async def test_a_waiter_cancelled_as_it_is_served_passes_the_connection_on():
    origin = Origin("http", "h", 80, None, None, limit=1)
    assert origin.reserve()
    first, second = (asyncio.create_task(origin.wait()) for _ in range(2))
    await asyncio.sleep(0)
    conn = FakeConn()
    origin.put(conn, 0.0)  # served...
    first.cancel()         # ...and cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is conn
    third = asyncio.create_task(origin.wait())
    await asyncio.sleep(0)
    origin.closed_one()  # the slot goes to the third waiter, which is cancelled before it runs
    third.cancel()
    with pytest.raises(asyncio.CancelledError):
        await third
    assert origin.open == 0 and not origin.waiters


# ------------------------------------------------------------------------------ keepalive, TLS

async def test_upstream_sockets_have_tcp_keepalive():
    async with serving(Origin200(), Client(env={})) as (server, client):
        await fetch(client, server.url())
        conn = client._target(server.url())[0].idle[-1][1]
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def server_context(certs) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    return ctx


async def test_tls_verified_against_the_configured_ca_and_refused_without_it(certs):
    server = await Origin200(context=server_context(certs)).start()
    try:
        trusted = Client(env={})
        assert await fetch(trusted, server.url("/ok"), Egress(ca_file=str(certs.ca))) == b"GET /ok HTTP/1.1"
        trusted.close()
        system = Client(env={})  # the system trust store does not know our CA: verification fails
        with pytest.raises(HTTPError) as info:
            await fetch(system, server.url("/no"))
        assert info.value.kind == "connect"
        system.close()
    finally:
        await server.stop()


# ------------------------------------------------------------------------------ through tinyproxy

@pytest.fixture(scope="module")
def proxies(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tinyproxy")
    open_proxy = start_tinyproxy(tmp)
    auth_proxy = start_tinyproxy(tmp, user="alice", password="s3cr3t")
    yield open_proxy, auth_proxy
    open_proxy.stop()
    auth_proxy.stop()


@needs_tinyproxy
async def test_http_origin_through_the_proxy_in_absolute_form(proxies):
    open_proxy, _ = proxies
    async with serving(Origin200(), Client(env={"HTTP_PROXY": open_proxy.url()})) as (server, client):
        body = await fetch(client, server.url("/via?q=1"))
        assert body.startswith(b"GET /via?q=1 HTTP/1.")  # what the proxy sent the origin
        assert f"GET http://127.0.0.1:{server.port}/via?q=1" in open_proxy.requests()


@needs_tinyproxy
async def test_https_origin_through_a_connect_tunnel_with_proxy_auth(proxies, certs):
    _, auth_proxy = proxies
    server = await Origin200(context=server_context(certs)).start()
    egress = Egress(proxy=auth_proxy.url("alice", "s3cr3t"), ca_file=str(certs.ca))
    client = Client(env={"HTTPS_PROXY": "http://127.0.0.1:1"})  # the provider's own proxy wins
    try:
        assert await fetch(client, server.url("/a"), egress) == b"GET /a HTTP/1.1"  # the origin's own bytes
        assert await fetch(client, server.url("/b"), egress) == b"GET /b HTTP/1.1"
        assert auth_proxy.requests().count(f"CONNECT 127.0.0.1:{server.port}") == 1  # the tunnel is kept alive
        assert server.connections == 1
    finally:
        client.close()
        await server.stop()


@needs_tinyproxy
async def test_refused_proxy_credentials_are_a_connect_error_without_the_password(proxies, certs):
    _, auth_proxy = proxies
    server = await Origin200(context=server_context(certs)).start()
    tunnel = Client(env={})
    wrong = Egress(proxy=auth_proxy.url("alice", "wrong-pw"), ca_file=str(certs.ca))
    with pytest.raises(HTTPError) as info:  # tinyproxy answers a wrong password on CONNECT with 401
        await tunnel.request("GET", server.url("/"), {}, b"", connect_timeout=CT, head_timeout=HT, egress=wrong)
    assert info.value.kind == "connect" and "refused the tunnel: HTTP/1.0 40" in str(info.value)
    assert "wrong-pw" not in str(info.value) and "alice" not in str(info.value)
    plain = Client(env={"HTTP_PROXY": auth_proxy.url()})  # no credentials: 407 on an absolute-form request
    with pytest.raises(HTTPError) as info:
        await plain.request("GET", f"http://127.0.0.1:{server.port}/", {}, b"", connect_timeout=CT, head_timeout=HT)
    assert info.value.kind == "connect" and "refused the request: 407" in str(info.value)
    for client in (tunnel, plain):
        client.close()
    await server.stop()


@needs_tinyproxy
async def test_no_proxy_bypasses_the_environment_proxy(proxies):
    open_proxy, _ = proxies
    env = {"http_proxy": open_proxy.url(), "no_proxy": "localhost,127.0.0.0/8"}
    async with serving(Origin200(), Client(env=env)) as (server, client):
        before = len(open_proxy.requests())
        assert await fetch(client, server.url("/direct")) == b"GET /direct HTTP/1.1"
        assert len(open_proxy.requests()) == before
        assert server.arrived[0][1] == b"GET /direct HTTP/1.1"
