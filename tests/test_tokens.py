"""The prompt-token bound: never below the official counts of a committed sample, images by the
providers' formulas, framing, tools, and properties over arbitrary text."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pipeline import media_tokens, tokens
from gateway.pipeline.tokens import chat_prompt_bound, embeddings_input_bound, text_bound

FIXTURE = Path(__file__).parent / "data" / "token_counts.jsonl"
FAMILY_TOKENIZERS = {"o200k": ("o200k",), "cl100k": ("cl100k",), "anthropic": ("claude3", "claude4.7"),
                     "gemini": ("gemini",), "any": ("o200k", "cl100k", "claude3", "claude4.7", "gemini")}
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def test_fixture_covers_scripts_and_kinds():
    kinds = {r["kind"] for r in ROWS}
    assert {"zh", "ja", "ko", "cyrillic", "arabic", "devanagari", "thai", "emoji", "json", "en prose",
            "code:python", "synthetic: digits", "synthetic: base64/hex/ids"} <= kinds


@pytest.mark.parametrize("family", list(FAMILY_TOKENIZERS))
def test_bound_never_below_official_counts(family):
    """Counts made by tiktoken (o200k/cl100k), ctok (Claude) and the Gemma 3 vocabulary (Gemini)
    with scripts/token_bound_report.py --fixture."""
    under = []
    for row in ROWS:
        official = max(row[name] for name in FAMILY_TOKENIZERS[family])
        bound = text_bound(row["text"], family)
        if bound < official:
            under.append((row["kind"], row["text"][:40], bound, official))
    assert not under


def test_any_is_the_largest_family():
    for row in ROWS[::5]:
        assert text_bound(row["text"]) == max(text_bound(row["text"], f) for f in tokens.FAMILIES[:-1])


def test_ping_framing_covers_every_provider():
    body = {"model": "auto", "messages": [{"role": "user", "content": "ping"}]}
    # OpenAI bills 3 per message + 1 for "ping" + 3 priming the reply; Claude Opus 4.7: 1 + 11.
    assert chat_prompt_bound(body, "o200k") >= 7
    assert chat_prompt_bound(body, "anthropic") >= 12
    assert chat_prompt_bound(body) >= 12
    assert chat_prompt_bound(body) > tokens.text_bound("ping") >= 1
    named = {"messages": [{"role": "user", "content": "ping", "name": "alice"}]}
    assert chat_prompt_bound(named, "o200k") >= chat_prompt_bound(body, "o200k") + 2


def test_tools_and_schema_add_their_text_and_preamble():
    base = {"messages": [{"role": "user", "content": "weather in Paris?"}]}
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    with_tools = {**base, "tools": [tool, tool]}
    schema_text = json.dumps(tool)
    # Anthropic adds a 346-token tool-use system prompt.
    assert chat_prompt_bound(with_tools, "anthropic") >= chat_prompt_bound(base, "anthropic") + 346
    assert chat_prompt_bound(with_tools, "o200k") >= chat_prompt_bound(base, "o200k") + 2 * text_bound(
        schema_text, "o200k") - 2
    fmt = {**base, "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": tool}}}
    assert chat_prompt_bound(fmt) > chat_prompt_bound(base) + text_bound(schema_text)


def test_tool_calls_and_tool_messages_count():
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]
    body = {"messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": None,
                                                             "tool_calls": calls},
                         {"role": "tool", "tool_call_id": "call_1", "content": "42"}]}
    plain = {"messages": [{"role": "user", "content": "go"}]}
    assert chat_prompt_bound(body) >= chat_prompt_bound(plain) + text_bound(json.dumps(calls))


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def _jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + app0 + sof + b"\xff\xd9").decode()


def _gif(width: int, height: int) -> str:
    return "data:image/gif;base64," + base64.b64encode(b"GIF89a" + struct.pack("<HH", width, height) + b"\0" * 8).decode()


def _webp(width: int, height: int) -> str:
    body = b"WEBPVP8X" + struct.pack("<I", 10) + b"\0" * 4 + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    return "data:image/webp;base64," + base64.b64encode(b"RIFF" + struct.pack("<I", len(body)) + body).decode()


@pytest.mark.parametrize("make", [_png, _jpeg, _gif, _webp])
def test_image_size_from_the_header_only(make):
    assert media_tokens.image_size(make(1024, 768)) == (1024, 768)


def test_image_formulas():
    # OpenAI gpt-4o high: 85 + 170 x 4 tiles for 1024x1024; patch models: 1024 patches x 2.46.
    assert media_tokens.openai_image((1024, 1024), "high") == max(85 + 170 * 4, 2520)
    assert media_tokens.openai_image((64, 64), "low") == 85
    # Anthropic: w*h/750 (<= Opus 4.6) or 28 px patches (Opus 4.7+), at most 4,784.
    assert media_tokens.anthropic_image((1000, 1000)) == 1334
    assert media_tokens.anthropic_image((8000, 8000)) == 4784
    # Gemini 3 bills up to 2,240 (ULTRA_HIGH); Gemini 2.x 258 per 768 px tile.
    assert media_tokens.gemini_image((300, 300)) == 2240
    assert media_tokens.gemini_image((3072, 3072)) == 258 * 16


def test_image_parts_in_a_chat_body():
    def body(url, detail="auto"):
        return {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url, "detail": detail}}]}]}
    text_only = chat_prompt_bound({"messages": [{"role": "user", "content": "what is this?"}]})
    by_url = chat_prompt_bound(body("https://example.com/cat.png"))
    small = chat_prompt_bound(body(_png(64, 64), "low"))
    assert by_url - text_only >= media_tokens.ANTHROPIC_MAX  # unknown size: the largest any bills
    assert text_only + 85 <= small < by_url
    assert chat_prompt_bound(body(_png(64, 64), "low"), "o200k") - chat_prompt_bound(
        {"messages": [{"role": "user", "content": "what is this?"}]}, "o200k") >= 85


def test_audio_and_file_parts():
    audio = {"type": "input_audio", "input_audio": {"data": "A" * 64_000, "format": "mp3"}}
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n<< /Type /Pages >>"
    file = {"type": "file", "file": {"file_data": "data:application/pdf;base64," + base64.b64encode(pdf).decode()}}
    assert tokens.content_bound([audio]) >= 64_000 * 3 // 4 // 16
    assert tokens.content_bound([file]) == 2 * media_tokens.PDF_PAGE_TOKENS
    assert tokens.content_bound([{"type": "file", "file": {"file_id": "file-1"}}]) == (
        media_tokens.PDF_MAX_PAGES * media_tokens.PDF_PAGE_TOKENS)


def test_embeddings_inputs():
    assert embeddings_input_bound("hello world") == text_bound("hello world")
    assert embeddings_input_bound(["a", "hello world"]) == [text_bound("a"), text_bound("hello world")]
    assert embeddings_input_bound([1, 2, 3]) == 3
    assert embeddings_input_bound([[1, 2], [3]]) == [2, 1]


def test_cjk_and_digits_are_denser_than_prose():
    assert text_bound("数据库连接池耗尽" * 50, "o200k") > text_bound("database pool " * 28, "o200k")
    assert text_bound("1234567890" * 40) > text_bound("abcdefghij" * 40) / 2


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="aeiouyAEIOUY"),
                      max_size=100))
def test_monotone_in_appended_text(text, more):
    """Appending never lowers the bound, except by the consonant-run term: a vowel appended after
    a run of consonants can lower it (so `more` holds no ASCII vowel here; docs/cost.md)."""
    for family in tokens.FAMILIES:
        assert text_bound(text + more, family) >= text_bound(text, family)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_never_below_a_bytes_floor(text):
    """A sanity floor: at least one token per 8 UTF-8 bytes that are not whitespace."""
    visible = len("".join(text.split()).encode("utf-8"))
    for family in tokens.FAMILIES:
        assert text_bound(text, family) >= visible / 8


@pytest.mark.parametrize("wire_format, base_url, family", [
    ("openai", "https://api.openai.com/v1", "o200k"), ("azure", "https://r.openai.azure.com", "o200k"),
    ("openai", "http://vllm.internal/v1", "any"), ("anthropic", "https://api.anthropic.com", "anthropic"),
    ("vertex_anthropic", "https://x", "anthropic"), ("bedrock_anthropic", "https://x", "anthropic"),
    ("gemini", "https://x", "gemini"), ("vertex_gemini", "https://x", "gemini"),
    ("bedrock", "https://x", "any"),  # Converse serves every vendor's models
])
def test_each_format_bills_with_its_models_tokenizer(wire_format, base_url, family):
    assert tokens.family_of(wire_format, base_url) == family


def test_memo_gives_the_counted_bound_for_a_resent_text():
    """An agent's next turn resends the same texts as new string objects: each is found in the
    memo, and the bound is the one counting gives."""
    tokens.MEMO.clear()
    texts = ["Ünïcödé prose and `code()` " * 40, "x = 1\n" * 300, "日本語のテキスト。" * 80]
    for family in tokens.FAMILIES:
        for text in texts:
            counted = tokens._counted_bound(text, family)
            assert text_bound(text, family) == counted
            resent = json.loads(json.dumps(text))  # a fresh object, as the next request parses it
            assert resent is not text
            assert tokens.MEMO.get(resent, family) == counted
            assert text_bound(resent, family) == counted
    assert tokens.MEMO.chars == sum(len(t) + tokens.ENTRY_CHARS for t in texts) * len(tokens.FAMILIES)
    tokens.MEMO.clear()


def test_memo_keeps_its_character_budget():
    memo = tokens.BoundMemo(max_chars=10_000)
    texts = [f"{i:04d}" + "a" * 996 for i in range(30)]
    for i, text in enumerate(texts):
        memo.put(text, "any", i)
    assert memo.chars <= 10_000
    assert memo.get(texts[-1], "any") == 29
    assert memo.get(texts[0], "any") is None  # the oldest went first
    memo.put("b" * 2_501, "any", 1)  # over a quarter of the budget: never kept
    assert memo.get("b" * 2_501, "any") is None
    memo.put(texts[-1], "any", 29)  # a repeat does not count twice
    kept = [t for t in texts if memo.get(t, "any") is not None]
    assert memo.chars == sum(len(t) + tokens.ENTRY_CHARS for t in kept)


def test_short_texts_are_not_memoised():
    """Up to SHORT characters the bound is the byte length: cheaper than a lookup."""
    tokens.MEMO.clear()
    text_bound("a short line " * 4)
    assert tokens.MEMO.chars == 0
