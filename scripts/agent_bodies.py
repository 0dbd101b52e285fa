"""Agent-sized request bodies for the inbound benchmarks: what Claude Code (Anthropic Messages) sends
late in a session, and the same conversation as an OpenAI chat body and a Responses body (Codex CLI).

A session's body grows with every turn: the system blocks, the tool definitions and the whole
conversation so far (assistant text and `tool_use` blocks, each answered by a `tool_result`), with
Claude Code's cache marks on the system prompt and the last turn. `claude_code(turns=60)` gives a
body of about 42 kB, 121 messages and 15 tools, the size a colleague measured on a real session.
The prompts are the fixture's (`tests/data/agent_prompts.json`, written for this repository); the
tool schemas and results are made up in the shape Claude Code gives them. Deterministic: the same
arguments give the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROMPTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "agent_prompts.json"
CWD = "/home/dana/src/billing-api"
DATE = "2026-12-06"

_TOOLS = {  # name: (description, {property: (type, description)}, required)
    "Task": ("Launch a new agent to handle complex, multi-step tasks autonomously.",
             {"description": ("string", "A short (3-5 word) description of the task"),
              "prompt": ("string", "The task for the agent to perform"),
              "subagent_type": ("string", "The type of specialized agent to use for this task")},
             ["description", "prompt", "subagent_type"]),
    "Bash": ("Executes a given bash command in a persistent shell session with optional timeout.",
             {"command": ("string", "The command to execute"), "timeout": ("number", "Optional timeout in ms"),
              "description": ("string", "Clear, concise description of what this command does"),
              "run_in_background": ("boolean", "Set to true to run this command in the background")},
             ["command"]),
    "Glob": ("Fast file pattern matching tool that works with any codebase size.",
             {"pattern": ("string", "The glob pattern to match files against"),
              "path": ("string", "The directory to search in")}, ["pattern"]),
    "Grep": ("A powerful search tool built on ripgrep. Supports full regex syntax.",
             {"pattern": ("string", "The regular expression pattern to search for in file contents"),
              "path": ("string", "File or directory to search in"), "glob": ("string", "Glob pattern to filter files"),
              "output_mode": ("string", "content, files_with_matches or count"),
              "-n": ("boolean", "Show line numbers in output"), "-i": ("boolean", "Case insensitive search")},
             ["pattern"]),
    "LS": ("Lists files and directories in a given path.",
           {"path": ("string", "The absolute path to the directory to list"),
            "ignore": ("array", "List of glob patterns to ignore")}, ["path"]),
    "ExitPlanMode": ("Use this tool when you are in plan mode and have finished presenting your plan.",
                     {"plan": ("string", "The plan you came up with, that you want to run by the user")}, ["plan"]),
    "Read": ("Reads a file from the local filesystem. You can access any file directly by using this tool.",
             {"file_path": ("string", "The absolute path to the file to read"),
              "offset": ("number", "The line number to start reading from"),
              "limit": ("number", "The number of lines to read")}, ["file_path"]),
    "Edit": ("Performs exact string replacements in files.",
             {"file_path": ("string", "The absolute path to the file to modify"),
              "old_string": ("string", "The text to replace"), "new_string": ("string", "The text to replace it with"),
              "replace_all": ("boolean", "Replace all occurences of old_string (default false)")},
             ["file_path", "old_string", "new_string"]),
    "MultiEdit": ("Makes multiple edits to a single file in one operation.",
                  {"file_path": ("string", "The absolute path to the file to modify"),
                   "edits": ("array", "Array of edit operations to perform sequentially on the file")},
                  ["file_path", "edits"]),
    "Write": ("Writes a file to the local filesystem.",
              {"file_path": ("string", "The absolute path to the file to write"),
               "content": ("string", "The content to write to the file")}, ["file_path", "content"]),
    "NotebookEdit": ("Completely replaces the contents of a specific cell in a Jupyter notebook.",
                     {"notebook_path": ("string", "The absolute path to the Jupyter notebook file to edit"),
                      "cell_id": ("string", "The ID of the cell to edit"),
                      "new_source": ("string", "The new source for the cell")}, ["notebook_path", "new_source"]),
    "WebFetch": ("Fetches content from a specified URL and processes it using an AI model.",
                 {"url": ("string", "The URL to fetch content from"),
                  "prompt": ("string", "The prompt to run on the fetched content")}, ["url", "prompt"]),
    "TodoWrite": ("Use this tool to create and manage a structured task list for your current coding session.",
                  {"todos": ("array", "The updated todo list")}, ["todos"]),
    "WebSearch": ("Allows Claude to search the web and use the results to inform responses.",
                  {"query": ("string", "The search query to use"),
                   "allowed_domains": ("array", "Only include search results from these domains")}, ["query"]),
    "BashOutput": ("Retrieves output from a running or completed background bash shell.",
                   {"bash_id": ("string", "The ID of the background shell to retrieve output from")}, ["bash_id"]),
}

# One agent step: (assistant text, tool, input, result); cycled with the step number mixed in.
_STEPS = (
    ("I'll look at how invoices are fetched first.", "Grep",
     {"pattern": "def get_invoice", "path": "app/", "output_mode": "content", "-n": True},
     "app/api/invoices.py:41:def get_invoice(invoice_id: int, db: Session = Depends(get_db)):\n"
     "app/services/billing.py:88:def get_invoice_by_number(number: str) -> Invoice | None:"),
    ("", "Read", {"file_path": f"{CWD}/app/api/invoices.py", "offset": 30, "limit": 40},
     "    30\tfrom datetime import datetime, timezone\n    31\t\n    41\tdef get_invoice(invoice_id: int, db: Session"
     " = Depends(get_db)):\n    42\t    invoice = db.query(Invoice).filter(Invoice.id == invoice_id,\n    43\t"
     "        Invoice.created_at < datetime.now(timezone.utc).date()).first()\n    44\t    if invoice is None:\n"
     "    45\t        raise HTTPException(status_code=404, detail=\"invoice not found\")\n    46\t    return invoice"),
    ("The filter compares created_at with today's date, which drops today's invoices. Fixing it.", "Edit",
     {"file_path": f"{CWD}/app/api/invoices.py",
      "old_string": "Invoice.id == invoice_id,\n        Invoice.created_at < datetime.now(timezone.utc).date()",
      "new_string": "Invoice.id == invoice_id"},
     "The file app/api/invoices.py has been updated. Here's the result of running `cat -n` on a snippet:\n"
     "    41\tdef get_invoice(invoice_id: int, db: Session = Depends(get_db)):\n    42\t    invoice = "
     "db.query(Invoice).filter(Invoice.id == invoice_id).first()"),
    ("Running the invoice tests.", "Bash",
     {"command": "pytest tests/test_invoices.py -x -q", "description": "Run the invoice tests"},
     "........................                                                 [100%]\n24 passed in 3.41s"),
    ("", "TodoWrite",
     {"todos": [{"content": "Fix the date filter in get_invoice", "status": "completed", "activeForm": "Fixing"},
                {"content": "Add a regression test for same-day invoices", "status": "in_progress",
                 "activeForm": "Adding a regression test"}]},
     "Todos have been modified successfully. Ensure that you continue to use the todo list to track your "
     "progress. Please proceed with the current tasks if applicable"),
    ("Let me check the other places that use the same filter.", "Glob", {"pattern": "app/**/*.py"},
     "app/__init__.py\napp/api/__init__.py\napp/api/invoices.py\napp/api/refunds.py\napp/models.py\n"
     "app/services/billing.py\napp/services/reconcile.py\napp/db.py"),
)


def prompts() -> dict[str, Any]:
    return json.loads(PROMPTS.read_text())["claude-code"]


def _schema(props: dict[str, tuple[str, str]], required: list[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, (kind, text) in props.items():
        properties[name] = {"type": kind, "description": text}
        if kind == "array":
            properties[name]["items"] = {"type": "object", "additionalProperties": True}
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#"}


def _step(k: int) -> tuple[str, str, dict[str, Any], str]:
    text, tool, args, result = _STEPS[k % len(_STEPS)]
    return text, tool, args, f"{result}\n(step {k})"


def claude_code(turns: int = 60, thinking: bool = True) -> dict[str, Any]:
    """A Claude Code Messages body after `turns` agent steps (2 * turns + 1 messages)."""
    p = prompts()
    memory = p["memory"]["billing"].format(cwd=CWD)
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "text", "text": p["reminder"].format(memory=memory, date=DATE)},
        {"type": "text", "text": "why does GET /api/invoices/<id> return 404 for invoices created today?"}]}]
    for k in range(turns):
        text, tool, args, result = _step(k)
        content: list[dict[str, Any]] = []
        if thinking and k >= turns - 2:  # the latest steps keep their signed thinking
            content.append({"type": "thinking", "thinking": f"The user wants step {k}; check the filter.",
                            "signature": "EqQBCkYIBxgCKkB" + "x" * 200})
        if text:
            content.append({"type": "text", "text": text})
        content.append({"type": "tool_use", "id": f"toolu_01{k:022d}", "name": tool, "input": args})
        messages.append({"role": "assistant", "content": content})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_01{k:022d}", "content": result}]})
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True, "temperature": 1,
        "system": [{"type": "text", "text": p["identity"], "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": p["main"].replace("{cwd}", CWD), "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": name, "description": desc, "input_schema": _schema(props, req)}
                  for name, (desc, props, req) in _TOOLS.items()],
        "metadata": {"user_id": "user_4f1c_account_9a2e_session_7d3b"},
        "messages": messages,
    }
    if thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": 10000}
    return body


def openai_chat(turns: int = 60) -> dict[str, Any]:
    """The same conversation as an OpenAI chat-completions body (what an OpenAI-format agent sends)."""
    p = prompts()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": p["identity"] + "\n" + p["main"].replace("{cwd}", CWD)},
        {"role": "user", "content": "why does GET /api/invoices/<id> return 404 for invoices created today?"}]
    for k in range(turns):
        text, tool, args, result = _step(k)
        messages.append({"role": "assistant", "content": text or None, "tool_calls": [
            {"id": f"call_{k:04d}", "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]})
        messages.append({"role": "tool", "tool_call_id": f"call_{k:04d}", "content": result})
    return {"model": "gpt-5", "stream": True, "stream_options": {"include_usage": True}, "messages": messages,
            "tools": [{"type": "function", "function": {"name": name, "description": desc,
                                                        "parameters": _schema(props, req)}}
                      for name, (desc, props, req) in _TOOLS.items()]}


def responses(turns: int = 60) -> dict[str, Any]:
    """The same conversation as an OpenAI Responses body, as Codex CLI shapes it."""
    p = prompts()
    items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "why does GET /api/invoices/<id> return 404 for invoices created today?"}]}]
    for k in range(turns):
        text, tool, args, result = _step(k)
        if text:
            items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
        items.append({"type": "function_call", "call_id": f"call_{k:04d}", "name": tool, "arguments": json.dumps(args)})
        items.append({"type": "function_call_output", "call_id": f"call_{k:04d}", "output": result})
    return {"model": "gpt-5-codex", "instructions": p["identity"] + "\n" + p["main"].replace("{cwd}", CWD),
            "input": items, "stream": True, "store": False, "reasoning": {"effort": "medium"},
            "tools": [{"type": "function", "name": name, "description": desc, "parameters": _schema(props, req)}
                      for name, (desc, props, req) in _TOOLS.items()]}
