"""Compose the Lua entry scripts with their libraries, load them once per client (SCRIPT LOAD),
call them by SHA with raw EVALSHA (reload on NOSCRIPT and retry once).

An entry script declares its libraries on its first line: `-- uses: util gcra breaker`.
Lua scripts cannot include each other, so the libraries (files of local functions under
`lua/lib/`) are concatenated in front of the entry script, in the declared order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

import gateway
from gateway.state.resp import RespConnection

ENTRY_SCRIPTS = ("admit", "settle", "release", "breaker_report", "lease", "fold", "admin_auth",
                 "response_put", "response_get", "key_write", "team_write", "cache_put", "cache_get",
                 "audit_append", "file_put", "batch_stage", "batch_create", "batch_claim", "batch_record", "batch_cancel")


def lua_dir() -> Path:
    env = os.environ.get("GATEWAY_LUA_DIR")
    if env:
        return Path(env)
    # gateway/lua links to the repository's lua/ folder, and a wheel carries the files there
    return Path(gateway.__file__).resolve().parent / "lua"


def compose(name: str, root: Path | None = None) -> str:
    """The full source of entry script `name`: declared libraries, then the script."""
    root = root or lua_dir()
    body = (root / f"{name}.lua").read_text()
    first = body.splitlines()[0] if body else ""
    libs: list[str] = []
    if first.startswith("-- uses:"):
        libs = first[len("-- uses:"):].split()
    parts = [f"-- lib {lib}\n" + (root / "lib" / f"{lib}.lua").read_text() for lib in libs]
    parts.append(f"-- {name}.lua\n" + body)
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class LoadedScript:
    name: str
    source: str
    sha: str


def load_sources(root: Path | None = None) -> dict[str, LoadedScript]:
    out = {}
    for name in ENTRY_SCRIPTS:
        src = compose(name, root)
        out[name] = LoadedScript(name, src, hashlib.sha1(src.encode()).hexdigest())
    return out


class Scripts:
    """The composed scripts of one client: `await scripts.load()` at start-up, then `call`."""

    def __init__(self, client: Any, root: Path | None = None, fast: RespConnection | None = None) -> None:
        self.client = client
        self.scripts = load_sources(root)
        self.fast = fast  # the pipelined connection for script calls (one engine), else redis-py
        self.heads = {s.name: b"$7\r\nEVALSHA\r\n$40\r\n" + s.sha.encode() + b"\r\n" for s in self.scripts.values()}

    async def load(self) -> None:
        # On a cluster client SCRIPT LOAD goes to every primary.
        for s in self.scripts.values():
            sha = await self.client.script_load(s.source)
            if isinstance(sha, bytes):
                sha = sha.decode()
            if sha != s.sha:  # pragma: no cover - the engine hashes the same text
                raise RuntimeError(f"SCRIPT LOAD of {s.name} returned {sha}, expected {s.sha}")

    async def call(self, name: str, keys: list[str], args: list[Any], pooled: bool = False) -> Any:
        """One EVALSHA; on NOSCRIPT (cache flushed, failover) load everything and retry once.
        `pooled`: on the connection pool, not the hot path's pipelined connection (a batch's
        megabytes of lines must not queue the requests' admits behind them)."""
        s = self.scripts[name]
        if self.fast is not None and not pooled:
            return await self.send(self.pack(name, keys, args))
        try:
            return await self.client.evalsha(s.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load()
            return await self.client.evalsha(s.sha, len(keys), *keys, *args)

    async def send(self, packed: bytes) -> Any:
        """A pre-packed EVALSHA on the pipelined connection; NOSCRIPT loads the scripts and retries once."""
        assert self.fast is not None
        try:
            return await self.fast.call(packed)
        except NoScriptError:
            await self.load()
            return await self.fast.call(packed)

    def pack(self, name: str, keys: list[str], args: list[Any]) -> bytes:
        """EVALSHA sha numkeys keys... args... in RESP, strings encoded as UTF-8."""
        parts = [k.encode() for k in keys]
        parts += [a if isinstance(a, bytes) else a.encode() for a in args]
        return b"".join([b"*%d\r\n" % (len(parts) + 3), self.heads[name], b"$%d\r\n%d\r\n" % (len(str(len(keys))), len(keys)),
                         *[b"$%d\r\n%s\r\n" % (len(p), p) for p in parts]])
