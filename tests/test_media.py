"""The media endpoints' pieces without a server: the multipart reader and writer against the form
the openai SDK's HTTP client writes, what a transcription answer says it cost, image prices by
quality and size, and the config's media kinds, prices and refusals."""

from __future__ import annotations

import os
from typing import Any

import pytest

try:  # the HTTP client the installed openai SDK writes its forms with (httpx before 3.x)
    import httpx2 as sdk_http
except ImportError:  # pragma: no cover - an older SDK
    import httpx as sdk_http  # type: ignore[no-redef]

from gateway.config import ConfigError, parse_config
from gateway.config.model import Price
from gateway.errors import GatewayError
from gateway.pipeline.media_asks import (audio_usage, image_ask, image_price, moderation_ask, speech_ask,
                                         transcription_ask, transcription_micro)
from gateway.providers.multipart import Part, encode_form, parse_form

AUDIO = os.urandom(3000) + b"\r\n--not-the-boundary\r\n\r\n" + bytes(range(256))


def sdk_form(**files: Any) -> tuple[str, bytes]:
    """A form as the openai SDK's HTTP client writes it: its content type and body."""
    request = sdk_http.Request("POST", "http://x/", files={"file": ("a \"quoted\" name.wav", AUDIO, "audio/wav")},
                             data={"model": "whisper-1", "language": "fr", **files})
    return request.headers["content-type"], request.read()


def test_an_sdk_upload_is_read_whole_and_written_back_alike() -> None:
    content_type, body = sdk_form()
    parts = parse_form(content_type, body)
    assert [(p.name, p.filename) for p in parts] == [("model", None), ("language", None),
                                                     ("file", "a %22quoted%22 name.wav")]
    assert parts[2].data == AUDIO and parts[2].content_type == "audio/wav" and parts[0].text() == "whisper-1"
    again, written_type = encode_form(parts)
    assert parse_form(written_type, again) == parts


@pytest.mark.parametrize("content_type, body", [
    ("application/json", b"{}"),
    ("multipart/form-data", b"--x\r\n"),                                   # no boundary
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"),  # cut short
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\n1\r\n--x--\r\n"),  # no name
])
def test_what_is_not_a_form_is_a_400(content_type: str, body: bytes) -> None:
    with pytest.raises(GatewayError) as info:
        parse_form(content_type, body)
    assert info.value.status == 400


