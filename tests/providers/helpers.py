"""Shared test helpers: deployments, golden fixtures, and reassembly of OpenAI SSE frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from gateway.config import Deployment, Price, Provider, Vertex
from gateway.net.sse import SSEParser
from gateway.providers import openai_side

GOLDEN = Path(__file__).parent / "golden"


def deployment(fmt: str, upstream: str, base_url: str, *, api_key: str | None = "sk-test-key",
               max_output_tokens: int = 8192, headers: tuple[tuple[str, str], ...] = (),
               api_version: str | None = None) -> Deployment:
    vertex = Vertex("proj-1", "us-east5") if fmt.startswith("vertex_") else None
    provider = Provider(name=fmt, format=fmt, base_url=base_url, api_key_env=None, api_key=api_key,
                        headers=headers, api_version=api_version, vertex=vertex)
    return Deployment(name=f"{fmt}-{upstream}", provider=provider, upstream=upstream,
                      price=Price(input=1_000_000, output=2_000_000, cached_input=100_000),
                      context_window=200_000, max_output_tokens=max_output_tokens, rpm=0, tpm=0)


def golden_bytes(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def golden_json(name: str) -> Any:
    return orjson.loads(golden_bytes(name))


def events(name: str, split: int = 7) -> list[tuple[bytes, bytes]]:
    """A golden SSE transcript cut into small network chunks and parsed as the pipeline does."""
    raw = golden_bytes(name)
    parser = SSEParser()
    out: list[tuple[bytes, bytes]] = []
    for i in range(0, len(raw), split):
        out.extend(parser.feed(raw[i:i + split]))
    out.extend(parser.close())
    return out


def run_decoder(decoder: Any, transcript: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """Feed every event the way the pipeline does (stop at done), then finish; return the chunks."""
    frames: list[bytes] = []
    for event, data in transcript:
        if decoder.done:
            break
        frames.extend(decoder.feed(event, data))
    frames.extend(decoder.finish())
    chunks = []
    for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n"), frame
        assert frame != b"data: [DONE]\n\n"
        chunks.append(orjson.loads(frame[6:-2]))
    return chunks


def reassemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Join chunks into a `chat.completion` body, as the openai SDK's stream helpers would."""
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1, f"chunks carry several ids: {ids}"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        if chunk.get("usage"):
            assert chunk["choices"] == [], "the usage chunk has no choices"
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            slot = choices.setdefault(choice["index"], {"index": choice["index"], "role": None, "content": None,
                                                        "tool_calls": {}, "finish_reason": None})
            delta = choice.get("delta") or {}
            if delta.get("role"):
                assert slot["role"] is None, "role sent twice"
                slot["role"] = delta["role"]
            if delta.get("content") is not None:
                slot["content"] = (slot["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or ():
                entry = slot["tool_calls"].get(call["index"])
                if entry is None:
                    assert call.get("id") and call["function"].get("name"), "first tool delta needs id and name"
                    entry = slot["tool_calls"][call["index"]] = {
                        "id": call["id"], "type": call["type"],
                        "function": {"name": call["function"]["name"], "arguments": ""}}
                entry["function"]["arguments"] += call["function"].get("arguments") or ""
            if choice.get("finish_reason"):
                assert slot["finish_reason"] is None, "finish_reason sent twice"
                slot["finish_reason"] = choice["finish_reason"]
    out_choices = []
    for index in sorted(choices):
        slot = choices[index]
        assert slot["role"] == "assistant"
        message: dict[str, Any] = {"role": "assistant", "content": slot["content"]}
        if slot["tool_calls"]:
            message["tool_calls"] = [slot["tool_calls"][i] for i in sorted(slot["tool_calls"])]
        out_choices.append({"index": index, "message": message, "finish_reason": slot["finish_reason"]})
    return {"id": chunks[0]["id"], "model": chunks[0]["model"], "choices": out_choices, "usage": usage}


def same_answer(streamed: dict[str, Any], body: dict[str, Any]) -> None:
    """Streamed and non-streamed answers agree on text, tool calls (arguments as JSON) and finish."""
    assert len(streamed["choices"]) == len(body["choices"])
    for s, b in zip(streamed["choices"], body["choices"]):
        assert (s["message"]["content"] or "") == (b["message"]["content"] or "")
        assert s["finish_reason"] == b["finish_reason"]
        s_calls = s["message"].get("tool_calls") or []
        b_calls = b["message"].get("tool_calls") or []
        assert [(c["id"], c["function"]["name"]) for c in s_calls] == [(c["id"], c["function"]["name"]) for c in b_calls]
        assert [orjson.loads(c["function"]["arguments"]) for c in s_calls] == \
            [orjson.loads(c["function"]["arguments"]) for c in b_calls]


def stream_matches_body(adapter: Any, dep: Deployment, sse: str, body: str) -> list[dict[str, Any]]:
    """Decode the golden stream `sse` and check it is the golden answer `body` told in chunks: same
    content, tool calls, finish, id and usage (in the chunks and on the decoder). The chunks."""
    decoder = adapter.StreamDecoder(dep, include_usage=True)
    chunks = run_decoder(decoder, events(sse))
    assert decoder.done
    whole, usage = adapter.from_upstream(golden_bytes(body), dep)
    streamed = reassemble(chunks)
    same_answer(streamed, whole)
    assert streamed["id"] == whole["id"]
    assert streamed["usage"] == whole["usage"]
    assert decoder.usage == usage
    return chunks


def debug_log(monkeypatch: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the adapters' shared request code (providers/openai_side.py) logs at debug, as
    (event, fields), for the rest of the test."""
    seen: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def debug(self, event: str, **fields: Any) -> None:
            seen.append((event, fields))

    monkeypatch.setattr(openai_side, "log", Recorder())
    return seen
