"""Which of several equivalent deployments serves a request: weighted rendezvous hashing on the
conversation.

Each (subject, deployment) pair gets a score -weight / ln(u), u in (0, 1) from a keyed hash of
the two; the deployments are tried in descending score. For one subject the order never changes;
across subjects each deployment comes first in proportion to its weight; removing a deployment
moves only the subjects it had (the others keep their first choice), and adding one takes only
its share.

The subject keeps one *conversation* on one deployment, because providers' prompt caches
(Anthropic, OpenAI, Gemini) live per deployment, organisation or project: every turn of a chat
re-sends its start, and a turn that lands where the previous one did reads it from the cache. It
is the end user (the request's `user`, else the API key's name, as experiments use) and the
conversation's stable start: its system prompt and first user message, which every later turn
repeats. Different conversations of one user, and different users of one app with the same
system prompt, spread over the pool. At most PREFIX_CHARS of each part are hashed, so the cost
is one blake2b of a few hundred bytes per request and one short keyed hash per pool member.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence, TypeVar

PREFIX_CHARS = 256  # of the system prompt and of the first user message
T = TypeVar("T")


def _text(content: Any) -> str:
    """A message's text (a string, or the text parts of a list), at most PREFIX_CHARS of it."""
    if isinstance(content, str):
        return content[:PREFIX_CHARS]
    if isinstance(content, list):
        out, size = [], 0
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"][:PREFIX_CHARS - size])
                size += len(out[-1])
                if size >= PREFIX_CHARS:
                    break
        return "".join(out)
    return ""


def conversation_start(messages: list[dict[str, Any]]) -> str:
    """The part of a conversation every turn repeats: the system (or developer) prompt and the first
    user message, each clipped. Only messages before the first user message are looked at."""
    system = ""
    for msg in messages:
        role = msg.get("role") if isinstance(msg, dict) else None
        if role in ("system", "developer") and not system:
            system = _text(msg.get("content"))
        elif role == "user":
            return f"{system}\x00{_text(msg.get('content'))}"
    return system


def subject_key(user: str, conversation: str = "") -> bytes:
    """The 16-byte key the member hashes are made with: one per request."""
    return hashlib.blake2b(f"{user}\x00{conversation}".encode(), digest_size=16).digest()


def score(subject: bytes, name: str, weight: float) -> tuple[float, float]:
    """(rendezvous score, u) of `name` for `subject`; u breaks a tie of zero weights."""
    digest = hashlib.blake2b(name.encode(), key=subject, digest_size=8).digest()
    u = ((int.from_bytes(digest, "big") >> 12) + 0.5) / 2**52  # 52 bits: strictly inside (0, 1)
    return -weight / math.log(u), u


def rendezvous(items: Sequence[T], names: Sequence[str], weights: Sequence[float], subject: bytes) -> list[T]:
    """`items` (named `names`, weighted `weights`) in this subject's order, highest score first."""
    scored = sorted(zip((score(subject, n, w) for n, w in zip(names, weights)), range(len(items))), reverse=True)
    return [items[i] for _, i in scored]
