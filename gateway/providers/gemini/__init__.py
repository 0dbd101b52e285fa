"""The Gemini generateContent adapter: request, response, stream and schema translation."""

from gateway.providers.gemini.request import *  # noqa: F401,F403
from gateway.providers.gemini.request import __all__  # noqa: F401
