"""The Anthropic Messages adapter: request, response and stream translation."""

from gateway.providers.anthropic.request import *  # noqa: F401,F403
from gateway.providers.anthropic.request import __all__  # noqa: F401
