"""Hostile request shapes over real HTTP, with the official `openai` SDK (issue 17, items 3, 5
and 10): malformed fields are a 400 naming the param on every wire format, never a 500; a
client's value never makes a log line or an error body longer than a bound; an embeddings batch
is checked input by input against the context window."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterator

import openai
import orjson
import pytest

from tests.procs import DEMO_KEY, Proc, sim_and_gateway
from tests.test_providers_e2e import config

# On each wire format: a model of that format, and a field shape its adapter used to fail on.
SHAPES: list[tuple[str, str, dict[str, Any], str]] = [
    ("claude-opus-4.7", "tools [1]", {"tools": [1]}, "tools[0]"),
    ("claude-opus-4.7", "stop 5", {"stop": 5}, "stop"),
    ("claude-opus-4.7", "json_schema 'x'", {"response_format": {"type": "json_schema", "json_schema": "x"}},
     "response_format.json_schema"),
    ("gemini-2.5-flash", "tool_calls [{function: 'f'}]", {"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"function": "f"}]}]},
     "messages[1].tool_calls[0].function"),
    ("gemini-2.5-flash", "input_audio 'x'", {"messages": [
        {"role": "user", "content": [{"type": "input_audio", "input_audio": "x"}]}]},
     "messages[0].content[0].input_audio"),
    ("gemini-2.5-flash", "$defs [1]", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "$defs": [1], "properties": {"a": {"type": "string"}}}}}]},
     "tools"),
    ("gpt-5.4-mini", "content nested 300 deep", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi", "x": json.loads("[" * 300 + "]" * 300)}]}]}, "messages"),
    ("azure-gpt-5.4", "content nested 300 deep", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi", "x": json.loads("[" * 300 + "]" * 300)}]}]}, "messages"),
]


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    def text_for(sim_port: int) -> str:
        text = config(sim_port).replace("state: {prefix: prov,", f"state: {{prefix: hostile-{time.time_ns()},")
        for name in ("text-embedding-3-small", "gemini-embedding-001"):  # a small per-input window
            text = text.replace(f"{name}: {{provider:", f"{name}: {{context_window: 2048, provider:")
        assert text.count("context_window: 2048") == 2
        return text.replace("server: {request_timeout_s: 20, attempt_budget: 2}",
                            "server: {request_timeout_s: 20, attempt_budget: 2, max_body_bytes: 1000000}")

    with sim_and_gateway(tmp_path_factory.mktemp("hostile"), text_for, redis_url, workers=2) as (gw, _):
        yield gw


@pytest.fixture
def client(stack: Proc) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        yield c


@pytest.mark.parametrize("model, name, fields, param", SHAPES, ids=[f"{m}: {n}" for m, n, _, _ in SHAPES])
def test_malformed_fields_are_400s_naming_the_param(client: openai.OpenAI, model: str, name: str,
                                                    fields: dict[str, Any], param: str) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=body.pop("messages"), extra_body=body)
    error = info.value.body
    assert info.value.status_code == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    # and the same request, well formed, is served by that model
    ok = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert ok.headers["x-gateway-model"] == model


def test_a_huge_model_name_is_cut_in_the_answer_and_the_log(client: openai.OpenAI, stack: Proc) -> None:
    model = "m" * 200_000
    ids: list[str] = []

    def ask(n: int) -> None:
        for _ in range(n):
            try:
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            except openai.NotFoundError as err:
                assert len(err.body["message"]) < 1100 and "[cut: 200002 chars]" in err.body["message"]
                ids.append(err.response.headers["x-request-id"])

    threads = [threading.Thread(target=ask, args=(5,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 30
    time.sleep(0.5)  # the request log is flushed at the end of the event-loop tick
    lines = stack.log_path.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines if line.startswith(b"{")]  # every line is whole JSON
    assert all(len(line) < 4096 for line in lines)  # below PIPE_BUF: no interleaving on a pipe
    asked = {r["request_id"]: r for r in records if r.get("event") == "request"}
    for rid in ids:
        assert asked[rid]["status"] == 404
        assert asked[rid]["model_asked"] == "m" * 256 + "...[cut: 200000 chars]"


def test_an_embeddings_batch_is_checked_input_by_input(client: openai.OpenAI) -> None:
    batch = [f"short input number {i}" for i in range(1000)]  # ~5,600 tokens in all, 6 each
    reply = client.embeddings.with_raw_response.create(model="auto", input=batch)
    assert len(reply.parse().data) == 1000
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="auto", input=["short", "x" * 40_000])
    assert info.value.body["code"] == "context_length_exceeded" and info.value.body["param"] == "input"
