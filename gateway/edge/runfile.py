"""Where a running gateway is: `gateway serve` writes `gateway.json` in its data directory, and the
operator commands (`gateway spend`, `status`, ...) read it, so they find the state engine, the
admin URL and the config without REDIS_URL copied from the start-up lines.

The file holds no secret: a state URL with a password in it is not written (the commands then
need REDIS_URL or --url, as before). It is removed when the gateway stops; a file left by a
gateway that was killed names a process that no longer runs, and is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

NAME = "gateway.json"
LOCAL_DIR = ".gateway"  # `make run`'s data directory, relative to where it runs
DEFAULT_PORT = 8080     # the port whose default data directories the commands look in


def default_dirs(port: int) -> tuple[Path, Path]:
    """`gateway serve`'s default data directory for a port, and the one it falls back to when that
    is not writable (a read-only root filesystem, as in the Kubernetes pod): both are looked in."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "gateway" / str(port), Path(tempfile.gettempdir()) / f"gateway-{os.getuid()}" / str(port)


@dataclass(frozen=True, slots=True)
class Running:
    """What the commands need to reach a running gateway."""

    pid: int
    url: str                 # the gateway's own base URL (admin API, dashboard)
    redis_url: str | None    # None: not written (it carries a password)
    config: str              # the config file it serves, absolute
    config_hash: str
    data_dir: str


def has_password(url: str) -> bool:
    return bool(urlsplit(url).password) or "password=" in url


def write(data_dir: Path, running: Running) -> Path:
    path = data_dir / NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(running), f, indent=2)
    os.replace(tmp, path)
    return path


def remove(data_dir: Path, pid: int) -> None:
    """Remove the file if it is still this process's (a later gateway may own the directory)."""
    found = read(data_dir / NAME)
    if found is not None and found.pid == pid:
        (data_dir / NAME).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(path: Path) -> Running | None:
    try:
        data = json.loads(path.read_text())
        return Running(**{k: data.get(k) for k in Running.__slots__})
    except (OSError, ValueError, TypeError):
        return None


def candidates(data_dir: str | None) -> list[Path]:
    """Where to look, first match wins: --data-dir, $GATEWAY_DATA_DIR, ./.gateway and its
    subdirectories (`make run` keeps one per config: .gateway/demo, .gateway/starter), the
    per-port default of `gateway serve` for port 8080 ($XDG_STATE_HOME/gateway/8080, and
    $TMPDIR/gateway-<uid>/8080 where serve falls back to it)."""
    if data_dir:
        return [Path(data_dir)]
    found = [Path(os.environ["GATEWAY_DATA_DIR"])] if os.environ.get("GATEWAY_DATA_DIR") else []
    local = Path(LOCAL_DIR)
    found += [local, *sorted(p for p in local.glob("*") if p.is_dir())] if local.is_dir() else [local]
    return found + list(default_dirs(DEFAULT_PORT))


def find(data_dir: str | None = None) -> Running | None:
    """The running gateway the commands talk to by default, or None."""
    for directory in candidates(data_dir):
        running = read(directory / NAME)
        if running is not None and pid_alive(running.pid):
            return running
    return None


class NotFound(RuntimeError):
    """No state URL given and no running gateway found."""


def target(config: str | None, url: str | None, data_dir: str | None,
           default_config: str = "configs/demo.yaml") -> tuple[str, str]:
    """The config file and state URL an operator command uses: what was given (--config, --url,
    REDIS_URL, GATEWAY_CONFIG), else the running gateway's, else the demo config."""
    running = find(data_dir)
    config = config or (running.config if running else None) or os.environ.get("GATEWAY_CONFIG")
    url = url or os.environ.get("REDIS_URL") or (running.redis_url if running else None)
    if url:
        if config is None and not Path(default_config).is_file():  # not where `make run` runs
            raise NotFound("no config to take the key prefix and budget timezone from: give the gateway's with "
                           f"--config or GATEWAY_CONFIG (no running gateway found here, and no {default_config})")
        return config or default_config, url
    if running:
        raise NotFound(f"the gateway at {running.url} (pid {running.pid}) uses a state URL with a password, "
                       "which is not written down: set REDIS_URL or --url")
    looked = ", ".join(str(p / NAME) for p in candidates(data_dir))
    raise NotFound(f"no running gateway found (looked for {looked}); start one with `make run` or "
                   "`gateway serve`, or give the state engine's URL with --url or REDIS_URL")
