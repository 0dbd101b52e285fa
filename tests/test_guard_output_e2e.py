"""Guardrails on answers end to end: the official SDKs → the gateway (a real process) → the
simulator scripted (`reply_text`, `tool_call`/`tool_args`) to answer with a key and an e-mail
address, in 4-character tokens, so a stream splits them across chunks. Redacted whole and
streamed (OpenAI chat, Anthropic Messages natively, Gemini natively, tool-call arguments);
blocked whole (the client's 400) and streamed (the client's error event), still charged; a
runtime key and a team with a policy of their own, through the admin API and its audit."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from typing import Any, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.procs import ADMIN_KEY, ADMIN_KEY_SHA, Proc, sim_set, start_gateway, wait_for
from tests.test_providers_e2e import config

REDACT_KEY, BLOCK_KEY, LOG_KEY = "sk-gateway-out-redact", "sk-gateway-out-block", "sk-gateway-out-log"
EMAIL, SECRET = "dana.miller@example.com", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"
ANSWER = "Sure. " * 50 + f"The key is {SECRET}, its owner {EMAIL}. " + "Anything else? " * 20
REDACTED = ANSWER.replace(SECRET, "[SECRET_1]").replace(EMAIL, "[EMAIL_1]")
MODELS = """  leaky-gpt: {provider: openai, price: {input: 1, output: 4}}
  leaky-claude: {provider: anthropic, upstream: claude-leaky, price: {input: 1, output: 4}}
  leaky-gemini: {provider: gemini, upstream: gemini-leaky, price: {input: 1, output: 4}}
  leaky-tools: {provider: openai, price: {input: 1, output: 4}}
"""
GUARDRAILS = """guardrails:
  out-redact: {detect: [], output: {detect: [email, secret], action: redact}}
  out-block: {detect: [], output: {detect: [secret], action: block}}
  out-log: {detect: [], output: {detect: [email], action: log}}
