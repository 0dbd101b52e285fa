"""The Batch API end to end: the official `openai` SDK uploads a JSONL file, creates a batch,
polls it and reads its output and error files, against a real gateway of two worker processes
(each a batch runner) and the simulator, whose call counts show each line ran exactly once."""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.request
from typing import Any, Iterator

import openai
import pytest

from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, DEMO_KEY, Proc, sim_calls, sim_set, start_gateway
from tests.test_providers_e2e import config
from tests.test_spend_e2e import request_lines

OTHER_KEY = "sk-gateway-batch-other"
BATCH = "\nbatch: {enabled: true, concurrency: 2, poll_interval_s: 0.05, lease_s: 60, max_file_bytes: 65536}\n"


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    other = hashlib.sha256(OTHER_KEY.encode()).hexdigest()
    text = (config(sim.port).replace("prefix: prov", "prefix: batch")
            + f"  - {{name: other, sha256: {other}}}\nadmin_key_sha256: {ADMIN_KEY_SHA}\n" + BATCH)
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url, workers=2) as proc:
        yield proc


@pytest.fixture(scope="module")
def gateway_off(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port).replace("prefix: prov", "prefix: nobatch"),
                       redis_url) as proc:
        yield proc


def jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def chat_line(custom_id: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "max_tokens": 40, **extra,
                     "messages": [{"role": "user", "content": f"Say hello to {custom_id}."}]}}


def run(client: openai.OpenAI, lines: list[dict[str, Any]], endpoint: str = "/v1/chat/completions",
        wait: bool = True) -> Any:
    upload = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=endpoint, completion_window="24h",
                                  metadata={"job": "test"})
    return finish(client, batch.id) if wait else batch


def finish(client: openai.OpenAI, batch_id: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.1)


def read_lines(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    return {row["custom_id"]: row for row in map(json.loads, client.files.content(file_id).text.splitlines())}


def upstream_calls(sim: Proc) -> int:
    return sum(sim_calls(sim).values())


def test_a_chat_batch_runs_each_line_once_on_auto_and_a_concrete_model(client, gateway, sim) -> None:
    # a line takes half a second: one worker (two lines at once) cannot take them all before the
    # other worker's next poll (every 50 ms), so both run lines
    sim_set(sim, "gpt-5.4-mini", latency_ms=500)
    before = upstream_calls(sim)
    lines = [chat_line(f"auto-{i}", "auto") for i in range(5)] + [chat_line(f"mini-{i}", "gpt-5.4-mini")
                                                                  for i in range(5)]
    lines.append(chat_line("bad-field", "auto", temperature=7))      # that line's own 400
    batch = run(client, lines)
    assert batch.status == "completed" and batch.metadata == {"job": "test"}
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (11, 10, 1)
    assert batch.in_progress_at and batch.completed_at and batch.finalizing_at
    out, errors = read_lines(client, batch.output_file_id), read_lines(client, batch.error_file_id)
    assert sorted(out) == sorted(line["custom_id"] for line in lines[:10])
    for row in out.values():
        assert row["response"]["status_code"] == 200 and row["error"] is None and row["id"].startswith("batch_req_")
        assert row["response"]["body"]["choices"][0]["message"]["content"]
    assert out["mini-0"]["response"]["body"]["model"] == "gpt-5.4-mini"
    bad = errors["bad-field"]["response"]
    assert bad["status_code"] == 400 and bad["body"]["error"]["param"] == "temperature"
    # each line ran once: ten upstream calls for ten good lines, ten distinct request ids
    assert upstream_calls(sim) - before == 10
    assert len({row["response"]["request_id"] for row in out.values()}) == 10
    # the two worker processes shared the work, each line at low priority
    logged = [r for r in request_lines(gateway.log_lines()) if r["request_id"] in
              {row["response"]["request_id"] for row in out.values()}]
    assert len(logged) == 10 and all(r["priority"] == "low" for r in logged)
    assert len({r["worker"] for r in logged}) == 2
    output = client.files.retrieve(batch.output_file_id)
    assert output.purpose == "batch_output" and output.bytes == len(client.files.content(batch.output_file_id).content)


def test_an_embeddings_batch(client) -> None:
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "auto", "input": [f"text {i}", "and another"]}} for i in range(3)]
    batch = run(client, lines, endpoint="/v1/embeddings")
    assert batch.status == "completed" and batch.request_counts.completed == 3 and batch.error_file_id is None
    out = read_lines(client, batch.output_file_id)
    vectors = out["e1"]["response"]["body"]["data"]
    assert len(vectors) == 2 and len(vectors[0]["embedding"]) > 8


