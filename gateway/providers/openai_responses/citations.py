"""Output-text annotations between the Responses API and the canonical (chat) message.

A web search answer cites its sources as `url_citation` annotations on the text. The Responses API
puts them on each `output_text` part, flat (`{"type": "url_citation", "url", "title",
"start_index", "end_index"}`), with indices into that part's text; chat completions put them on
the message, nested (`{"type": "url_citation", "url_citation": {...}}`), with indices into the
message's whole `content`. The canonical message keeps the chat form, so an OpenAI chat client
reads them where its SDK looks. Other kinds (the file search tool's `file_citation`, a container
file's) have no chat form and are left out: a chat message may hold url citations only.
"""

from __future__ import annotations

from typing import Any

URL = "url_citation"
INDICES = ("start_index", "end_index")


def _moved(doc: dict[str, Any], by: int) -> dict[str, Any]:
    """`doc` with its character indices moved by `by` (indices that are not integers are left)."""
    out = dict(doc)
    for name in INDICES:
        value = out.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = max(0, value + by)
    return out


def to_chat(annotation: Any, base: int) -> dict[str, Any] | None:
    """A Responses annotation of a part whose text starts at `base` in the message's content →
    the canonical (chat) form; None for anything but a url citation."""
    if not isinstance(annotation, dict) or annotation.get("type") != URL:
        return None
    cite = _moved({k: v for k, v in annotation.items() if k != "type"}, base)
    return {"type": URL, URL: cite}


def from_chat(annotation: Any, base: int) -> dict[str, Any] | None:
    """A canonical annotation → the Responses form, for a part whose text starts at `base` in the
    message's content; None for anything but a url citation."""
    if not isinstance(annotation, dict) or annotation.get("type") != URL:
        return None
    cite = annotation.get(URL)
    if not isinstance(cite, dict):
        return None
    return {"type": URL, **_moved(cite, -base)}


def of_message(message: dict[str, Any]) -> list[Any]:
    """The annotations a canonical message or delta carries (chat form)."""
    found = message.get("annotations")
    return found if isinstance(found, list) else []
