"""OpenAI's audio, image and moderation endpoints end to end: the openai SDK → the gateway → the
simulator speaking OpenAI's and Azure OpenAI's wire formats. Each is routed (a route per kind,
Azure as the fallback), priced in its own units, refused for a key not allowed the model, and
counted in the day's spend."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import urllib.request
from typing import Iterator

import openai
import pytest

from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, DEMO_KEY_SHA, Proc, sim_requests, sim_set, start_gateway, wait_for

LIMITED_KEY = "sk-media-chat-only"
MAX_BODY = 256 * 1024


def config(sim_port: int, limited_sha: str) -> str:
    base = f"http://127.0.0.1:{sim_port}"
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 3, max_body_bytes: {MAX_BODY}}}
state: {{prefix: media, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  openai: {{format: openai, base_url: {base}/v1, api_key_env: SIMULATOR_API_KEY}}
  azure: {{format: azure, base_url: {base}, api_key_env: SIMULATOR_API_KEY, api_version: "2024-10-21"}}
models:
  gpt-5.4-mini: {{provider: openai, price: {{input: 0.4, output: 1.6}}}}
  whisper-openai: {{provider: openai, upstream: whisper-1, kind: transcription, price: {{per_minute: 0.006}}}}
  whisper-azure: {{provider: azure, upstream: whisper, kind: transcription, price: {{per_minute: 0.012}}}}
  gpt-4o-transcribe: {{provider: openai, kind: transcription, price: {{per_minute: 0.006, input: 2.5, output: 10}}}}
  tts-openai: {{provider: openai, upstream: tts-1, kind: speech, price: {{per_million_chars: 15}}}}
  tts-azure: {{provider: azure, upstream: tts, kind: speech, price: {{per_million_chars: 30}}}}
  dall-e-3: {{provider: openai, kind: image,
             price: {{per_image: {{standard/1024x1024: 0.04, hd/1024x1024: 0.08, 1024x1792: 0.12}}}}}}
  dall-e-azure: {{provider: azure, upstream: dalle3, kind: image, price: {{per_image: 0.05}}}}
  omni-moderation-latest: {{provider: openai, kind: moderation}}
routes:
  auto: {{primary: gpt-5.4-mini}}
  whisper-1: {{primary: whisper-openai, fallbacks: [whisper-azure]}}
  tts-1: {{primary: tts-openai, fallbacks: [tts-azure]}}
  images: {{primary: dall-e-3, fallbacks: [dall-e-azure]}}
  moderations: {{primary: omni-moderation-latest}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
  - {{name: chat-only, sha256: {limited_sha}, allowed_models: [auto]}}
admin_key_sha256: {ADMIN_KEY_SHA}
"""


def wav(seconds: float, rate: int = 16_000) -> bytes:
    """A mono 16-bit PCM WAV of a quiet tone, `seconds` long."""
    n = round(seconds * rate)
    data = b"".join(struct.pack("<h", int(800 * math.sin(i / 9))) for i in range(n))
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate,
            2 * rate, 2, 16) + b"data" + struct.pack("<I", len(data)) + data)


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    sha = hashlib.sha256(LIMITED_KEY.encode()).hexdigest()
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port, sha), redis_url) as proc:
        yield proc


def cost_micro(headers: object) -> int:
    return round(float(headers["x-gateway-cost-usd"]) * 1_000_000)  # type: ignore[index]


def spend_by_model(gw: Proc) -> dict[str, dict]:
    req = urllib.request.Request(f"{gw.url}/admin/spend?by=model", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    return {row["name"]: row for row in json.loads(urllib.request.urlopen(req).read())["rows"]}


# ------------------------------------------------------------------------------ transcriptions

def test_transcription_is_routed_priced_and_counted(gateway: Proc, client: openai.OpenAI, sim: Proc) -> None:
    audio = wav(2.0)
    before = spend_by_model(gateway).get("whisper-openai", {"cost_micro": 0, "requests": 0})
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("hello.wav", audio, "audio/wav"))
    out = raw.parse()
    assert out.text and out.text == client.audio.transcriptions.create(model="whisper-1", file=("again.wav", audio)).text
    assert out.usage is not None and out.usage.type == "duration" and out.usage.seconds == 2
    assert raw.headers["x-gateway-model"] == "whisper-openai" and raw.headers["x-gateway-provider"] == "openai"
    assert raw.headers["x-gateway-route"] == "whisper-1" and raw.headers["x-gateway-task"] == "transcription"
    assert cost_micro(raw.headers) == 2 * 6000 // 60  # two seconds at $0.006 a minute
    sent = [r for r in sim_requests(sim, 5) if r["path"] == "/v1/audio/transcriptions"][-1]
    assert 'name="model"\r\n\r\nwhisper-1\r\n' in sent["body"]  # the upstream name, in a form of its own
    wait_for(lambda: spend_by_model(gateway)["whisper-openai"]["requests"] == before["requests"] + 2)
    assert spend_by_model(gateway)["whisper-openai"]["cost_micro"] == before["cost_micro"] + 2 * 200


