"""Clients do not control the size of log lines or error bodies (issue 17, item 5): values are cut
with a marker, and request lines stay below PIPE_BUF so workers sharing a pipe never interleave."""

from __future__ import annotations

import os
import select

import orjson

from gateway.errors import MESSAGE_LIMIT, GatewayError, model_not_found, shown
from gateway.observe.log import FIELD_LIMIT, RequestLog, _redact_processor, clip


def test_clip_marks_what_it_cut() -> None:
    assert clip("short") == "short"
    assert clip("x" * 300) == "x" * FIELD_LIMIT + "...[cut: 300 chars]"
    assert shown("a\nb" * 200).startswith("'a\\nb") and shown("a\nb" * 200).endswith("[cut: 802 chars]")


def test_error_bodies_are_bounded() -> None:
    err = model_not_found("m" * 200_000)
    assert len(err.message) < 400 and "[cut: 200002 chars]" in err.message
    provider = GatewayError(502, "upstream says: " + "y" * 50_000, "upstream_error", "c" * 5000)
    assert len(provider.message) <= MESSAGE_LIMIT + 40 and len(provider.code or "") <= FIELD_LIMIT + 40
    assert len(orjson.dumps(provider.body())) < 2000


def test_structlog_values_are_bounded() -> None:
    event = _redact_processor(None, "debug", {"event": "request_fields_dropped",
                                              "fields": [f"field-{i}-" + "k" * 500 for i in range(1000)],
                                              "detail": "d" * 10_000})
    assert len(event["fields"]) == 33 and event["fields"][-1] == "...[cut: 1000 items]"
    assert all(len(f) < FIELD_LIMIT + 40 for f in event["fields"])
    assert len(event["detail"]) < 1100


def test_request_lines_from_two_processes_on_one_pipe_stay_whole() -> None:
    """The failure the issue saw: 200 KB model names, stdout on a pipe, lines cut into each other."""
    read_fd, write_fd = os.pipe()
    children = []
    for worker in range(2):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read_fd)
            log = RequestLog(fd=write_fd)
            for i in range(200):
                log.write({"request_id": f"w{worker}-{i}", "model_asked": str(worker) * 200_000, "status": 404,
                           "skipped": ["z" * 5000]})
            log.flush()
            os._exit(0)
        children.append(pid)
    os.close(write_fd)
    data = b""
    while True:
        select.select([read_fd], [], [], 10)
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    lines = data.splitlines()
    assert len(lines) == 400
    for line in lines:
        record = orjson.loads(line)  # whole: never two lines' parts in one
        assert len(line) < 4096 and record["model_asked"].endswith("...[cut: 200000 chars]")
    assert sorted(orjson.loads(line)["request_id"] for line in lines) == sorted(
        f"w{w}-{i}" for w in range(2) for i in range(200))


def test_secret_prefilter_never_misses_what_redact_would_mask() -> None:
    """The cheap scan in front of redaction: every line the secret pattern matches passes it, and
    an ordinary request line (its `api` field, an `openai` provider) does not pay for redaction."""
    from gateway.observe.log import _SECRET, _may_hold_secret

    secrets = ["Bearer abcdefgh12", "bearer  xyz.abc-123", "sk-proj-abcdef123", "api_key=abcdef123",
               "API-KEY: 'abcdefg1'", "apikey\"=abcdef99", "x-Api_Key:abcdefgh"]
    for text in secrets:
        assert _SECRET.search(text), text  # redaction runs on the values, the scan on the encoded line
        assert _may_hold_secret(orjson.dumps({"error": f"upstream said {text} was wrong"})), text
    ordinary = orjson.dumps({"event": "request", "api": "openai.chat", "provider": "openai",
                             "model": "gpt-5.4-mini", "status": 200})
    assert not _SECRET.search(ordinary.decode())
    assert not _may_hold_secret(ordinary)
