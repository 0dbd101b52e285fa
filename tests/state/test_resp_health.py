"""The state connections' keepalive and idle health check, against the session's real engine:
a connection killed server-side (CLIENT KILL) or silently dropped (a relay that stops forwarding,
as a NAT or load balancer that forgot the flow does) is replaced before the next call fails."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.net.egress import KEEPALIVE_COUNT, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S
from gateway.state.endpoint import parse_endpoint
from gateway.state.resp import RespConnection
from gateway.state.store import StateStore
from tests.egress_helpers import Relay


def keepalive_of(sock: socket.socket) -> tuple[int, int, int, int]:
    return (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))


async def test_both_clients_have_tcp_keepalive_and_the_same_health_check(redis_url):
    store = await StateStore.connect(redis_url, prefix=f"ka{uuid.uuid4().hex[:6]}", timeout_s=1.0)
    try:
        expected = (1, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
        assert keepalive_of(store.scripts.fast._transport.get_extra_info("socket")) == expected
        await store.client.ping()
        conn = store.client.connection_pool._available_connections[0]
        assert keepalive_of(conn._writer.transport.get_extra_info("socket")) == expected
        assert conn.health_check_interval == store.scripts.fast.health_check_s == 30.0
    finally:
        await store.close()


def kill(redis_url: str, client_id: int) -> None:
    """CLIENT KILL from another connection, blocking: the test's event loop does not run, so the
    gateway's connection has not yet seen the close when its next call starts."""
    with redis.Redis.from_url(redis_url) as admin:
        assert admin.client_kill_filter(_id=client_id) == 1


async def test_call_after_client_kill_succeeds_with_the_idle_check(redis_url):
    conn = RespConnection(redis_url, timeout_s=1.0)
    conn.health_check_s = 0.05
    try:
        first_id = await conn.execute("CLIENT", "ID")
        time.sleep(0.1)  # idle past the health check interval (blocking on purpose, see kill())
        kill(redis_url, first_id)
        key = f"hc-{uuid.uuid4().hex}"
        assert await conn.execute("SET", key, "v") == b"OK"  # the PING failed, a new connection took the call
        assert await conn.execute("GET", key) == b"v"
        assert await conn.execute("CLIENT", "ID") != first_id
    finally:
        await conn.close()


async def test_without_the_idle_check_the_call_after_client_kill_fails(redis_url):
    conn = RespConnection(redis_url, timeout_s=1.0)
    conn.health_check_s = 0  # off: what the check saves the caller from
    try:
        kill(redis_url, await conn.execute("CLIENT", "ID"))
        with pytest.raises(RedisConnectionError):
            await conn.execute("PING")
        assert await conn.execute("PING") == b"PONG"  # and the one after reconnects
    finally:
        await conn.close()


@pytest.mark.parametrize("health_check_s", [0.1, 0])
async def test_a_silently_dropped_connection_is_replaced_by_the_idle_check(redis_url, health_check_s):
    ep = parse_endpoint(redis_url)
    relay = await Relay(ep.port).start()
    conn = RespConnection(f"redis://127.0.0.1:{relay.port}/0", timeout_s=0.3)
    conn.health_check_s = health_check_s
    try:
        assert await conn.execute("PING") == b"PONG"
        relay.blackhole()
        await asyncio.sleep(0.2)  # idle past the interval
        if health_check_s:
            assert await conn.execute("PING") == b"PONG"  # after a PING that timed out, on a new flow
            assert relay.accepted == 2
        else:
            with pytest.raises(RedisTimeoutError):
                await conn.execute("PING")  # without it, the caller's own call is what fails
    finally:
        await conn.close()
        await relay.stop()


async def test_concurrent_callers_after_idle_share_one_check(redis_url):
    conn = RespConnection(redis_url, timeout_s=1.0)
    conn.health_check_s = 0.05
    try:
        await conn.execute("PING")
        time.sleep(0.1)
        replies = await asyncio.gather(*(conn.execute("ECHO", str(i)) for i in range(20)))
        assert replies == [str(i).encode() for i in range(20)]
        assert conn._checking is None
    finally:
        await conn.close()
