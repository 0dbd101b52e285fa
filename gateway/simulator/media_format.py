"""OpenAI (and Azure OpenAI) audio, image and moderation endpoints, written from the public API
reference: `POST /v1/audio/transcriptions`, `/v1/audio/translations` (multipart uploads, read with
the standard library's MIME parser), `/v1/audio/speech`, `/v1/images/generations`,
`/v1/moderations`; Azure's `/openai/deployments/{d}/audio/...` and `/images/generations`
(Azure has no moderations).

Deterministic: a transcription's text is words drawn from a digest of the file's bytes; its
duration is a WAV's own (its byte rate) or the size at 128 kb/s. whisper-style models report
`usage` in seconds, `gpt-4o*` models in tokens. Speech is a valid WAV, PCM or MPEG-1 Layer III
frame stream (silence; its length follows the input), opus/aac/flac only their container's
magic bytes, streamed in 4 KiB pieces under the pacing knobs. Images are a small valid PNG
(`b64_json`) or a URL the simulator serves (`GET /_sim/images/{name}.png`).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import math
import struct
import time
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .openai_format import _model_of, error, record_call
from .state import SimState
from .text import WORDS, prompt_tokens
from .wire import BadRequest, json_response, non_stream_delay, read_json, stream_response

MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 Layer III, 128 kb/s, 44.1 kHz: 417 bytes, 26 ms
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
                "wav": "audio/wav", "pcm": "audio/pcm"}
MAGIC = {"opus": b"OggS", "aac": b"\xff\xf1", "flac": b"fLaC"}
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic")
IMAGE_CATEGORIES = {"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence",
                    "violence/graphic"}
FLAG_WORDS = {"kill": "violence", "hate": "hate", "hurt": "self-harm"}


def _azure_ok(request: Request, deployment: str | None) -> Response | None:
    if deployment is not None and not request.query_params.get("api-version"):
        return json_response({"error": {"code": "404", "message": "Resource not found"}}, 404)
    return None


# ------------------------------------------------------------------------------- transcriptions

def _form(request: Request, raw: bytes) -> dict[str, tuple[bytes, str | None]]:
    """The upload's fields: name -> (bytes, file name)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("Invalid Content-Type header; expected multipart/form-data.")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise BadRequest("Could not parse multipart form")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = (part.get_payload(decode=True) or b"", part.get_filename())
    return fields


def audio_seconds(data: bytes) -> float:
    """A WAV's duration from its header; any other file's size at 128 kb/s."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) >= 44:
        byte_rate = struct.unpack_from("<I", data, 28)[0]
        if byte_rate:
            return max(0.0, (len(data) - 44) / byte_rate)
    return len(data) / 16_000


def heard(data: bytes, words: int) -> str:
    """The 'transcript': words picked by a digest of the audio's bytes."""
    digest = hashlib.shake_128(data).digest(words)
    text = " ".join(WORDS[b % len(WORDS)] for b in digest)
    return text[:1].upper() + text[1:] + "."


def _stamp(seconds: float, comma: bool) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{',' if comma else '.'}{ms:03d}"


