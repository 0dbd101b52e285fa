"""OpenAI's media requests read and priced: a transcription or translation upload, speech, image
generation, moderation. Each becomes a `MediaAsk`: what to plan, how to build the provider call
on a deployment, the worst case admit reserves, and how to charge the answer.

Prices are the model's own units (gateway/config/media.py). What is known before the call is
exact (characters spoken, images asked, a request), so it is reserved and charged alike; an
upload's length in seconds is not, so admit reserves a bound from its size and settle charges the
duration (or tokens) the provider reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import orjson

from gateway.config import Deployment, Price
from gateway.errors import bad_request
from gateway.pipeline.request import parse_json
from gateway.pricing import Usage, estimate_tokens
from gateway.providers import UpstreamRequest
from gateway.providers.media import form_request, json_request
from gateway.providers.multipart import parse_form

# An upload's duration is unknown until decoded: bounded by its size at 16 kb/s, below the bitrate
# of any codec and quality the audio endpoints are sent (mp3 speech is 32-128 kb/s, wav 256+).
AUDIO_BYTES_PER_S = 2_000
AUDIO_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
IMAGE_FORMATS = ("url", "b64_json")
MAX_SPEECH_CHARS = 4096  # OpenAI's limit on `input`
MAX_IMAGES = 10
_TIMESTAMP = re.compile(rb"(\d{1,3}):(\d\d):(\d\d)[,.](\d{3})")  # an srt or vtt cue time


@dataclass(slots=True)
class MediaAsk:
    """One media request, read: `charge` reads the provider's answer into its usage and cost."""

    kind: str
    operation: str                   # the provider path after its base URL, e.g. "audio/speech"
    model: str                       # as the client named it ("auto": the kind's route)
    text_chars: int                  # text the request carries: what planning and the token counts see
    user: str | None
    build: Callable[[Deployment], UpstreamRequest]
    worst_micro: Callable[[Deployment], int]
    charge: Callable[[Deployment, bytes], tuple[Usage, int]]
    stream: bool = False             # speech: relayed as it arrives
    guarded: dict[str, Any] | None = None  # the text fields guardrails read and may redact ({"input": ...})


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _model(value: Any, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value:
        raise bad_request("'model' is required: a model, a route, or 'auto'.", "model")
    return value


def _choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if value not in choices:
        raise bad_request(f"'{name}' must be one of {', '.join(choices)}.", name)
    return value


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"'{name}' is required: a non-empty string.", name)
    if len(value) > limit:
        raise bad_request(f"'{name}' is longer than {limit} characters.", name)
    return value


def _user(body: Mapping[str, Any]) -> str | None:
    user = body.get("user")
    return user if isinstance(user, str) else None


# ----------------------------------------------------------------------------- transcription

def transcription_micro(price: Price, seconds_ms: int, tokens_in: int = 0, tokens_out: int = 0) -> int:
    """A minute of audio at `per_minute`, tokens at `input`/`output`, plus `per_request`."""
    return (_ceil_div(seconds_ms * price.per_minute, 60_000)
            + _ceil_div(tokens_in * price.input + tokens_out * price.output, 1_000_000) + price.per_request)


def audio_usage(data: bytes, response_format: str) -> tuple[int | None, int, int]:
    """(duration in ms or None, input tokens, output tokens) of a transcription answer: its
    `usage` (seconds, or tokens for gpt-4o-transcribe), verbose_json's `duration`, or the last cue's
    end in srt/vtt. Plain text says nothing (None, 0, 0)."""
    if response_format in ("srt", "vtt"):
        ends = _TIMESTAMP.findall(data)
        if not ends:
            return None, 0, 0
        h, m, s, ms = (int(x) for x in ends[-1])
        return ((h * 60 + m) * 60 + s) * 1000 + ms, 0, 0
    if response_format == "text":
        return None, 0, 0
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("text", ""), str):
        raise ValueError("upstream body is not a transcription")
    usage = doc.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "tokens":
        return None, int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    if isinstance(usage, dict) and isinstance(usage.get("seconds"), (int, float)):
        return round(usage["seconds"] * 1000), 0, 0
    if isinstance(doc.get("duration"), (int, float)):
        return round(doc["duration"] * 1000), 0, 0
    return None, 0, 0


