"""The OpenAI media paths of /openapi.json: audio uploads (multipart/form-data), speech, image
generation and moderations, with the fields the gateway checks (gateway/pipeline/media_asks.py)."""

from __future__ import annotations

from typing import Any

from gateway.edge import openapi_native as native
from gateway.pipeline.media_asks import AUDIO_FORMATS, IMAGE_FORMATS, MAX_IMAGES, MAX_SPEECH_CHARS, SPEECH_FORMATS

TEXT = {"type": "string", "minLength": 1}
BEARER = [{"bearer": []}]
UPLOAD = {"type": "object", "required": ["file", "model"], "properties": {
    "file": {"type": "string", "format": "binary"}, "model": TEXT,
    "response_format": {"enum": list(AUDIO_FORMATS)}, "language": {"type": "string"},
    "prompt": {"type": "string"}, "temperature": {"type": "number"}}}
SCHEMAS = {
    "AudioUpload": UPLOAD,
    "SpeechRequest": {"type": "object", "required": ["model", "input", "voice"], "properties": {
        "model": TEXT, "input": {**TEXT, "maxLength": MAX_SPEECH_CHARS}, "voice": TEXT,
        "response_format": {"enum": list(SPEECH_FORMATS)}, "speed": {"type": "number", "minimum": 0.25,
                                                                     "maximum": 4}}},
    "ImagesRequest": {"type": "object", "required": ["prompt"], "properties": {
        "model": TEXT, "prompt": TEXT, "n": {"type": "integer", "minimum": 1, "maximum": MAX_IMAGES},
        "size": {"type": "string"}, "quality": {"type": "string"},
        "response_format": {"enum": list(IMAGE_FORMATS)}, "stream": {"const": False}}},
    "ModerationsRequest": {"type": "object", "required": ["input"], "properties": {
        "model": TEXT, "input": {"oneOf": [TEXT, {"type": "array", "minItems": 1, "items": {"type": "string"}}]}}},
}


def _upload(op: str, ok: str) -> dict[str, Any]:
    return {"post": {"operationId": op, "security": BEARER,
                     "requestBody": {"required": True, "content": {"multipart/form-data": {
                         "schema": {"$ref": "#/components/schemas/AudioUpload"}}}},
                     "responses": {"200": {"description": ok, "content": {
                         "application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": TEXT}}},
                         **native.errors("Error")}}}


def paths() -> dict[str, Any]:
    speech = native.post("createSpeech", "SpeechRequest", "The audio, streamed as it arrives", "Error", BEARER)
    speech["post"]["responses"]["200"]["content"] = {"application/octet-stream": {"schema": {"type": "string"}}}
    return {
        "/v1/audio/transcriptions": _upload("createTranscription", "The transcript, in the response_format asked"),
        "/v1/audio/translations": _upload("createTranslation", "The English text, in the response_format asked"),
        "/v1/audio/speech": speech,
        "/v1/images/generations": native.post("createImage", "ImagesRequest", "The images (url or b64_json)",
                                              "Error", BEARER),
        "/v1/moderations": native.post("createModeration", "ModerationsRequest", "One result per input", "Error",
                                       BEARER),
    }