async def transcription(request: Request, state: SimState, deployment: str | None = None,
                        translate: bool = False) -> Response:
    """POST /v1/audio/transcriptions (/translations) and Azure's deployment paths."""
    early = _azure_ok(request, deployment)
    if early is not None:
        return early
    fmt_name = "azure" if deployment is not None else "openai"
    try:
        fields = _form(request, await request.body())
        model = deployment or fields.get("model", (b"", None))[0].decode("utf-8", "replace")
        if not model:
            raise BadRequest("you must provide a model parameter", "model")
        audio, filename = fields.get("file", (b"", None))
        if filename is None or not audio:
            raise BadRequest("Could not parse multipart form: 'file' is required", "file")
        response_format = fields.get("response_format", (b"json", None))[0].decode()
        if response_format not in ("json", "text", "srt", "verbose_json", "vtt"):
            raise BadRequest(f"Invalid response_format: {response_format!r}", "response_format")
    except BadRequest as exc:
        state.record_rejected(deployment or "(unknown)", fmt_name)
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, model, deployment is not None)
    if early is not None:
        return early
    seconds = audio_seconds(audio)
    text = heard(audio, max(3, min(60, round(seconds * 2.5))))
    await non_stream_delay(knobs)
    if response_format == "text":
        return Response(text + "\n", media_type="text/plain")
    if response_format in ("srt", "vtt"):
        cue = f"{_stamp(0, response_format == 'srt')} --> {_stamp(seconds, response_format == 'srt')}\n{text}\n"
        body = f"1\n{cue}\n" if response_format == "srt" else f"WEBVTT\n\n{cue}\n"
        return Response(body, media_type="text/plain")
    usage: dict[str, Any] = {"type": "duration", "seconds": math.ceil(seconds)}
    if "gpt-4o" in model and not translate:
        audio_tokens = math.ceil(seconds * 10)
        words = len(text.split())
        usage = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": words,
                 "total_tokens": audio_tokens + words,
                 "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0}}
    if response_format == "json":
        return json_response({"text": text} if translate else {"text": text, "usage": usage})
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": round(seconds, 2), "text": " " + text,
               "tokens": [50364 + i for i in range(len(text.split()))], "temperature": 0.0, "avg_logprob": -0.25,
               "compression_ratio": 1.2, "no_speech_prob": 0.01}
    body = {"task": "translate" if translate else "transcribe", "language": "english",
            "duration": round(seconds, 2), "text": text, "segments": [segment]}
    if not translate:
        body["usage"] = {"type": "duration", "seconds": math.ceil(seconds)}
    return json_response(body)


# -------------------------------------------------------------------------------------- speech

def wav_bytes(samples: int, rate: int = 24_000) -> bytes:
    """A mono 16-bit PCM WAV of silence."""
    data = bytes(2 * samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate,
            2 * rate, 2, 16) + b"data" + struct.pack("<I", len(data)) + data)


def speech_bytes(text: str, response_format: str, speed: float) -> bytes:
    seconds = max(0.2, len(text) / 15 / speed)  # about 15 characters a second
    if response_format == "mp3":
        return MP3_FRAME * math.ceil(seconds / 0.026)
    samples = round(seconds * 24_000)
    if response_format == "wav":
        return wav_bytes(samples)
    if response_format == "pcm":
        return bytes(2 * samples)
    return MAGIC[response_format] + hashlib.shake_128(text.encode()).digest(round(seconds * 4000))


async def speech(request: Request, state: SimState, deployment: str | None = None) -> Response:
    """POST /v1/audio/speech and Azure's /openai/deployments/{d}/audio/speech."""
    early = _azure_ok(request, deployment)
    if early is not None:
        return early
    body: Any = None
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = deployment or body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("you must provide a model parameter", "model")
        text = body.get("input")
        if not isinstance(text, str) or not text or len(text) > 4096:
            raise BadRequest("'input' is required: a string of at most 4096 characters.", "input")
        if not body.get("voice"):
            raise BadRequest("'voice' is required.", "voice")
        response_format = body.get("response_format") or "mp3"
        if response_format not in SPEECH_TYPES:
            raise BadRequest(f"Invalid response_format: {response_format!r}", "response_format")
        speed = float(body.get("speed") or 1.0)
    except (BadRequest, TypeError, ValueError) as exc:
        state.record_rejected(deployment or _model_of(body), "azure" if deployment else "openai")
        if isinstance(exc, BadRequest):
            return error(exc.status, exc.message, exc.param)
        return error(400, "'speed' must be a number.", "speed")
    knobs, early = record_call(request, state, model, deployment is not None, stream=True)
    if early is not None:
        return early
    audio = speech_bytes(text, response_format, speed)
    pieces = [(audio[i:i + 4096], 1) for i in range(0, len(audio), 4096)]
    return stream_response(pieces, knobs, b"", media_type=SPEECH_TYPES[response_format])


