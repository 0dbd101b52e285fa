"""Provider simulator: an independent implementation of the OpenAI, Azure OpenAI,
Anthropic and Gemini wire formats with latency, token pacing and fault injection.

It must never import from the rest of `gateway`: it is the second implementation
that the gateway's translators are checked against.
"""

from .app import create_app
from .knobs import ModelKnobs, SimSettings

__all__ = ["create_app", "ModelKnobs", "SimSettings"]
