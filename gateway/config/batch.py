"""The `batch:` block: the OpenAI Batch API, run by the gateway itself (gateway/batch/).

Its own module (the dataclass only, parsed in parse.py) so the config model stays one screen
per concern."""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """Off by default: uploaded files and results live in Redis. Each worker runs at most
    `concurrency` batch lines at once, claiming chunks every `poll_interval_s` (sooner when a
    line ends), so batch work never crowds out interactive requests. A claimed chunk is held
    `lease_s` past its last result: a worker that dies leaves it to be claimed again."""

    enabled: bool = False
    concurrency: int = 4
    poll_interval_s: float = 1.0
    lease_s: float = 600.0
    max_file_bytes: int = 4 << 20   # bounds the one script that stores an upload (docs/batch.md)
    max_lines: int = 50_000
    file_ttl_s: int = 30 * DAY_S
    output_ttl_s: int = 30 * DAY_S
