"""Agent-shaped requests for the task classifier: what Claude Code (Anthropic Messages) and Codex CLI
(OpenAI Responses) send, with a human-written request inside.

`tests/data/agent_prompts.json` holds the long parts each client adds (written for this repository in
the style of those clients, not copied from them): an agent system prompt, the `<system-reminder>`
block with the project's memory file that Claude Code puts before the user's text, the list of
sub-agents it sends as a system message, and Codex's instructions, permissions (developer) message,
AGENTS.md and `<environment_context>` user messages. `tests/data/agent_tasks.jsonl` holds the
requests: the client, the project, the label of the user's request and its turns, where a turn is
``{"user": text}`` or an agent step ``{"assistant": text, "tool": name, "input": {...}, "result": text}``
(or a plain answer ``{"assistant": text}``).

:func:`requests` builds each row's body in the client's own format and :func:`canonical` turns it
into the messages the classifier sees, through the gateway's own inbound translators.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

DATA = Path(__file__).resolve().parent / "data"
TASKS_FILE = DATA / "agent_tasks.jsonl"
PROMPTS_FILE = DATA / "agent_prompts.json"
DATE = "2026-12-06"


@lru_cache(maxsize=1)
def prompts() -> dict[str, Any]:
    return json.loads(PROMPTS_FILE.read_text())


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TASKS_FILE.read_text().splitlines() if line.strip()]


def claude_code_body(row: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages body as Claude Code shapes it."""
    p, cwd = prompts()["claude-code"], row["cwd"]
    memory = p["memory"][row["project"]].format(cwd=cwd)
    messages: list[dict[str, Any]] = []
    first = True
    for k, turn in enumerate(row["turns"]):
        if "user" in turn:
            blocks = [{"type": "text", "text": turn["user"]}]
            if first:  # the harness's context block comes before the first request, as its own text block
                blocks.insert(0, {"type": "text", "text": p["reminder"].format(memory=memory, date=DATE)})
            messages.append({"role": "user", "content": blocks})
            if first:
                messages.append({"role": "system", "content": p["agents"]})
            first = False
            continue
        content: list[dict[str, Any]] = [{"type": "text", "text": turn["assistant"]}] if turn["assistant"] else []
        if "tool" not in turn:
            messages.append({"role": "assistant", "content": content})
            continue
        call_id = f"toolu_{k:02d}"
        content.append({"type": "tool_use", "id": call_id, "name": turn["tool"], "input": turn["input"]})
        messages.append({"role": "assistant", "content": content})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                                      "content": turn["result"]}]})
    return {"model": "auto", "max_tokens": 32000, "stream": True,
            "system": [{"type": "text", "text": p["identity"]},
                       {"type": "text", "text": p["main"].replace("{cwd}", cwd), "cache_control": {"type": "ephemeral"}}],
            "messages": messages}


def codex_body(row: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI Responses body as Codex CLI shapes it."""
    p, cwd = prompts()["codex"], row["cwd"]
    items: list[dict[str, Any]] = [{"type": "message", "role": "developer",
                                    "content": [{"type": "input_text", "text": p["developer"]}]}]
    agents_md = p["agents_md"][row["project"]]
    if agents_md:
        items.append({"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": agents_md.format(cwd=cwd)}]})
    items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": p["env"].format(cwd=cwd)}]})
    for k, turn in enumerate(row["turns"]):
        if "user" in turn:
            items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": turn["user"]}]})
            continue
        if turn["assistant"]:
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": turn["assistant"]}]})
        if "tool" in turn:
            call_id = f"call_{k:02d}"
            items.append({"type": "function_call", "call_id": call_id, "name": turn["tool"],
                          "arguments": json.dumps(turn["input"])})
            items.append({"type": "function_call_output", "call_id": call_id, "output": turn["result"]})
    return {"model": "auto", "instructions": p["instructions"], "input": items, "stream": True,
            "reasoning": {"effort": "medium"}}


def requests() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(api, body, row) of every fixture row; api is "anthropic" or "responses"."""
    for row in rows():
        if row["client"] == "claude-code":
            yield "anthropic", claude_code_body(row), row
        else:
            yield "responses", codex_body(row), row


def canonical(api: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The canonical (chat-completions) messages the gateway classifies for ``body``."""
    if api == "anthropic":
        from gateway.inbound.anthropic.request import to_canonical

        return to_canonical(body)["messages"]
    from gateway.inbound.responses.request import canonical_body

    return canonical_body(body)["messages"]


def labelled() -> list[tuple[list[dict[str, Any]], str, str]]:
    """(canonical messages, label, client) of every row."""
    return [(canonical(api, body), row["label"], row["client"]) for api, body, row in requests()]