def transcription_ask(operation: str, content_type: str | None, raw: bytes) -> MediaAsk:
    """`audio/transcriptions` or `audio/translations`: the upload and its form fields."""
    parts = parse_form(content_type, raw)
    fields = {p.name: p for p in parts}
    audio = fields.get("file")
    if audio is None or audio.filename is None or not audio.data:
        raise bad_request("'file' is required: the audio, uploaded as a file.", "file")
    text = {name: p.text() for name, p in fields.items() if name != "file"}
    if text.get("stream", "false").lower() not in ("false", "0"):
        raise bad_request("'stream' is not supported here: the answer is one body.", "stream")
    fmt = _choice(text, "response_format", AUDIO_FORMATS, "json")
    if "temperature" in text:
        try:
            float(text["temperature"])
        except ValueError:
            raise bad_request("'temperature' must be a number.", "temperature") from None
    bound_ms = _ceil_div(len(audio.data), AUDIO_BYTES_PER_S) * 1000

    def worst(dep: Deployment) -> int:
        return transcription_micro(dep.price, bound_ms)

    def charge(dep: Deployment, data: bytes) -> tuple[Usage, int]:
        ms, tokens_in, tokens_out = audio_usage(data, fmt)
        if ms is None and not tokens_in:  # nothing said how long it was: charged the bound
            return Usage(), worst(dep)
        usage = Usage(prompt_tokens=tokens_in, completion_tokens=tokens_out, reported=True)
        if ms is None and not (dep.price.input or dep.price.output):  # tokens, but priced by the minute
            return usage, worst(dep)
        return usage, transcription_micro(dep.price, ms or 0, tokens_in, tokens_out)

    return MediaAsk("transcription", operation, _model(text.get("model")), len(text.get("prompt", "")),
                    None, lambda dep: form_request(parts, dep, operation), worst, charge)


# ----------------------------------------------------------------------------------- speech

def speech_micro(price: Price, chars: int) -> int:
    return _ceil_div(chars * price.per_million_chars, 1_000_000) + price.per_request


def speech_ask(raw: bytes) -> MediaAsk:
    body = parse_json(raw)
    text = _text(body, "input", MAX_SPEECH_CHARS)
    if not isinstance(body.get("voice"), (str, dict)) or not body.get("voice"):
        raise bad_request("'voice' is required.", "voice")
    _choice(body, "response_format", SPEECH_FORMATS, "mp3")
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4):
        raise bad_request("'speed' must be a number from 0.25 to 4.", "speed")

    def charge(dep: Deployment, data: bytes) -> tuple[Usage, int]:
        return Usage(prompt_tokens=estimate_tokens(len(text)), reported=True), speech_micro(dep.price, len(text))

    return MediaAsk("speech", "audio/speech", _model(body.get("model")), len(text), _user(body),
                    lambda dep: json_request(body, dep, "audio/speech"),
                    lambda dep: speech_micro(dep.price, len(text)), charge, stream=True, guarded=body)


# ----------------------------------------------------------------------------------- images

def image_price(price: Price, quality: str | None, size: str | None) -> int:
    """One image's price: by "quality/size", "size", "quality", then flat; none of them: the dearest."""
    table = dict(price.per_image)
    for key in (f"{quality}/{size}" if quality and size else None, size, quality, ""):
        if key is not None and key in table:
            return table[key]
    return max(table.values(), default=0)


def image_ask(raw: bytes) -> MediaAsk:
    body = parse_json(raw)
    prompt = _text(body, "prompt", 32_000)
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise bad_request(f"'n' must be an integer from 1 to {MAX_IMAGES}.", "n")
    if body.get("stream") not in (None, False):
        raise bad_request("'stream' is not supported on image generation: the answer is one body.", "stream")
    _choice(body, "response_format", IMAGE_FORMATS, "url")
    quality, size = body.get("quality"), body.get("size")
    quality = quality if isinstance(quality, str) else None
    size = size if isinstance(size, str) else None

    def micro(dep: Deployment, images: int) -> int:
        return images * image_price(dep.price, quality, size) + dep.price.per_request

    def charge(dep: Deployment, data: bytes) -> tuple[Usage, int]:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ValueError("upstream body is not an images response")
        usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
        return (Usage(prompt_tokens=int(usage.get("input_tokens") or estimate_tokens(len(prompt))),
                      completion_tokens=int(usage.get("output_tokens") or 0), reported=True),
                micro(dep, len(doc["data"])))

    guarded = {"input": prompt}
    return MediaAsk("image", "images/generations", _model(body.get("model")), len(prompt), _user(body),
                    lambda dep: json_request({**body, "prompt": guarded["input"]}, dep, "images/generations"),
                    lambda dep: micro(dep, n), charge, guarded=guarded)


# ------------------------------------------------------------------------------- moderations

def _moderation_chars(value: Any) -> int:
    if isinstance(value, str) and value:
        return len(value)
    if isinstance(value, list) and value and len(value) <= 2048:
        if all(isinstance(v, str) for v in value):
            return sum(len(v) for v in value)
        if all(isinstance(v, dict) and v.get("type") in ("text", "image_url") for v in value):
            return sum(len(v["text"]) if isinstance(v.get("text"), str) else 3000 for v in value)
    raise bad_request("'input' must be a non-empty string, a list of strings, or a list of text and image_url "
                      "parts.", "input")


def moderation_ask(raw: bytes) -> MediaAsk:
    body = parse_json(raw)
    chars = _moderation_chars(body.get("input"))

    def charge(dep: Deployment, data: bytes) -> tuple[Usage, int]:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
            raise ValueError("upstream body is not a moderation response")
        return Usage(prompt_tokens=estimate_tokens(chars), reported=True), dep.price.per_request

    return MediaAsk("moderation", "moderations", _model(body.get("model"), "auto"), chars, None,
                    lambda dep: json_request(body, dep, "moderations"), lambda dep: dep.price.per_request, charge)
