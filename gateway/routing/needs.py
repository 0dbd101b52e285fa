"""What a request needs a model to be able to do (`models.<name>.supports`, gateway.config.CAPABILITIES).

Read once per request from the canonical body (an OpenAI chat body, whatever API the client
spoke: the inbound translators have already turned Anthropic `image`/`document` blocks and
Gemini `inlineData`/`fileData` parts into `image_url`, `input_audio` and `file` parts):

- `vision`: an `image_url` part (also a `file` part whose data URL is an image);
- `audio`: an `input_audio` part (also a `file` part whose data URL is audio);
- `files`: any other `file` part (a PDF, a document, a video);
- `tools`: function or custom `tools` (or legacy `functions`), or a tool turn in the history
  (a `tool`/`function` message, an assistant's `tool_calls`/`function_call`);
- `json_schema`: `response_format: {type: json_schema}` (json_object is plain JSON mode, which
  every adapter can ask for);
- `web_search`: OpenAI chat's `web_search_options`, or a server-side search tool in the client's
  own body (NATIVE): Anthropic `web_search_*`, Responses `web_search*`, Gemini `google_search`.

Only list-of-parts contents are walked; a request of string contents and no tools costs a
few dictionary lookups per message. The planner reads the result only when some model declares
`supports` (gateway.routing.plan.Planner.checks_needs), and the chat pipeline skips this walk
otherwise. `gateway whatif` reads a trace line's needs with the same function (gateway.offline.trace). A Files API reference (an Anthropic `file_id`, a Gemini Files API `fileData`) is not
in the canonical body and not counted: such a request is kept on its own vendor's links anyway
(plan.native_links).
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import NATIVE

NO_NEEDS: frozenset[str] = frozenset()
PART_NEEDS = {"image_url": "vision", "input_image": "vision", "image": "vision", "input_audio": "audio",
              "file": "files", "input_file": "files"}
# A Gemini tool that grounds the answer in Google Search (either spelling the API accepts)
GEMINI_SEARCH_TOOLS = frozenset({"google_search", "googleSearch", "google_search_retrieval",
                                 "googleSearchRetrieval"})
TOOL_ROLES = frozenset({"tool", "function"})


def is_search_tool(fmt: Any, tool: Any) -> bool:
    """Whether one tool of a client's own body (NATIVE, its wire format `fmt`) is a server-side web search."""
    if not isinstance(tool, dict):
        return False
    if fmt == "gemini":
        return not GEMINI_SEARCH_TOOLS.isdisjoint(tool.keys())
    return fmt in ("anthropic", "openai_responses") and str(tool.get("type", "")).startswith("web_search")


def request_needs(body: dict[str, Any]) -> frozenset[str]:
    """The capabilities (gateway.config.CAPABILITIES) a model needs to serve this canonical body."""
    found: set[str] = set()
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if isinstance(kind, str):  # validated on a live request; a what-if trace is not
                    need = PART_NEEDS.get(kind)
                    if need is not None:
                        found.add(_file_need(part) if need == "files" else need)
        if message.get("role") in TOOL_ROLES or message.get("tool_calls") or message.get("function_call"):
            found.add("tools")
    if body.get("tools") or body.get("functions"):
        found.add("tools")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        found.add("json_schema")
    if body.get("web_search_options") is not None or (NATIVE in body and _native_search(body[NATIVE])):
        found.add("web_search")
    return frozenset(found) if found else NO_NEEDS


def _file_need(part: dict[str, Any]) -> str:
    """A file part's need by its data URL's media type: an image or audio sent as a file is read as one."""
    file = part.get("file") or part.get("input_file")
    data = file.get("file_data") if isinstance(file, dict) else part.get("file_data")
    if isinstance(data, str):
        if data.startswith("data:image/"):
            return "vision"
        if data.startswith("data:audio/"):
            return "audio"
    return "files"


def _native_search(native: Any) -> bool:
    """Whether the client's own body offers a server-side web search tool."""
    if not isinstance(native, dict) or not isinstance(native.get("body"), dict):
        return False
    tools = native["body"].get("tools")
    fmt = native.get("format")
    return isinstance(tools, list) and any(is_search_tool(fmt, t) for t in tools)