def test_a_malformed_file_fails_validation(client) -> None:
    good = chat_line("ok", "auto")
    lines = [good, {"custom_id": "ok", "method": "POST", "url": "/v1/chat/completions", "body": {}},
             {**good, "custom_id": "wrong-url", "url": "/v1/embeddings"}]
    batch = run(client, lines)
    assert batch.status == "failed" and batch.failed_at and batch.output_file_id is None
    assert [(e.code, e.line) for e in batch.errors.data] == [("duplicate_custom_id", 2), ("invalid_url", 3)]


def test_cancel_stops_the_batch_and_the_lines_not_run_are_error_lines(client, sim) -> None:
    sim_set(sim, "gpt-5.4-mini", latency_ms=300)
    batch = run(client, [chat_line(f"c{i}", "auto") for i in range(40)], wait=False)
    deadline = time.monotonic() + 20
    while client.batches.retrieve(batch.id).status == "validating":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
    batch = finish(client, batch.id)
    assert batch.status == "cancelled" and batch.cancelled_at
    counts = batch.request_counts
    assert counts.total == 40 and 0 < counts.completed < 40 and counts.completed + counts.failed == 40
    errors = read_lines(client, batch.error_file_id)
    assert len(errors) == counts.failed
    assert {row["error"]["code"] for row in errors.values()} == {"batch_cancelled"}
    assert len(read_lines(client, batch.output_file_id)) == counts.completed  # in-flight lines finished


def test_a_key_sees_only_its_own_batches_and_files(client, gateway) -> None:
    batch = run(client, [chat_line("mine", "auto")])
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=OTHER_KEY, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as err:
            other.batches.retrieve(batch.id)
        assert err.value.body["code"] == "not_found"
        for call in (lambda: other.files.content(batch.input_file_id), lambda: other.files.content(
                batch.output_file_id), lambda: other.batches.cancel(batch.id)):
            with pytest.raises(openai.NotFoundError):
                call()
        assert batch.id not in [b.id for b in other.batches.list()]
    assert batch.id in [b.id for b in client.batches.list(limit=100)]
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_unknown")
    req = urllib.request.Request(f"{gateway.url}/admin/batches?limit=100", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    listed = json.loads(urllib.request.urlopen(req).read())
    assert batch.id in [b["id"] for b in listed["data"]]


def test_the_lines_are_charged_to_the_key(client, gateway) -> None:
    def spent() -> int:
        req = urllib.request.Request(f"{gateway.url}/admin/spend?by=key", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        rows = json.loads(urllib.request.urlopen(req).read())["rows"]
        return next((row["cost_micro"] for row in rows if row["name"] == "demo"), 0)

    before = spent()
    batch = run(client, [chat_line(f"s{i}", "gpt-5.4-mini") for i in range(3)])
    ids = {row["response"]["request_id"] for row in read_lines(client, batch.output_file_id).values()}
    logged = [r for r in request_lines(gateway.log_lines()) if r["request_id"] in ids]
    assert len(logged) == 3 and all(r["key"] == "demo" and r["cost_micro"] > 0 for r in logged)
    assert spent() - before == sum(r["cost_micro"] for r in logged)


def test_uploads_over_the_cap_and_other_purposes_are_refused(client, gateway_off) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert err.value.body["param"] == "purpose"
    with pytest.raises(openai.APIStatusError) as err:
        client.files.create(file=("big.jsonl", io.BytesIO(b"{}\n" * 30_000)), purpose="batch")
    assert err.value.status_code == 413 and err.value.body["code"] == "request_too_large"
    with pytest.raises(openai.NotFoundError) as err:  # off: the endpoints say so, after the key is checked
        with openai.OpenAI(base_url=f"{gateway_off.url}/v1", api_key=DEMO_KEY, max_retries=0) as off:
            off.batches.list()
    assert err.value.body["code"] == "batch_disabled"
    with pytest.raises(openai.AuthenticationError):
        with openai.OpenAI(base_url=f"{gateway_off.url}/v1", api_key="sk-wrong", max_retries=0) as stranger:
            stranger.batches.list()
