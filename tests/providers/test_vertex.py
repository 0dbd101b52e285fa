"""Vertex AI adapters (both families) and the Vertex provider fields of the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import ConfigError, parse_config
from gateway.errors import GatewayError
from gateway.providers import adapter_for
from tests.providers.helpers import deployment

BASE = "https://us-east5-aiplatform.googleapis.com"
CHAT = {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
MODEL_PATH = "/v1/projects/proj-1/locations/us-east5/publishers"


def test_gemini_on_vertex_url_headers_and_body() -> None:
    dep = deployment("vertex_gemini", "gemini-2.5-flash", BASE, api_key="ya29.token")
    req = adapter_for("vertex_gemini").to_upstream(dict(CHAT), dep, False)
    assert req.url == f"{BASE}{MODEL_PATH}/google/models/gemini-2.5-flash:generateContent"
    assert req.headers["authorization"] == "Bearer ya29.token"
    assert "x-goog-api-key" not in req.headers  # the token goes in one header only
    body = orjson.loads(req.body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    stream = adapter_for("vertex_gemini").to_upstream(dict(CHAT), dep, True)
    assert stream.url.endswith("/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_claude_on_vertex_body_has_version_and_no_model() -> None:
    dep = deployment("vertex_anthropic", "claude-sonnet-4-5@20250929", BASE, api_key="ya29.token")
    chat = {**CHAT, "x_gateway_native": {"format": "vertex_anthropic", "headers": {"anthropic-beta": "b1"}}}
    req = adapter_for("vertex_anthropic").to_upstream(chat, dep, False)
    assert req.url == f"{BASE}{MODEL_PATH}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    body = orjson.loads(req.body)
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"
    assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert req.headers["authorization"] == "Bearer ya29.token" and req.headers["anthropic-beta"] == "b1"
    assert "x-api-key" not in req.headers and "anthropic-version" not in req.headers
    stream = adapter_for("vertex_anthropic").to_upstream(dict(CHAT), dep, True)
    assert stream.url.endswith(":streamRawPredict") and orjson.loads(stream.body)["stream"] is True


def test_refreshed_token_is_read_per_request_and_absent_token_sends_no_header() -> None:
    dep = deployment("vertex_gemini", "gemini-2.5-flash", BASE, api_key=None)
    assert "authorization" not in adapter_for("vertex_gemini").to_upstream(dict(CHAT), dep, False).headers
    assert dep.provider.vertex is not None
    dep.provider.vertex.token.value = "ya29.fresh"
    req = adapter_for("vertex_gemini").to_upstream(dict(CHAT), dep, False)
    assert req.headers["authorization"] == "Bearer ya29.fresh"


def test_base_url_naming_the_api_version_keeps_it() -> None:
    dep = deployment("vertex_gemini", "gemini-2.5-flash", "http://127.0.0.1:9/v1beta1")
    req = adapter_for("vertex_gemini").to_upstream(dict(CHAT), dep, False)
    assert req.url.startswith("http://127.0.0.1:9/v1beta1/projects/proj-1/")


@pytest.mark.parametrize("data, code, status", [
    (b'{"error": {"code": 403, "message": "Permission denied on resource project p.", "status": "PERMISSION_DENIED"}}',
     "PERMISSION_DENIED", 502),
    (b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}', "overloaded_error", 502),
    (b'{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}',
     "RESOURCE_EXHAUSTED", 429),
])
def test_claude_on_vertex_errors_in_either_shape(data: bytes, code: str, status: int) -> None:
    upstream = json.loads(data)["error"].get("code", 529)
    err = adapter_for("vertex_anthropic").error_from_upstream(upstream, data, {})
    assert (err.code, err.status) == (code, status)
    assert err.message == json.loads(data)["error"]["message"]


# ----------------------------------------------------------------------------------------- config

def _doc(**provider: Any) -> dict[str, Any]:
    return {"providers": {"v": {"format": "vertex_gemini", **provider}},
            "models": {"m": {"provider": "v", "upstream": "gemini-2.5-flash", "price": {"input": 1}}},
            "routes": {"auto": {"primary": "m"}}, "keys": [{"name": "k", "sha256": "0" * 64}]}


def _key_file(tmp_path: Path, **over: Any) -> str:
    doc = {"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
           "private_key": "-----BEGIN PRIVATE KEY-----\n...\n", "token_uri": "https://oauth2.googleapis.com/token",
           **over}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_config_derives_the_regional_and_global_hosts() -> None:
    cfg = parse_config(_doc(project="p", location="europe-west4", api_key_env="TOK"), "t.yaml", {"TOK": "ya29.x"})
    provider = cfg.providers["v"]
    assert provider.base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert provider.vertex is not None and provider.vertex.project == "p" and provider.api_key == "ya29.x"
    cfg = parse_config(_doc(project="p", location="global", api_key_env="TOK"), "t.yaml", {"TOK": "ya29.x"})
    assert cfg.providers["v"].base_url == "https://aiplatform.googleapis.com"


def test_config_takes_a_service_account_file_or_the_environment_variable(tmp_path: Path) -> None:
    path = _key_file(tmp_path)
    cfg = parse_config(_doc(project="p", location="us-central1", credentials_file=path), "t.yaml", {})
    assert cfg.providers["v"].vertex.credentials_file == path and cfg.providers["v"].api_key is None
    cfg = parse_config(_doc(project="p", location="us-central1"), "t.yaml", {"GOOGLE_APPLICATION_CREDENTIALS": path})
    assert cfg.providers["v"].vertex.credentials_file == path


def test_config_takes_the_metadata_server_of_the_pod_or_machine() -> None:
    cfg = parse_config(_doc(project="p", location="us-central1", metadata_server=True), "t.yaml", {})
    vertex = cfg.providers["v"].vertex
    assert vertex.metadata_host == "metadata.google.internal" and vertex.credentials_file is None
    assert cfg.providers["v"].api_key is None
    cfg = parse_config(_doc(project="p", location="us-central1", metadata_server=True), "t.yaml",
                       {"GCE_METADATA_HOST": "169.254.169.254:8080", "GOOGLE_APPLICATION_CREDENTIALS": "/x.json"})
    assert cfg.providers["v"].vertex.metadata_host == "169.254.169.254:8080"  # the explicit choice wins over ADC's file
    cfg = parse_config(_doc(project="p", location="us-central1", metadata_server=False, api_key_env="TOK"), "t.yaml",
                       {"TOK": "ya29.x"})
    assert cfg.providers["v"].vertex.metadata_host is None


@pytest.mark.parametrize("provider, env, says", [
    ({"project": "p", "location": "us-central1"}, {}, "Vertex needs api_key_env"),
    ({"project": "p", "location": "us-central1", "metadata_server": True, "api_key_env": "TOK"}, {"TOK": "t"},
     "providers.v.api_key_env: .*one way to sign in"),
    ({"project": "p", "location": "us-central1", "metadata_server": "yes"}, {}, "expected true or false"),
    ({"location": "us-central1", "api_key_env": "TOK"}, {"TOK": "t"}, "providers.v.project"),
    ({"project": "p", "location": "US Central", "api_key_env": "TOK"}, {"TOK": "t"}, "expected a Vertex location"),
    ({"project": "p", "location": "us-central1", "api_key_env": "TOK", "credentials_file": "x.json"}, {"TOK": "t"},
     "not both"),
    ({"project": "p", "location": "us-central1", "credentials_file": "/nonexistent.json"}, {}, "cannot read it"),
])
def test_config_errors_name_the_field(provider: dict[str, Any], env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(_doc(**provider), "t.yaml", env)


def test_config_refuses_a_key_file_that_is_not_a_service_account(tmp_path: Path) -> None:
    path = _key_file(tmp_path, type="authorized_user")
    with pytest.raises(ConfigError, match="service-account key file"):
        parse_config(_doc(project="p", location="us-central1", credentials_file=path), "t.yaml", {})
    path = _key_file(tmp_path, private_key="")
    with pytest.raises(ConfigError, match="lacks private_key") as err:
        parse_config(_doc(project="p", location="us-central1", credentials_file=path), "t.yaml", {})
    assert "BEGIN" not in str(err.value)


def test_vertex_fields_belong_to_vertex_formats_only() -> None:
    doc = _doc(project="p", base_url="https://api.openai.com/v1", api_key_env=None)
    doc["providers"]["v"]["format"] = "openai"
    with pytest.raises(ConfigError, match="only for the vertex_"):
        parse_config(doc, "t.yaml", {})


def test_cli_reading_a_config_needs_no_sign_in(tmp_path: Path) -> None:
    """`need_keys=False` (gateway spend, status...): no token variable nor key file is needed."""
    cfg = parse_config(_doc(project="p", location="us-central1", credentials_file="/nowhere.json"), "t.yaml", {},
                       need_keys=False)
    assert cfg.providers["v"].vertex.credentials_file == "/nowhere.json"
    assert parse_config(_doc(project="p", location="us-central1"), "t.yaml", {}, need_keys=False).providers["v"].vertex


def test_embeddings_on_vertex_are_predict_instances() -> None:
    dep = deployment("vertex_gemini", "text-embedding-005", BASE, api_key="ya29.token")
    adapter = adapter_for("vertex_gemini")
    req = adapter.embeddings_to_upstream({"model": "e", "input": ["a", "b"], "dimensions": 8}, dep)
    assert req.url == f"{BASE}{MODEL_PATH}/google/models/text-embedding-005:predict"
    assert orjson.loads(req.body) == {"instances": [{"content": "a"}, {"content": "b"}],
                                      "parameters": {"outputDimensionality": 8}}
    assert req.headers["authorization"] == "Bearer ya29.token"
    answer = {"predictions": [{"embeddings": {"values": [0.5, 0.25], "statistics": {"token_count": 3.0}}},
                              {"embeddings": {"values": [1.0, 0.0], "statistics": {"token_count": 4}}}]}
    body, usage = adapter.embeddings_from_upstream(orjson.dumps(answer), dep, "float")
    assert [d["embedding"] for d in body["data"]] == [[0.5, 0.25], [1.0, 0.0]]
    assert usage.reported and usage.prompt_tokens == 7 and body["usage"]["prompt_tokens"] == 7
    with pytest.raises(GatewayError):
        adapter.embeddings_to_upstream({"model": "e", "input": [[1, 2]]}, dep)
    with pytest.raises(ValueError):
        adapter.embeddings_from_upstream(b'{"predictions": []}', dep, "float")