@pytest.mark.parametrize("fmt", ["verbose_json", "srt", "vtt", "text"])
def test_transcription_formats_and_what_they_are_charged(client: openai.OpenAI, fmt: str) -> None:
    audio = wav(3.0)
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("a.wav", audio),
                                                               response_format=fmt)
    out = raw.parse()
    if fmt == "verbose_json":
        assert out.duration == pytest.approx(3.0) and out.segments and out.language == "english"
    elif fmt in ("srt", "vtt"):
        assert "00:00:03" in out and "-->" in out
    else:
        assert isinstance(out, str) and out.strip()
    bound_s = -(-len(audio) // 2000)  # plain text says nothing of the length: the reservation's bound
    assert cost_micro(raw.headers) == (bound_s if fmt == "text" else 3) * 100


def test_translation_and_token_priced_transcription(client: openai.OpenAI) -> None:
    audio = wav(1.0)
    out = client.audio.translations.create(model="whisper-1", file=("fr.wav", audio))
    assert out.text
    raw = client.audio.transcriptions.with_raw_response.create(model="gpt-4o-transcribe", file=("a.wav", audio))
    usage = raw.parse().usage
    assert usage.type == "tokens" and usage.input_tokens > 0 and usage.output_tokens > 0
    expected = -(-(usage.input_tokens * 2_500_000 + usage.output_tokens * 10_000_000) // 1_000_000)
    assert cost_micro(raw.headers) == expected


def test_transcription_falls_over_to_azure(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "whisper-1", fail_status=500)
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("a.wav", wav(1.0)))
    assert raw.parse().text
    assert raw.headers["x-gateway-model"] == "whisper-azure" and raw.headers["x-gateway-fallbacks"] == "1"
    assert cost_micro(raw.headers) == 200  # one second at Azure's $0.012 a minute
    paths = [r["path"] for r in sim_requests(sim, 2)]
    assert paths == ["/v1/audio/transcriptions", "/openai/deployments/whisper/audio/transcriptions"]


def test_upload_over_the_body_cap_is_413(client: openai.OpenAI, sim: Proc) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", wav(10.0)))
    assert info.value.status_code == 413 and info.value.body["code"] == "request_too_large"
    assert not [r for r in sim_requests(sim, 5) if "audio" in r["path"]]


def test_bad_uploads_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b""))
    assert info.value.body["param"] == "file"
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(0.5)), response_format="mp4")
    assert info.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError):  # a chat model is not a transcription model
        client.audio.transcriptions.create(model="gpt-5.4-mini", file=("a.wav", wav(0.5)))


def test_a_key_not_allowed_the_model_is_403(gateway: Proc) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=LIMITED_KEY, max_retries=0) as limited:
        with pytest.raises(openai.PermissionDeniedError) as info:
            limited.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(0.5)))
        assert info.value.body["code"] == "model_not_allowed"
        with pytest.raises(openai.PermissionDeniedError):
            limited.moderations.create(input="hello")


# ---------------------------------------------------------------------------------- speech

def test_speech_streams_audio_and_is_charged_by_characters(client: openai.OpenAI) -> None:
    text = "Hello from the gateway, spoken aloud."
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text,
                                                            response_format="wav") as response:
        data = response.read()
        headers = response.headers
    assert headers["content-type"] == "audio/wav" and headers["x-gateway-model"] == "tts-openai"
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack_from("<I", data, 40)[0] == len(data) - 44  # the data chunk is whole
    assert cost_micro(headers) == -(-len(text) * 15 // 1)  # $15 a million characters
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input=text).read()
    assert mp3[:2] == b"\xff\xfb" and len(mp3) % 417 == 0  # MPEG audio frames


def test_speech_falls_over_to_azure_before_its_first_byte(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "tts-1", fail_status=503)
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="Hi there",
                                                            response_format="pcm") as response:
        data = response.read()
        assert response.headers["x-gateway-model"] == "tts-azure"
        assert response.headers["x-gateway-fallbacks"] == "1"
    assert data and len(data) % 2 == 0
    assert sim_requests(sim, 1)[0]["path"] == "/openai/deployments/tts/audio/speech"


def test_speech_cut_after_its_first_byte_is_not_whole(client: openai.OpenAI, sim: Proc, gateway: Proc) -> None:
    sim_set(sim, "tts-1", stream_abort_after=1, tokens_per_s=1000)
    with pytest.raises(Exception) as info:  # the body ends before its chunked end: the client can tell
        with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="x" * 400) as r:
            r.read()
    assert type(info.value).__name__ == "RemoteProtocolError", info.value  # an incomplete chunked body

    def logged() -> list[dict]:
        return [json.loads(line) for line in gateway.log_lines() if '"upstream_stream_error"' in line]

    wait_for(lambda: any(entry.get("api") == "openai.audio.speech" for entry in logged()))


# ---------------------------------------------------------------------------------- images

def test_images_b64_json_priced_by_quality_and_size(client: openai.OpenAI) -> None:
    raw = client.images.with_raw_response.generate(model="dall-e-3", prompt="a red fox", size="1024x1024",
                                                   quality="hd", response_format="b64_json")
    png = base64.b64decode(raw.parse().data[0].b64_json)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert raw.headers["x-gateway-model"] == "dall-e-3" and cost_micro(raw.headers) == 80_000
    raw = client.images.with_raw_response.generate(model="auto", prompt="a red fox", size="1024x1792")
    url = raw.parse().data[0].url
    assert urllib.request.urlopen(url).read()[:4] == b"\x89PNG"
    assert cost_micro(raw.headers) == 120_000  # by size alone


def test_images_fall_over_to_azure(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "dall-e-3", fail_status=500)
    raw = client.images.with_raw_response.generate(model="images", prompt="a lighthouse", response_format="b64_json")
    assert raw.headers["x-gateway-model"] == "dall-e-azure" and cost_micro(raw.headers) == 50_000
    assert base64.b64decode(raw.parse().data[0].b64_json)[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------- moderations

def test_moderation_without_a_model_takes_the_route(client: openai.OpenAI) -> None:
    raw = client.moderations.with_raw_response.create(input=["I will kill the process", "a calm sea"])
    out = raw.parse()
    assert raw.headers["x-gateway-route"] == "moderations"
    assert [r.flagged for r in out.results] == [True, False]
    assert out.results[0].categories.violence and 0 <= out.results[1].category_scores.violence < 0.5
    assert cost_micro(raw.headers) == 0
