"""The `openai` SDK's own models parse every body and chunk the translators produce, and its stream
accumulator (the one behind `client.chat.completions.stream`) rebuilds the non-streamed answer."""

from __future__ import annotations

import array
import base64

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.gemini import adapter as gemini
from tests.providers.helpers import deployment, events, golden_bytes, run_decoder

ANTHROPIC = deployment("anthropic", "claude-sonnet-4-20250514", "https://api.anthropic.com")
GEMINI = deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com")

CASES = [(anthropic, ANTHROPIC, "anthropic/message_text.json", "anthropic/stream_text.sse"),
         (anthropic, ANTHROPIC, "anthropic/message_tool_use.json", "anthropic/stream_tool_use.sse"),
         (anthropic, ANTHROPIC, "anthropic/message_cached.json", "anthropic/stream_cached.sse"),
         (gemini, GEMINI, "gemini/response_text.json", "gemini/stream_text.sse"),
         (gemini, GEMINI, "gemini/response_function_call.json", "gemini/stream_function_call.sse"),
         (gemini, GEMINI, "gemini/response_candidates.json", "gemini/stream_candidates.sse")]


@pytest.mark.parametrize("module,dep,body_name,stream_name", CASES, ids=[c[2] for c in CASES])
def test_sdk_parses_and_accumulates(module, dep, body_name, stream_name) -> None:
    body, _ = module.from_upstream(golden_bytes(body_name), dep)
    completion = ChatCompletion.model_validate(body)
    state = ChatCompletionStreamState()
    for chunk in run_decoder(module.StreamDecoder(dep, True), events(stream_name)):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.current_completion_snapshot  # get_final_completion() refuses finish_reason=length
    assert final.id == completion.id
    assert final.usage is not None and final.usage.model_dump() == completion.usage.model_dump()
    assert len(final.choices) == len(completion.choices)
    for got, want in zip(sorted(final.choices, key=lambda c: c.index), completion.choices):
        assert got.finish_reason == want.finish_reason
        assert (got.message.content or "") == (want.message.content or "")
        got_calls = [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in got.message.tool_calls or ()]
        want_calls = [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in want.message.tool_calls or ()]
        assert got_calls == want_calls


def test_sdk_parses_gemini_embeddings() -> None:
    body, _ = gemini.embeddings_from_upstream(golden_bytes("gemini/batch_embed_contents.json"), GEMINI, "float")
    parsed = CreateEmbeddingResponse.model_validate(body)
    assert [d.embedding for d in parsed.data] == [[0.015625, -0.5, 0.25, 1.0], [-0.75, 0.125, 0.0, 2.5]]
    # base64, decoded the way the SDK's embeddings.create does it (little-endian float32)
    body, _ = gemini.embeddings_from_upstream(golden_bytes("gemini/batch_embed_contents.json"), GEMINI, "base64")
    decoded = [list(array.array("f", base64.b64decode(d["embedding"]))) for d in body["data"]]
    assert decoded == [[0.015625, -0.5, 0.25, 1.0], [-0.75, 0.125, 0.0, 2.5]]
