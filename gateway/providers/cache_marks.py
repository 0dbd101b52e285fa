"""Where `prompt_cache: auto` (`models.<name>.prompt_cache`) marks a prompt's cache breakpoints,
for the APIs that cache only a prefix the request marks: Claude's `cache_control`
(anthropic/cache_marks.py) and Bedrock Converse's `cachePoint` (bedrock/cache_points.py).

A mark closes a prefix that later requests are likely to repeat, so they read it at a tenth of
the input price: the tools, the system prompt, and in a conversation (one with an assistant turn
already) its last message, which the next turn reads back, and the user turn before the last
assistant turn, the one the previous request marked, so it is read even when a tool loop added
more blocks than the API looks back over (20 for Claude). Four marks at most, the APIs' limit.
A single-turn request marks only its tools and system prompt: its message would be written at
1.25× the input price and may never be read again. A prefix shorter than the model's minimum
(1,024 tokens for most Claude models) is neither written nor charged more: the API ignores it.
"""

from __future__ import annotations

from typing import Sequence


def message_marks(roles: Sequence[object]) -> tuple[int, ...]:
    """The indices of the messages whose last block gets a mark, given each message's role."""
    last_assistant = next((i for i in range(len(roles) - 1, -1, -1) if roles[i] == "assistant"), -1)
    if last_assistant < 0:
        return ()
    previous_user = next((i for i in range(last_assistant - 1, -1, -1) if roles[i] == "user"), -1)
    last = len(roles) - 1
    return (previous_user, last) if previous_user >= 0 else (last,)
