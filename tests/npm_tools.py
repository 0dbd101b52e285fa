"""Command-line tools from npm for the end-to-end tests (coding agents), installed once per
version under ~/.cache/gateway-tests/npm so reruns start at once. A test that needs one is
skipped, with npm's own words, only when npm is missing or the registry cannot be reached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path.home() / ".cache" / "gateway-tests" / "npm"
UNREACHABLE = ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "ENETUNREACH", "network")


def npm_tool(package: str, version: str, binary: str, timeout_s: float = 600) -> Path:
    """The path of `binary` from `package@version`, installing it into its own cache folder first."""
    prefix = CACHE / f"{package.replace('/', '+')}-{version}"
    path = prefix / "node_modules" / ".bin" / binary
    if path.exists():
        return path
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: cannot install {package}@{version}")
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                               f"{package}@{version}"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {package}@{version} did not finish within {timeout_s:g} s (registry unreachable?)")
    if done.returncode != 0 or not path.exists():
        said = done.stderr.strip().splitlines() or ["(no output)"]
        if any(marker in done.stderr for marker in UNREACHABLE):
            pytest.skip(f"the npm registry is unreachable: cannot install {package}@{version}: {said[-1]}")
        pytest.fail(f"npm install {package}@{version} failed: {' / '.join(said[-5:])}")
    return path
