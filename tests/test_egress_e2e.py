"""The gateway's upstream calls through a real HTTP proxy (Debian's tinyproxy), end to end with
the `openai` SDK: JSON and streams, the environment's HTTP_PROXY and a provider's own `proxy:`
with Basic credentials, NO_PROXY, `proxy: none`, and an https upstream (the simulator behind TLS
with a throwaway CA) through a CONNECT tunnel, its CA given by `ca_file` or SSL_CERT_FILE."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import openai
import pytest

from gateway.state.engine import free_port
from tests.egress_helpers import Tinyproxy, make_certs, needs_tinyproxy, start_tinyproxy
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, ROOT, Proc, sim_calls, start_gateway, start_simulator

pytestmark = needs_tinyproxy
MSGS = [{"role": "user", "content": "Say hello"}]


def start_tls_simulator(tmp: Path, certs) -> Proc:
    """The provider simulator served over TLS by uvicorn with the test CA's server certificate."""
    port = free_port()
    log = tmp / f"tls-simulator-{port}.log"
    code = ("import uvicorn; from gateway.simulator.app import create_app; from gateway.simulator.knobs import "
            f"SimSettings; uvicorn.run(create_app(SimSettings(seed=7)), host='127.0.0.1', port={port}, "
            f"ssl_certfile={str(certs.server_cert)!r}, ssl_keyfile={str(certs.server_key)!r}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 20
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    while True:
        try:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/_sim/stats", timeout=0.5, context=ctx).read()
            return Proc(proc, port, log)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"TLS simulator did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def config(prefix: str, sim: int, tls: int, auth: Tinyproxy, ca: Path) -> str:
    provider = "{{format: openai, base_url: {url}, api_key_env: SIMULATOR_API_KEY{extra}}}"
    plain, secure = f"http://127.0.0.1:{sim}/v1", f"https://127.0.0.1:{tls}/v1"
    providers = {
        "env": provider.format(url=plain, extra=""),
        "auth": provider.format(url=plain, extra=f", proxy: '{auth.url('alice', 's3cr3t')}'"),
        "noauth": provider.format(url=plain, extra=f", proxy: '{auth.url()}'"),
        "direct": provider.format(url=plain, extra=", proxy: none"),
        "tls": provider.format(url=secure, extra=f", ca_file: {ca}"),
        "tlssys": provider.format(url=secure, extra=", proxy: none"),
    }
    lines = "\n".join(f"  {name}: {value}" for name, value in providers.items())
    models = "\n".join(f"  m-{name}: {{provider: {name}, upstream: m-{name}, price: {{input: 1, output: 2}}}}"
                       for name in providers)
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 1}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
{lines}
models:
{models}
routes:
  auto: {{primary: m-env}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def world(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("egress")
    certs = make_certs(tmp)
    sim = start_simulator(tmp)
    tls = start_tls_simulator(tmp, certs)
    open_proxy, auth_proxy = start_tinyproxy(tmp), start_tinyproxy(tmp, "alice", "s3cr3t")
    text = config(f"eg{time.time_ns()}", sim.port, tls.port, auth_proxy, certs.ca)
    env = {"HTTP_PROXY": open_proxy.url(), "HTTPS_PROXY": open_proxy.url(), "NO_PROXY": "", "no_proxy": ""}
    via_proxy = start_gateway(tmp, text, redis_url, env=env)
    # the same config with NO_PROXY for the simulator's address, and the CA in SSL_CERT_FILE
    bypass = start_gateway(tmp, text, redis_url, env={**env, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
                                                      "SSL_CERT_FILE": str(certs.ca)})
    yield {"sim": sim, "tls": tls, "open": open_proxy, "auth": auth_proxy, "gw": via_proxy, "bypass": bypass,
           "certs": certs}
    for proc in (via_proxy, bypass, sim, tls, open_proxy, auth_proxy):
        proc.stop()


def client(gw: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)


def json_and_stream(gw: Proc, model: str) -> None:
    """One JSON completion and one stream through `model`, both whole."""
    reply = client(gw).chat.completions.create(model=model, messages=MSGS)
    assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
    chunks = list(client(gw).chat.completions.create(model=model, messages=MSGS, stream=True,
                                                     stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def posts(proxy: Tinyproxy, port: int) -> int:
    return proxy.requests().count(f"POST http://127.0.0.1:{port}/v1/chat/completions")


def test_environment_proxy_carries_json_and_streams(world):
    before = posts(world["open"], world["sim"].port)
    json_and_stream(world["gw"], "m-env")
    assert posts(world["open"], world["sim"].port) == before + 2  # both went through the proxy


def test_provider_proxy_with_credentials_overrides_the_environment(world):
    open_before, auth_before = posts(world["open"], world["sim"].port), posts(world["auth"], world["sim"].port)
    json_and_stream(world["gw"], "m-auth")
    assert posts(world["auth"], world["sim"].port) == auth_before + 2
    assert posts(world["open"], world["sim"].port) == open_before


def test_proxy_refusing_credentials_is_a_502_without_secrets(world):
    with pytest.raises(openai.APIStatusError) as info:
        client(world["gw"]).chat.completions.create(model="m-noauth", messages=MSGS)
    assert info.value.status_code == 502
    assert "s3cr3t" not in world["gw"].log_path.read_text()


def test_proxy_none_goes_direct(world):
    calls_before = sim_calls(world["sim"]).get("m-direct", 0)
    proxied = len(world["open"].requests()) + len(world["auth"].requests())
    json_and_stream(world["gw"], "m-direct")
    assert sim_calls(world["sim"])["m-direct"] == calls_before + 2
    assert len(world["open"].requests()) + len(world["auth"].requests()) == proxied


def test_https_upstream_through_a_connect_tunnel_with_the_configured_ca(world):
    tls = world["tls"]
    json_and_stream(world["gw"], "m-tls")
    assert f"CONNECT 127.0.0.1:{tls.port}" in world["open"].requests()
    assert not any(r.startswith("POST https://") for r in world["open"].requests())  # only the tunnel: TLS end to end
    context = ssl.create_default_context(cafile=str(world["certs"].ca))
    stats = json.loads(urllib.request.urlopen(f"https://127.0.0.1:{tls.port}/_sim/stats", context=context).read())
    assert stats["calls"]["m-tls"] >= 2  # the TLS simulator answered them


def test_tls_verification_is_on_by_default(world):
    with pytest.raises(openai.APIStatusError) as info:  # the system trust store does not know the test CA
        client(world["gw"]).chat.completions.create(model="m-tlssys", messages=MSGS)
    assert info.value.status_code == 502


def test_no_proxy_bypasses_and_ssl_cert_file_is_honoured(world):
    before = posts(world["open"], world["sim"].port)
    json_and_stream(world["bypass"], "m-env")
    assert posts(world["open"], world["sim"].port) == before  # NO_PROXY=127.0.0.1: straight to the simulator
    json_and_stream(world["bypass"], "m-tlssys")  # no ca_file, but SSL_CERT_FILE names the CA
