"""Wire-format adapters behind one contract (`base`): `adapter_for(format)` gives the adapter the
pipeline calls; `openai_side` holds what the translating adapters share.

The contract's names are re-exported here, so callers import them from the package.
"""

from gateway.providers.base import (
    RETRYABLE_STATUSES,
    Capabilities,
    ChatAdapter,
    EmbeddingsAdapter,
    StreamDecoder,
    StreamError,
    UpstreamError,
    UpstreamRequest,
    client_status,
    error_message,
    retry_after_seconds,
)
from gateway.providers.registry import ADAPTERS, adapter_for

__all__ = [
    "ADAPTERS", "RETRYABLE_STATUSES", "Capabilities", "ChatAdapter", "EmbeddingsAdapter", "StreamDecoder",
    "StreamError", "UpstreamError", "UpstreamRequest", "adapter_for", "client_status", "error_message",
    "retry_after_seconds",
]
