"""The key schema is written once (lua/README.md) and every name is built once (state/keys.py):
the two must name the same keys, and nothing else in the gateway may spell a key out."""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import pytest

from gateway.state.keys import Keys, prev_day

ROOT = Path(__file__).resolve().parents[2]


def _shape(key: str) -> str:
    """`{gw}:spend:<YYYY-MM-DD>` and `{gw}:spend:<day>` are the same key: placeholders compare equal."""
    return re.sub(r"<[^>]*>", "<>", key)


def built_keys() -> set[str]:
    """Every key `Keys` builds, each parameter filled with a placeholder."""
    k = Keys("gw")
    out = set()
    for name, fn in inspect.getmembers(k, inspect.ismethod):
        if name.startswith("_"):
            continue
        params = list(inspect.signature(fn).parameters)
        built = fn(*(f"<{p}>" for p in params))
        out |= {_shape(key) for key in ((built,) if isinstance(built, str) else built)}  # one key or a pair
    return out


def documented_keys() -> set[str]:
    """The keys named in the first column of the schema tables of lua/README.md."""
    text = (ROOT / "lua" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Key schema", 1)[1].split("\n## ", 1)[0]
    out = set()
    for line in section.splitlines():
        if line.startswith(("| `{gw}", "| `gw:")):
            first_cell = line.split(" | ", 1)[0]
            out |= {_shape(key) for key in re.findall(r"`((?:\{gw\}|gw):[^`]*)`", first_cell)}
    return out


def test_the_schema_doc_names_exactly_the_keys_built() -> None:
    built, documented = built_keys(), documented_keys()
    assert len(built) >= 20
    assert built - documented == set(), "keys built in state/keys.py but missing from lua/README.md"
    assert documented - built == set(), "keys in lua/README.md that state/keys.py does not build"


def test_keys_share_one_hash_tag_but_the_cache_entries() -> None:
    """One slot for every script's keys; a cache entry, which a script touches alone, has no
    tag (entries spread over a cluster's masters) but still starts with the prefix."""
    k = Keys("tenant-a")
    assert {key.split(":", 1)[0] for key in built_keys_for(k) if key != k.cache("x", "x")} == {"{tenant-a}"}
    assert k.cache("x", "x").startswith("tenant-a:cache:")
    with pytest.raises(ValueError):
        Keys("a{b}")
    assert prev_day("2026-03-01") == "2026-02-28"


def built_keys_for(k: Keys) -> list[str]:
    out = []
    for name, fn in inspect.getmembers(k, inspect.ismethod):
        if not name.startswith("_"):
            built = fn(*("x" for _ in inspect.signature(fn).parameters))
            out += [built] if isinstance(built, str) else list(built)
    return out


def test_no_key_name_is_built_outside_keys_py() -> None:
    """A key is `<tag>:...`: no module but state/keys.py puts the tag in front of a name (an
    f-string after the tag, the `tag` attribute, or a string literal starting `{gw}:`)."""
    found = subprocess.run(["git", "grep", "-n", "-E", r"\btag\}:|\.tag\b|[\"']\{gw\}:", "--", "gateway", "lua"],
                           cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    outside = [line for line in found if not line.startswith("gateway/state/keys.py:")
               and not line.startswith("lua/README.md:")]
    assert outside == []