"""


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = (config(sim.port).replace("prefix: prov", "prefix: outguard").replace("models:\n", "models:\n" + MODELS)
            + f"  - {{name: out-redactor, sha256: {sha(REDACT_KEY)}, guardrail: out-redact}}\n"
            + f"  - {{name: out-blocker, sha256: {sha(BLOCK_KEY)}, guardrail: out-block}}\n"
            + f"  - {{name: out-logger, sha256: {sha(LOG_KEY)}, guardrail: out-log}}\n"
            + f"admin_key_sha256: {ADMIN_KEY_SHA}\n" + GUARDRAILS)
    for model in ("leaky-gpt", "claude-leaky", "gemini-leaky"):
        sim_set(sim, model, reply_text=ANSWER)
    sim_set(sim, "leaky-tools", tool_call="send_mail", tool_args={"to": EMAIL, "note": "x" * 300, "key": SECRET})
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def oai(gateway: Proc, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def ask(text: str = "What is the key?") -> list[Any]:
    return [{"role": "user", "content": text}]


def admin(gateway: Proc, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(f"{gateway.url}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_openai_whole_answer_is_redacted_with_its_header(gateway: Proc) -> None:
    with oai(gateway, REDACT_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="leaky-gpt", messages=ask())
    assert raw.parse().choices[0].message.content == REDACTED
    assert raw.headers["x-gateway-guardrail-output"] == "redacted" and "x-gateway-guardrail" not in raw.headers


def test_openai_stream_is_redacted_across_chunks(gateway: Proc) -> None:
    with oai(gateway, REDACT_KEY) as client:
        parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="leaky-gpt", messages=ask(), stream=True) if c.choices]
    assert "".join(parts) == REDACTED
    assert not any("sk-proj" in p or "dana" in p for p in parts)


def test_openai_whole_answer_blocked_is_a_400_and_still_charged(gateway: Proc) -> None:
    status, made = admin(gateway, "POST", "/admin/keys", {"name": "out-block-runtime", "guardrail": "out-block"})
    assert status == 201 and made["guardrail"] == "out-block"
    with oai(gateway, made["key"]) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="leaky-gpt", messages=ask())
    err = info.value
    assert err.code == "guardrail_blocked" and "answer" in err.message and SECRET not in str(err.body)
    assert err.response.headers["x-gateway-guardrail-output"] == "blocked"

    def charged() -> bool:
        return admin(gateway, "GET", f"/admin/keys/{made['id']}")[1]["spend_today_usd"] > 0

    wait_for(charged)
    _, audit = admin(gateway, "GET", "/admin/audit?limit=20")
    entry = next(e for e in audit["data"] if e["target"] == made["id"] and e["op"] == "key.create")
    assert entry["after"]["guardrail"] == "out-block"


def test_openai_stream_blocked_ends_with_the_error_event_and_no_part_of_the_key(gateway: Proc) -> None:
    got: list[str] = []
    with oai(gateway, BLOCK_KEY) as client:
        with pytest.raises(openai.APIError) as info:
            for chunk in client.chat.completions.create(model="leaky-gpt", messages=ask(), stream=True):
                if chunk.choices:
                    got.append(chunk.choices[0].delta.content or "")
    assert "guardrail" in info.value.message and SECRET not in info.value.message
    assert "sk-proj" not in "".join(got) and ANSWER.startswith("".join(got))


def test_log_serves_the_answer_and_counts_it(gateway: Proc) -> None:
    with oai(gateway, LOG_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="leaky-gpt", messages=ask())
    assert raw.parse().choices[0].message.content == ANSWER
    assert raw.headers["x-gateway-guardrail-output"] == "logged"

    def counted() -> bool:  # the metrics are written once the request has settled, after the answer
        with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10) as response:
            return 'gateway_guardrail_findings_total{detector="email",action="log",side="output"' \
                in response.read().decode()

    wait_for(counted)


def test_tool_call_arguments_are_redacted_whole_and_streamed(gateway: Proc) -> None:
    tools = [{"type": "function", "function": {"name": "send_mail", "parameters": {"type": "object", "properties": {
        "to": {"type": "string"}, "note": {"type": "string"}, "key": {"type": "string"}}}}}]
    want = {"to": "[EMAIL_1]", "note": "x" * 300, "key": "[SECRET_1]"}
    with oai(gateway, REDACT_KEY) as client:
        whole = client.chat.completions.create(model="leaky-tools", messages=ask("mail it"), tools=tools)
        args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in client.chat.completions.create(
            model="leaky-tools", messages=ask("mail it"), tools=tools, stream=True)
            if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(whole.choices[0].message.tool_calls[0].function.arguments) == want
    assert json.loads(args) == want


def test_anthropic_sdk_whole_and_streamed_on_a_claude_deployment(gateway: Proc) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key=REDACT_KEY, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model="leaky-claude", max_tokens=500, messages=ask())
        assert raw.headers["x-gateway-guardrail-output"] == "redacted"
        assert raw.parse().content[0].text == REDACTED  # the provider's own body, redacted
        with client.messages.stream(model="leaky-claude", max_tokens=500, messages=ask()) as events:
            text = "".join(events.text_stream)
            final = events.get_final_message()
    assert text == REDACTED and final.stop_reason == "end_turn"


def test_anthropic_sdk_stream_blocked_is_its_error_event(gateway: Proc) -> None:
    got = ""
    with anthropic.Anthropic(base_url=gateway.url, api_key=BLOCK_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            with client.messages.stream(model="leaky-claude", max_tokens=500, messages=ask()) as events:
                for piece in events.text_stream:
                    got += piece
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model="leaky-claude", max_tokens=500, messages=ask())
    assert "guardrail" in str(info.value) and "sk-proj" not in got and ANSWER.startswith(got)


def test_gemini_sdk_whole_answer_is_redacted_natively(gateway: Proc) -> None:
    client = genai.Client(api_key=REDACT_KEY, http_options=types.HttpOptions(
        base_url=gateway.url, retry_options=types.HttpRetryOptions(attempts=1)))
    reply = client.models.generate_content(model="leaky-gemini", contents="What is the key?")
    assert reply.text == REDACTED
    streamed = "".join(c.text or "" for c in client.models.generate_content_stream(
        model="leaky-gemini", contents="What is the key?"))
    assert streamed == REDACTED


def test_a_runtime_key_in_a_team_takes_the_teams_policy_unless_it_names_its_own(gateway: Proc) -> None:
    assert admin(gateway, "POST", "/admin/teams", {"id": "out-team", "guardrail": "nope"})[0] == 400
    status, team = admin(gateway, "POST", "/admin/teams", {"id": "out-team", "guardrail": "out-redact"})
    assert status == 201 and team["guardrail"] == "out-redact"
    _, member = admin(gateway, "POST", "/admin/keys", {"name": "out-member", "team": "out-team"})
    _, own = admin(gateway, "POST", "/admin/keys", {"name": "out-own", "team": "out-team", "guardrail": "none"})
    status, bad = admin(gateway, "POST", "/admin/keys", {"name": "out-bad", "guardrail": "nope"})
    assert status == 400 and bad["error"]["code"] == "unknown_guardrail"
    with oai(gateway, member["key"]) as client:
        assert client.chat.completions.create(model="leaky-gpt", messages=ask()).choices[0].message.content == REDACTED
    with oai(gateway, own["key"]) as client:  # its own `none` wins over the team's policy
        assert client.chat.completions.create(model="leaky-gpt", messages=ask()).choices[0].message.content == ANSWER
    status, changed = admin(gateway, "PATCH", f"/admin/keys/{own['id']}", {"guardrail": "out-block"})
    assert status == 200 and changed["guardrail"] == "out-block"

    def blocked() -> bool:  # binds at the key's next version check (admit), as every key change does
        with oai(gateway, own["key"]) as client:
            try:
                client.chat.completions.create(model="leaky-gpt", messages=ask())
            except openai.BadRequestError as err:
                return err.code == "guardrail_blocked"
        return False

    wait_for(blocked)
