"""The gateway's configuration: one YAML file loaded into frozen dataclasses.

Every value is validated at start-up; a bad one stops the process with a message that names
the file, the path inside the document and the value, so an operator fixes it in one look.
Provider API keys never live in the file: the file names the environment variable.
"""

from gateway.config.model import *  # noqa: F401,F403
from gateway.config.model import ConfigError, NO_EMBEDDINGS, NO_WEB_SEARCH, TASKS, WEB_SEARCH_OPT_IN, PRIORITIES, PRIORITY_RANK, WIRE_FORMATS  # noqa: F401
from gateway.config.parse import expand_env, load_config, parse_config  # noqa: F401
