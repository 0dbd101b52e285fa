"""Limits at the edge, before auth, with the real server: header size and count, the time to send
headers and a body, idle connections, malformed HTTP, and connections per worker under a low
file-descriptor limit. Every refusal is a JSON answer in the OpenAI error shape, or a close."""

from __future__ import annotations

import json
import resource
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.procs import DEMO_KEY, Proc, config_yaml, start_gateway, wait_for

SERVER = """request_timeout_s: 30
  attempt_budget: 4
  max_body_bytes: 1048576
  max_header_bytes: 16384
  max_headers: 50
  header_timeout_s: 1
  keep_alive_s: 1
  body_read_timeout_s: 1"""

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp = tmp_path_factory.mktemp("edge")
    proc = start_gateway(tmp, config_yaml(sim.port, "edge", server=SERVER), redis_url)
    yield proc
    proc.stop()


def connect(gw: Proc) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=10)


def read_answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes (or a reset); b'' if it only closed."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except (ConnectionResetError, BrokenPipeError):
        pass
    return data


def get(gw: Proc, path: str) -> bytes:
    with urllib.request.urlopen(gw.url + path, timeout=30) as r:
        return r.read()


def post_chat(gw: Proc) -> bytes:
    req = urllib.request.Request(f"{gw.url}/v1/chat/completions", data=json.dumps(CHAT).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def status_and_json(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.lower()


def test_a_200_mb_header_is_refused_before_it_is_read(gw: Proc) -> None:
    """431 (or a close) long before 200 MB went in: the worker never buffers the header."""
    sock = connect(gw)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    total = 200 * 1024 * 1024
    chunk = b"a" * 65536
    answer: list[bytes] = []
    reader = threading.Thread(target=lambda: answer.append(read_answer(sock, 30)))
    reader.start()
    try:
        while sent < total and reader.is_alive():
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # reset or broken pipe: the server closed
        pass
    reader.join(30)
    sock.close()
    assert sent < 20 * 1024 * 1024, f"the server read {sent} bytes of one header"
    if answer and answer[0]:
        status, body, _ = status_and_json(answer[0])
        assert status == 431 and body["error"]["code"] == "header_too_large"


def test_too_many_headers_get_431(gw: Proc) -> None:
    sock = connect(gw)
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    status, body, head = status_and_json(read_answer(sock))
    assert status == 431 and body["error"]["type"] == "invalid_request_error"
    assert b"application/json" in head


def test_headers_that_never_end_get_408_and_a_close(gw: Proc) -> None:
    sock = connect(gw)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    status, body, _ = status_and_json(read_answer(sock))
    assert status == 408 and body["error"]["code"] == "header_timeout"


def test_a_body_that_never_ends_gets_408_on_every_path(gw: Proc) -> None:
    for path in ("/dashboard/login", "/v1/chat/completions", "/v1/embeddings"):
        sock = connect(gw)
        # (the login form's Origin check passes: same host; the body is what never comes)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\nContent-Length: 100\r\n"
                     f"Authorization: Bearer {DEMO_KEY}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\nkey=".encode())
        status, body, _ = status_and_json(read_answer(sock))
        assert status == 408, path
        assert body["error"]["code"] in ("body_timeout", "request_timeout"), path


def test_malformed_http_gets_an_openai_shaped_400(gw: Proc) -> None:
    sock = connect(gw)
    sock.sendall(b"GARBAGE\x01 / HTTP/9\r\n\r\n")
    status, body, head = status_and_json(read_answer(sock))
    assert status == 400 and b"application/json" in head
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_urllib_sees_the_413_not_a_reset(gw: Proc) -> None:
    body = json.dumps({**CHAT, "pad": "x" * (3 * 1024 * 1024)}).encode()
    req = urllib.request.Request(f"{gw.url}/v1/chat/completions", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=30)
    assert caught.value.code == 413
    assert json.loads(caught.value.read())["error"]["code"] == "request_too_large"


def test_silent_connections_are_closed_after_the_idle_limit(gw: Proc) -> None:
    """3,000 connections that never send a byte are all closed by the server (keep_alive_s: 1)."""
    socks = []
    try:
        for _ in range(3000):
            socks.append(connect(gw))
        open_ = {s.fileno(): s for s in socks}

        poller = select.poll()
        for fd in open_:
            poller.register(fd, select.POLLIN)

        def all_closed() -> bool:
            for fd, _ in poller.poll(500):
                poller.unregister(fd)
                try:
                    if open_[fd].recv(1) == b"":
                        del open_[fd]
                except ConnectionResetError:
                    del open_[fd]
            return not open_

        wait_for(all_closed, timeout=120)
        assert get(gw, "/healthz").startswith(b"ok")  # and the gateway still answers
    finally:
        for s in socks:
            s.close()


def test_a_client_leaving_mid_login_logs_no_error(gw: Proc) -> None:
    sock = connect(gw)
    sock.sendall(b"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n\r\nkey=abc")
    time.sleep(0.2)
    sock.close()
    get(gw, "/healthz")
    time.sleep(0.5)
    assert not [line for line in gw.log_lines() if "unhandled_error" in line]


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_under_a_1024_fd_limit_requests_are_served_while_silent_connections_are_shed(
        sim: Proc, redis_url: str, tmp_path: Path) -> None:
    server = SERVER.replace("keep_alive_s: 1", "keep_alive_s: 300").replace("header_timeout_s: 1",
                                                                              "header_timeout_s: 300")
    gw = start_gateway(tmp_path, config_yaml(sim.port, "edgefd", server=server), redis_url,
                       preexec_fn=_low_fd_limit)
    socks = []
    try:
        for _ in range(2100):
            try:
                socks.append(connect(gw))
            except OSError:
                break
        for _ in range(20):
            answer = json.loads(post_chat(gw))
            assert answer["choices"][0]["message"]["content"]
        metrics = get(gw, "/metrics").decode()
        assert "gateway_connections_shed_total" in metrics
        shed = [json.loads(line) for line in gw.log_lines() if '"connections_shed"' in line]
        assert shed and shed[0]["limit"] < 1024
    finally:
        for s in socks:
            s.close()
        gw.stop()
    assert all(line.startswith("{") for line in gw.log_lines() if line.strip() and not line.startswith("gateway:"))


def test_uvicorn_records_are_one_json_line_each() -> None:
    """An exception uvicorn logs ("Exception in ASGI application") is one JSON line with its type
    and code locations, not a multi-line traceback."""
    import io
    import logging

    from gateway.observe.logconfig import JsonLineFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("uvicorn.error.test")
    logger.addHandler(handler)
    try:
        try:
            {}["sk-secret-value-123456"]
        except KeyError as exc:
            logger.error("Exception in ASGI application\n", exc_info=exc)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["error"] == "KeyError" and record["level"] == "error"
    assert "sk-secret" not in lines[0] and record["where"][0].startswith("test_edge_e2e.py:")


def test_pipelined_requests_are_all_answered(gw: Proc) -> None:
    sock = connect(gw)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = read_answer(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
