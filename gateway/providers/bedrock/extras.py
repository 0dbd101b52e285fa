"""Two Converse fields that are not part of the conversation: `requestMetadata` and
`performanceConfig` (and InvokeModel's header for the latter).

- `requestMetadata` is a string-to-string map Bedrock writes into its model invocation logs, so
  an operator can attribute cost to a caller. It is filled from the client's own metadata: an
  OpenAI chat or Responses client's `metadata` object (the latter a canonical hint, read here
  only: gateway.providers.base.TOP_HINTS), and `user` (an OpenAI client's, or an Anthropic
  client's `metadata.user_id`) as `user_id`. Bedrock refuses the whole request over one bad
  entry, so what does not fit its limits (16 entries; keys 1-256 and values 0-256 characters of
  letters, digits, whitespace and `:_@$#=/+,-.`; strings only) is left out, never a failure.
- `performanceConfig: {"latency": ...}` is the deployment's `models.<name>.bedrock.latency`;
  InvokeModel takes it as the `X-Amzn-Bedrock-PerformanceConfig-Latency` header.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config import Deployment

MAX_ENTRIES = 16
# Bedrock's RequestMetadataKeyString / ValueString patterns (botocore's bedrock-runtime model);
# `,-.` is a range there: the three characters `,` `-` `.`
_KEY = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}", re.ASCII)
_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}", re.ASCII)
LATENCY_HEADER = "x-amzn-bedrock-performanceconfig-latency"


def request_metadata(chat: dict[str, Any]) -> dict[str, str] | None:
    """The client's metadata as Converse's `requestMetadata`: the entries Bedrock takes, in the
    client's order, at most 16; None when none is left (Bedrock refuses an empty map)."""
    meta = chat.get("metadata")
    pairs = list(meta.items()) if isinstance(meta, dict) else []
    user = chat.get("user")
    if user is not None and not (isinstance(meta, dict) and "user_id" in meta):
        pairs.append(("user_id", user))
    out: dict[str, str] = {}
    for key, value in pairs:
        if len(out) == MAX_ENTRIES:
            break
        if isinstance(key, str) and isinstance(value, str) and _KEY.fullmatch(key) and _VALUE.fullmatch(value):
            out[key] = value
    return out or None


def performance_config(dep: Deployment) -> dict[str, str] | None:
    """The deployment's latency as Converse's `performanceConfig`, or None (Bedrock's default)."""
    return {"latency": dep.latency} if dep.latency else None


def latency_headers(dep: Deployment) -> dict[str, str]:
    """The deployment's latency as InvokeModel's request header (none without one)."""
    return {LATENCY_HEADER: dep.latency} if dep.latency else {}