# -------------------------------------------------------------------------------------- images

def png_bytes(seed: bytes, side: int = 8) -> bytes:
    """A small valid PNG: one colour from `seed`."""
    r, g, b = hashlib.blake2b(seed, digest_size=3).digest()
    raw = b"".join(b"\x00" + bytes((r, g, b)) * side for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def image_file(request: Request) -> Response:
    """GET /_sim/images/{name}.png: the image a `url` answer points at."""
    return Response(png_bytes(request.path_params["name"].encode()), media_type="image/png")


async def images(request: Request, state: SimState, deployment: str | None = None) -> Response:
    """POST /v1/images/generations and Azure's /openai/deployments/{d}/images/generations."""
    early = _azure_ok(request, deployment)
    if early is not None:
        return early
    body: Any = None
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = deployment or body.get("model") or "dall-e-2"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("'prompt' is required.", "prompt")
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 10 or ("dall-e-3" in model and n != 1):
            raise BadRequest("Invalid 'n': dall-e-3 makes one image a request, others 1 to 10.", "n")
        response_format = body.get("response_format") or "url"
        if response_format not in ("url", "b64_json"):
            raise BadRequest(f"Invalid response_format: {response_format!r}", "response_format")
    except BadRequest as exc:
        state.record_rejected(deployment or _model_of(body), "azure" if deployment else "openai")
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, model, deployment is not None)
    if early is not None:
        return early
    data = []
    for i in range(n):
        name = hashlib.blake2b(f"{state.seed}|{model}|{prompt}|{i}".encode(), digest_size=8).hexdigest()
        item: dict[str, Any] = ({"b64_json": base64.b64encode(png_bytes(name.encode())).decode()}
                                if response_format == "b64_json"
                                else {"url": f"{str(request.base_url).rstrip('/')}/_sim/images/{name}.png"})
        if "dall-e-3" in model:
            item["revised_prompt"] = prompt
        data.append(item)
    out: dict[str, Any] = {"created": int(time.time()), "data": data}
    if "gpt-image" in model:
        text_tokens = prompt_tokens(len(prompt))
        out["usage"] = {"input_tokens": text_tokens, "output_tokens": 1056 * n, "total_tokens": text_tokens + 1056 * n,
                        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0}}
    await non_stream_delay(knobs)
    return json_response(out)


# --------------------------------------------------------------------------------- moderations

def moderation_result(text: str, image: bool) -> dict[str, Any]:
    lowered = text.lower()
    hit = {category for word, category in FLAG_WORDS.items() if word in lowered}
    draw = hashlib.blake2b(text.encode(), digest_size=len(CATEGORIES)).digest()
    scores = {c: (0.9 + d / 2560 if c in hit else d / 25_600) for c, d in zip(CATEGORIES, draw)}
    return {"flagged": bool(hit), "categories": {c: c in hit for c in CATEGORIES},
            "category_scores": scores,
            "category_applied_input_types": {c: ["text", "image"] if image and c in IMAGE_CATEGORIES else ["text"]
                                             for c in CATEGORIES}}


async def moderations(request: Request, state: SimState) -> Response:
    """POST /v1/moderations: one result per input (a list of parts is one input)."""
    body: Any = None
    try:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model") or "omni-moderation-latest"
        raw = body.get("input")
        if isinstance(raw, str):
            inputs = [(raw, False)]
        elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            inputs = [(x, False) for x in raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw):
            inputs = [(" ".join(str(x.get("text", "")) for x in raw), any(x.get("type") == "image_url" for x in raw))]
        else:
            raise BadRequest("'input' must be a string, an array of strings, or an array of parts.", "input")
    except BadRequest as exc:
        state.record_rejected(_model_of(body), "openai")
        return error(exc.status, exc.message, exc.param)
    knobs, early = record_call(request, state, model, False)
    if early is not None:
        return early
    await non_stream_delay(knobs)
    return json_response({"id": "modr-" + state.next_id(), "model": model,
                          "results": [moderation_result(text, image) for text, image in inputs]})
