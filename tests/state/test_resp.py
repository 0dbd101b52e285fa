"""gateway.state.resp: the pipelined RESP connection of the hot path.

Against the session's real engine (reply types, pipelining under concurrency, error replies,
NOSCRIPT, CLIENT PAUSE / CLIENT KILL, ACL AUTH and SELECT) and against tiny fake RESP servers
started in the test, whose answers (late, never, closed socket) and received commands are under
the test's control."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import hiredis
import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.state.resp import RespConnection, bulk, pack
from tests.loopback import LoopbackServer, closed_port, started_servers, until


# ---------------------------------------------------------------------------------------- fake server

CLOSE = object()  # close the socket instead of answering
HANG = object()  # never answer this (nor anything after it on the connection)

Reply = Callable[[list[bytes], int], Awaitable[object]]


async def default_reply(cmd: list[bytes], index: int) -> object:
    name = cmd[0].upper()
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"ECHO":
        return bulk(cmd[1])
    if name in (b"AUTH", b"SELECT"):
        return b"+OK\r\n"
    if name == b"SLOW":  # SLOW seconds: answers +OK late (and so everything behind it)
        await asyncio.sleep(float(cmd[1]))
        return b"+OK\r\n"
    if name == b"CLOSE":
        return CLOSE
    if name == b"HANG":
        return HANG
    return b"-ERR unknown command\r\n"


@dataclass
class FakeResp(LoopbackServer):
    reply: Reply = default_reply
    logs: list[list[list[bytes]]] = field(default_factory=list)  # commands received, per connection

    @property
    def accepted(self) -> int:
        return len(self.logs)

    def url(self, auth: str = "", db: str = "") -> str:
        return f"redis://{auth}127.0.0.1:{self.port}{db}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.logs)
        log: list[list[bytes]] = []
        self.logs.append(log)
        parser = hiredis.Reader()
        while data := await reader.read(65536):
            parser.feed(data)
            while (cmd := parser.gets()) is not False:
                log.append(cmd)
                out = await self.reply(cmd, index)
                if out is CLOSE:
                    return
                if out is HANG:
                    await asyncio.Event().wait()
                writer.write(out)  # type: ignore[arg-type]


@pytest.fixture
async def fake():
    async with started_servers() as start:
        yield lambda reply=default_reply: start(FakeResp(reply))


@pytest.fixture
async def opened():
    """RespConnection factory; every connection is closed at the end of the test."""
    conns: list[RespConnection] = []

    def make(url: str, timeout_s: float = 2.0, connect_timeout_s: float = 1.0) -> RespConnection:
        c = RespConnection(url, timeout_s, connect_timeout_s)
        conns.append(c)
        return c

    yield make
    for c in conns:
        await c.close()


@pytest.fixture
def key():
    return f"resp-test:{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------- encoding


def test_pack_and_bulk():
    assert pack([b"SET", b"k", b"v"]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert pack([]) == b"*0\r\n"
    assert pack([b""]) == b"*1\r\n$0\r\n\r\n"
    assert pack([b"a\r\nb\0"]) == b"*1\r\n$5\r\na\r\nb\0\r\n"
    assert bulk(b"EVALSHA") == b"$7\r\nEVALSHA\r\n"
    # a command is exactly what a RESP parser reads back
    reader = hiredis.Reader()
    parts = [b"EVALSHA", b"0" * 40, b"2", b"k\r\n1", b"", bytes(range(256))]
    reader.feed(pack(parts))
    assert reader.gets() == parts
    assert reader.gets() is False


# ---------------------------------------------------------------------------------------- real engine


async def test_reply_types(redis_url, opened, key):
    conn = opened(redis_url)
    assert await conn.execute("PING") == b"PONG"
    assert await conn.execute("SET", key, "v") == b"OK"
    assert await conn.execute("GET", key) == b"v"
    assert await conn.execute("GET", key + ":missing") is None
    assert await conn.execute("INCR", key + ":n") == 1
    assert await conn.execute("INCRBY", key + ":n", 41) == 42
    assert await conn.execute("RPUSH", key + ":l", "a", "b", "") == 3
    assert await conn.execute("LRANGE", key + ":l", 0, -1) == [b"a", b"b", b""]
    assert await conn.execute("LRANGE", key + ":missing", 0, -1) == []
    assert await conn.execute("EVAL", "return {1, {2, 'x'}, 'ok', false}", 0) == [1, [2, b"x"], b"ok", None]
    assert await conn.execute("EVAL", "return redis.status_reply('FINE')", 0) == b"FINE"
    assert await conn.execute("DEL", key, key + ":n", key + ":l") == 3


async def test_binary_values_and_pre_packed_calls(redis_url, opened, key):
    conn = opened(redis_url)
    value = b"\r\n$3\r\n*1\0" + bytes(range(256)) * 4096  # 1 MiB, with RESP framing bytes inside
    assert await conn.call(pack([b"SET", key.encode(), value])) == b"OK"
    assert await conn.call(pack([b"GET", key.encode()])) == value
    assert await conn.execute("STRLEN", key) == len(value)
    assert await conn.execute("SET", key, "é") == b"OK"  # str parts go out as UTF-8
    assert await conn.execute("GET", key) == "é".encode()
    await conn.execute("DEL", key)


async def test_many_concurrent_calls_get_their_own_replies(redis_url, opened, key):
    conn = opened(redis_url)
    n = 500
    incrs = [conn.execute("INCR", key) for _ in range(n)]
    echoes = [conn.execute("ECHO", f"caller-{i}-{uuid.uuid4().hex}") for i in range(n)]
    expected = [f"caller-{i}-" for i in range(n)]
    mixed = [c for pair in zip(incrs, echoes) for c in pair]
    results = await asyncio.gather(*mixed)
    counts, echoed = results[0::2], results[1::2]
    assert sorted(counts) == list(range(1, n + 1))
    assert counts == sorted(counts)  # one connection: the engine ran them in the order they were sent
    for prefix, reply in zip(expected, echoed):
        assert reply.decode().startswith(prefix) and len(reply) == len(prefix) + 32
    assert len(set(echoed)) == n
    assert await conn.execute("GET", key) == str(n).encode()
    await conn.execute("DEL", key)


async def test_concurrent_calls_from_many_tasks(redis_url, opened, key):
    conn = opened(redis_url)

    async def worker(w: int) -> list[tuple[int, bytes]]:
        out = []
        for i in range(20):
            token = f"{w}:{i}"
            out.append((await conn.execute("HINCRBY", key, f"w{w}", 1), await conn.execute("ECHO", token)))
            assert out[-1] == (i + 1, token.encode())
        return out

    await asyncio.gather(*(worker(w) for w in range(25)))
    assert await conn.execute("HLEN", key) == 25
    await conn.execute("DEL", key)


async def test_error_reply_raises_and_connection_keeps_working(redis_url, opened, key):
    conn = opened(redis_url)
    await conn.execute("SET", key, "not a number")
    with pytest.raises(ResponseError, match="not an integer"):
        await conn.execute("INCR", key)
    with pytest.raises(ResponseError, match="(?i)unknown command"):
        await conn.execute("NO-SUCH-COMMAND")
    assert await conn.execute("GET", key) == b"not a number"
    # an error among pipelined calls fails only its own caller
    results = await asyncio.gather(conn.execute("ECHO", "a"), conn.execute("INCR", key), conn.execute("ECHO", "b"),
                                   return_exceptions=True)
    assert results[0] == b"a" and results[2] == b"b"
    assert isinstance(results[1], ResponseError) and not isinstance(results[1], NoScriptError)
    assert await conn.execute("PING") == b"PONG"
    await conn.execute("DEL", key)


async def test_noscript(redis_url, opened, key):
    conn = opened(redis_url)
    script = f"return '{key}'"
    sha = hashlib.sha1(script.encode()).hexdigest()
    with pytest.raises(NoScriptError):
        await conn.execute("EVALSHA", "f" * 40, 0)
    with pytest.raises(ResponseError):  # NoScriptError is a ResponseError: callers catching either work
        await conn.execute("EVALSHA", "f" * 40, 0)
    assert await conn.execute("SCRIPT", "LOAD", script) == sha.encode()
    assert await conn.execute("EVALSHA", sha, 0) == key.encode()


async def test_late_reply_during_client_pause_is_dropped(redis_url, opened, key):
    conn = opened(redis_url, timeout_s=0.05)
    other = opened(redis_url, timeout_s=2.0)
    client_id = await conn.execute("CLIENT", "ID")
    assert await other.execute("CLIENT", "PAUSE", 200, "ALL") == b"OK"
    with pytest.raises(RedisTimeoutError):
        await conn.execute("INCR", key)
    assert await other.execute("PING") == b"PONG"  # answered once the pause is over
    # the late reply to the first INCR (1) is dropped; this call gets its own reply
    assert await conn.execute("INCR", key) == 2
    assert await conn.execute("ECHO", "in step") == b"in step"
    assert await conn.execute("CLIENT", "ID") == client_id  # the same socket: a late reply does not kill it
    await conn.execute("DEL", key)


async def test_killed_connection_fails_pending_call_and_reconnects(redis_url, opened, key):
    conn = opened(redis_url, timeout_s=3.0)
    other = opened(redis_url)
    client_id = await conn.execute("CLIENT", "ID")
    pending = asyncio.ensure_future(conn.execute("BLPOP", key, 2))
    for _ in range(400):
        if b"cmd=blpop" in await other.execute("CLIENT", "LIST", "ID", client_id):
            break
        await asyncio.sleep(0.005)
    assert await other.execute("CLIENT", "KILL", "ID", client_id) == 1
    with pytest.raises(RedisConnectionError):
        await pending
    new_id = await conn.execute("CLIENT", "ID")
    assert new_id != client_id
    assert await conn.execute("ECHO", "back") == b"back"


async def test_acl_user_auth_and_select_from_url(redis_url, opened, key):
    admin = opened(redis_url)
    user = f"u{uuid.uuid4().hex[:8]}"
    assert await admin.execute("ACL", "SETUSER", user, "on", ">s3cr@t", "~*", "&*", "+@all") == b"OK"
    try:
        base = redis_url.rsplit("/", 1)[0]  # redis://127.0.0.1:port
        conn = opened(base.replace("redis://", f"redis://{user}:s3cr%40t@") + "/2")
        assert await conn.execute("ACL", "WHOAMI") == user.encode()
        assert await conn.execute("SET", key, "in db 2") == b"OK"
        with redis.Redis.from_url(base + "/2") as db2, redis.Redis.from_url(base + "/0") as db0:
            assert db2.get(key) == b"in db 2"
            assert db0.get(key) is None
            db2.delete(key)
    finally:
        await admin.execute("ACL", "DELUSER", user)


async def test_wrong_password_never_runs_commands(redis_url, opened, key):
    admin = opened(redis_url)
    user = f"u{uuid.uuid4().hex[:8]}"
    await admin.execute("ACL", "SETUSER", user, "on", ">right", "~*", "&*", "+@all")
    try:
        base = redis_url.rsplit("/", 1)[0]
        conn = opened(base.replace("redis://", f"redis://{user}:wrong@") + "/3")
        with pytest.raises(RedisError):
            await conn.execute("ACL", "WHOAMI")
        try:
            whoami = await conn.execute("ACL", "WHOAMI")
        except RedisError:
            whoami = None
        assert whoami is None, f"ran as {whoami!r} after a failed AUTH"
    finally:
        await admin.execute("ACL", "DELUSER", user)


# ---------------------------------------------------------------------------------------- fake servers


async def test_handshake_auth_and_select_from_url(fake, opened):
    server = await fake()
    cases = [
        (server.url(":pw@", "/2"), [[b"AUTH", b"pw"], [b"SELECT", b"2"]]),
        (server.url("alice:p%40ss@", "/0"), [[b"AUTH", b"alice", b"p@ss"]]),
        (server.url(":pw@"), [[b"AUTH", b"pw"]]),
        (server.url("", "/5"), [[b"SELECT", b"5"]]),
        (server.url("", "/"), []),
        (server.url(), []),
    ]
    for i, (url, handshake) in enumerate(cases):
        conn = opened(url)
        assert await conn.execute("PING") == b"PONG"
        assert server.logs[i] == handshake + [[b"PING"]], url
    assert server.accepted == len(cases)


async def test_many_first_calls_share_one_connection_and_handshake(fake, opened):
    server = await fake()
    conn = opened(server.url(":pw@", "/2"))
    replies = await asyncio.gather(*(conn.execute("ECHO", str(i)) for i in range(50)))
    assert replies == [str(i).encode() for i in range(50)]
    assert server.accepted == 1
    log = server.logs[0]
    assert log[:2] == [[b"AUTH", b"pw"], [b"SELECT", b"2"]]
    assert sorted(log[2:]) == sorted([b"ECHO", str(i).encode()] for i in range(50))


async def test_call_during_handshake_runs_after_select(fake, opened):
    auth_seen = asyncio.Event()

    async def reply(cmd, index):
        if cmd[0] == b"AUTH":
            auth_seen.set()
            await asyncio.sleep(0.05)
        return await default_reply(cmd, index)

    server = await fake(reply)
    conn = opened(server.url(":pw@", "/2"))
    first = asyncio.ensure_future(conn.execute("ECHO", "first"))
    await asyncio.wait_for(auth_seen.wait(), 1.0)
    assert await conn.execute("ECHO", "second") == b"second"
    assert await first == b"first"
    log = server.logs[0]
    assert log.index([b"SELECT", b"2"]) < log.index([b"ECHO", b"second"]), log


async def test_handshake_timeout_does_not_leave_connection_on_wrong_db(fake, opened):
    async def reply(cmd, index):
        if cmd[0] == b"AUTH" and index == 0:
            await asyncio.sleep(0.2)  # slower than the call timeout, once
        return await default_reply(cmd, index)

    server = await fake(reply)
    conn = opened(server.url(":pw@", "/2"), timeout_s=0.1, connect_timeout_s=0.1)
    with pytest.raises(RedisError):  # the handshake timed out: the socket is dropped, not kept
        await conn.execute("PING")
    await asyncio.sleep(0.15)  # the late +OK to AUTH arrives
    assert await conn.execute("ECHO", "x") == b"x"
    log = next(log for log in server.logs if [b"ECHO", b"x"] in log)
    assert [b"SELECT", b"2"] in log[:log.index([b"ECHO", b"x"])], log


async def test_timed_out_call_keeps_socket_and_replies_stay_in_step(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=0.5)  # the ECHOs below have 0.4 s after the late reply
    assert await conn.execute("PING") == b"PONG"
    with pytest.raises(RedisTimeoutError):
        await conn.execute("SLOW", "0.6")
    # the +OK of SLOW arrives late, while these are waiting, and is dropped: each gets its own reply
    results = await asyncio.gather(*(conn.execute("ECHO", f"e{i}") for i in range(10)))
    assert results == [f"e{i}".encode() for i in range(10)]
    assert await conn.execute("PING") == b"PONG"
    assert server.accepted == 1


async def test_calls_behind_a_slow_one_time_out_too_then_recover(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=0.1)
    results = await asyncio.gather(conn.execute("SLOW", "0.2"), conn.execute("ECHO", "behind"),
                                   return_exceptions=True)
    assert all(isinstance(r, RedisTimeoutError) for r in results)
    await asyncio.sleep(0.15)
    assert await conn.execute("ECHO", "after") == b"after"
    assert server.accepted == 1


async def test_cancelled_caller_keeps_replies_in_step(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=1.0)
    slow = asyncio.ensure_future(conn.execute("SLOW", "0.05"))
    await until(lambda: server.accepted == 1 and server.logs[0])
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert await conn.execute("ECHO", "mine") == b"mine"
    assert server.accepted == 1


async def test_never_answering_server_times_out_then_socket_is_dropped(fake, opened):
    async def reply(cmd, index):
        if index == 0:
            return HANG  # the first connection is dead silent
        return await default_reply(cmd, index)

    server = await fake(reply)
    conn = opened(server.url(), timeout_s=0.25)
    timeouts = 0
    result = None
    for _ in range(10):  # silence for max(1 s, 4 timeouts) aborts the socket; the next call reconnects
        try:
            result = await conn.execute("PING")
            break
        except RedisTimeoutError:
            timeouts += 1
        except RedisConnectionError:
            pass
    assert result == b"PONG"
    assert timeouts >= 1
    assert server.accepted == 2


async def test_late_reply_after_idle_keeps_socket(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=0.3)
    assert await conn.execute("PING") == b"PONG"
    await asyncio.sleep(1.1)  # idle: nothing asked, so nothing answered
    slow = asyncio.ensure_future(conn.execute("SLOW", "0.4"))
    await asyncio.sleep(0.2)
    behind = asyncio.ensure_future(conn.execute("ECHO", "behind"))  # answered at ~0.4 s, due by ~0.5 s
    with pytest.raises(RedisTimeoutError):
        await slow
    assert await behind == b"behind"
    assert server.accepted == 1


async def test_server_closing_socket_fails_pending_calls_and_next_call_reconnects(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=1.0)
    assert await conn.execute("PING") == b"PONG"
    results = await asyncio.gather(conn.execute("CLOSE"), conn.execute("ECHO", "lost"), return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    assert await conn.execute("ECHO", "again") == b"again"
    assert server.accepted == 2
    assert server.logs[1] == [[b"ECHO", b"again"]]


async def test_connect_to_closed_port(opened):
    conn = opened(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.2, connect_timeout_s=0.5)
    with pytest.raises(RedisConnectionError):
        await conn.execute("PING")
    with pytest.raises(RedisConnectionError):
        await conn.connect()
    with pytest.raises(RedisConnectionError):  # every attempt fails the same way, nothing is left half-open
        await conn.call(pack([b"PING"]))


async def test_close_then_call_reconnects(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=1.0)
    assert await conn.execute("PING") == b"PONG"
    await conn.close()
    await conn.close()  # twice is fine
    assert await conn.execute("ECHO", "reopened") == b"reopened"
    assert server.accepted == 2


async def test_error_replies_from_fake_server(fake, opened):
    async def reply(cmd, index):
        if cmd[0] == b"EVALSHA":
            return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        if cmd[0] == b"BAD":
            return b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        return await default_reply(cmd, index)

    server = await fake(reply)
    conn = opened(server.url())
    with pytest.raises(NoScriptError):
        await conn.execute("EVALSHA", "a" * 40, 0)
    with pytest.raises(ResponseError, match="WRONGTYPE") as err:
        await conn.execute("BAD")
    assert not isinstance(err.value, NoScriptError)
    assert await conn.execute("ECHO", "fine") == b"fine"


async def test_engine_that_never_answers_still_times_out_on_a_healthy_loop(fake, opened):
    server = await fake()
    conn = opened(server.url(), timeout_s=0.1)
    with pytest.raises(RedisTimeoutError):
        await conn.execute("SLOW", "1.0")


def test_timeout_clock_counts_a_loop_stall_as_two_ticks():
    class Clock:
        t = 100.0

        def time(self) -> float:
            return self.t

    loop = Clock()
    conn = RespConnection("redis://127.0.0.1:1", timeout_s=0.2)
    tick = conn._tick()
    conn._clock, conn._last_sweep = 5.0, 100.0
    loop.t = 100.0 + tick  # a sweep on time: the clock follows real time
    assert conn._now(loop) == pytest.approx(5.0 + tick)
    loop.t = 100.0 + 3.0  # a 3 s stall of the worker's loop counts as two ticks only
    assert conn._now(loop) == pytest.approx(5.0 + 2 * tick)


def test_handshake_reads_the_database_from_path_or_query_like_redis_py():
    from gateway.state.endpoint import parse_endpoint

    def _handshake(url: str) -> list:
        return parse_endpoint(url).handshake()

    assert _handshake("redis://h:6379/2") == [[b"SELECT", b"2"]]
    assert _handshake("unix:///tmp/engine.sock?db=3") == [[b"SELECT", b"3"]]
    assert _handshake("unix:///tmp/engine.sock") == []
    assert _handshake("redis://:pw@h:6379/0") == [[b"AUTH", b"pw"]]