def test_transcription_reads_its_fields_and_bounds_the_audio() -> None:
    content_type, body = sdk_form(response_format="verbose_json", prompt="names: Zoë")
    ask = transcription_ask("audio/transcriptions", content_type, body)
    assert (ask.kind, ask.model, ask.text_chars) == ("transcription", "whisper-1", len("names: Zoë"))
    price = Price(0, 0, 0, per_minute=6000)
    dep = type("Dep", (), {"price": price})()
    seconds = -(-len(AUDIO) // 2000)
    assert ask.worst_micro(dep) == transcription_micro(price, seconds * 1000)  # type: ignore[arg-type]
    usage, cost = ask.charge(dep, b'{"text": "hi", "duration": 1.5, "segments": []}')  # type: ignore[arg-type]
    assert cost == 150 and usage.reported
    for bad in ({"response_format": "mp4"}, {"stream": "true"}, {"temperature": "warm"}):
        with pytest.raises(GatewayError) as info:
            transcription_ask("audio/transcriptions", *sdk_form(**bad))
        assert info.value.status == 400


@pytest.mark.parametrize("fmt, body, expected", [
    ("json", b'{"text": "a", "usage": {"type": "duration", "seconds": 9}}', (9000, 0, 0)),
    ("json", b'{"text": "a", "usage": {"type": "tokens", "input_tokens": 80, "output_tokens": 7, '
             b'"total_tokens": 87}}', (None, 80, 7)),
    ("verbose_json", b'{"text": "a", "duration": 2.25, "language": "english"}', (2250, 0, 0)),
    ("srt", b"1\n00:00:00,000 --> 00:00:04,500\na\n\n2\n00:00:04,500 --> 00:01:02,250\nb\n", (62250, 0, 0)),
    ("vtt", b"WEBVTT\n\n00:00:00.000 --> 00:00:03.040\na\n", (3040, 0, 0)),
    ("text", b"a plain transcript\n", (None, 0, 0)),
    ("json", b'{"text": "no usage"}', (None, 0, 0)),
])
def test_what_a_transcription_answer_says_it_cost(fmt: str, body: bytes, expected: tuple) -> None:
    assert audio_usage(body, fmt) == expected


def test_token_and_minute_prices_add_up_rounded_up() -> None:
    price = Price(input=2_500_000, output=10_000_000, cached_input=0, per_minute=6000, per_request=3)
    assert transcription_micro(price, 1) == 1 + 3
    assert transcription_micro(price, 60_000, 1000, 100) == 6000 + 2500 + 1000 + 3


def test_image_prices_by_quality_and_size_else_the_dearest() -> None:
    price = Price(0, 0, 0, per_image=(("hd/1024x1024", 80_000), ("1024x1792", 120_000), ("standard", 40_000)))
    assert image_price(price, "hd", "1024x1024") == 80_000
    assert image_price(price, "hd", "1024x1792") == 120_000
    assert image_price(price, "standard", "512x512") == 40_000
    assert image_price(price, None, None) == 120_000
    assert image_price(Price(0, 0, 0, per_image=(("", 50_000),)), "hd", "1024x1024") == 50_000


@pytest.mark.parametrize("read, body, param", [
    (speech_ask, b'{"model": "tts-1", "voice": "alloy"}', "input"),
    (speech_ask, b'{"model": "tts-1", "input": "hi"}', "voice"),
    (speech_ask, b'{"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 9}', "speed"),
    (speech_ask, b'{"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "ogg"}', "response_format"),
    (image_ask, b'{"model": "dall-e-3", "prompt": "x", "n": 11}', "n"),
    (image_ask, b'{"model": "dall-e-3", "prompt": ""}', "prompt"),
    (image_ask, b'{"prompt": "x"}', "model"),
    (moderation_ask, b'{"input": []}', "input"),
    (moderation_ask, b'{"input": [{"type": "video"}]}', "input"),
])
def test_bad_json_media_requests_are_400_naming_the_field(read: Any, body: bytes, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        read(body)
    assert info.value.status == 400 and info.value.param == param


def test_moderation_needs_no_model() -> None:
    ask = moderation_ask(b'{"input": ["a", "bc"]}')
    assert ask.model == "auto" and ask.text_chars == 3


def media_config(**models: Any) -> dict[str, Any]:
    return {"providers": {"oa": {"format": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key_env": None},
                          "az": {"format": "azure", "base_url": "http://127.0.0.1:1", "api_key_env": None,
                                 "api_version": "2024-10-21"},
                          "an": {"format": "anthropic", "base_url": "http://127.0.0.1:1", "api_key_env": None}},
            "models": {"chat": {"provider": "oa", "price": {"input": 1}}, **models},
            "routes": {"auto": {"primary": "chat"}}}


def test_media_models_parse_with_their_own_prices() -> None:
    config = parse_config(media_config(
        whisper={"provider": "az", "kind": "transcription", "price": {"per_minute": 0.006}},
        tts={"provider": "oa", "kind": "speech", "price": {"per_million_chars": 15, "per_request": 0.001}},
        dalle={"provider": "oa", "kind": "image", "price": {"per_image": {"hd/1024x1024": 0.08, "standard": 0.04}}},
        mod={"provider": "oa", "kind": "moderation"}), "t.yaml", {})
    deps = config.deployments
    assert deps["whisper"].price.per_minute == 6000
    assert (deps["tts"].price.per_million_chars, deps["tts"].price.per_request) == (15_000_000, 1000)
    assert dict(deps["dalle"].price.per_image) == {"hd/1024x1024": 80_000, "standard": 40_000}
    assert deps["mod"].price.per_request == 0 and deps["mod"].kind == "moderation"


@pytest.mark.parametrize("models, routes, needle", [
    ({"m": {"provider": "az", "kind": "moderation"}}, {}, "Azure OpenAI has no moderations endpoint"),
    ({"m": {"provider": "an", "kind": "speech", "price": {"per_million_chars": 15}}}, {}, "openai or azure"),
    ({"m": {"provider": "oa", "kind": "speech", "price": {"per_minute": 1}}}, {}, "price takes"),
    ({"m": {"provider": "oa", "kind": "image", "price": {}}}, {}, "per_image"),
    ({"m": {"provider": "oa", "kind": "transcription", "price": {"input": 2}}}, {}, "per_minute"),
    ({}, {"transcriptions": {"primary": "chat"}}, "names a chat model"),
    ({"m": {"provider": "oa", "price": {"input": 1, "per_image": 2}}}, {}, "only a media model"),
])
def test_media_config_errors_say_why(models: dict, routes: dict, needle: str) -> None:
    doc = media_config(**models)
    doc["routes"].update(routes)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "t.yaml", {})
    assert needle in str(info.value)


def test_parts_keep_an_unicode_field_name_and_file_name() -> None:
    parts = [Part("prompt", "Zoë".encode()), Part("file", b"\x00\x01", "café \"x\".mp3", "audio/mpeg")]
    body, content_type = encode_form(parts)
    back = parse_form(content_type, body)
    assert back[0] == parts[0] and back[1].filename == "café %22x%22.mp3" and back[1].data == b"\x00\x01"
