"""The command line's output into a pipe whose reader has gone (`gateway ... | head`): the command
stops quietly instead of printing a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.procs import ROOT


def test_output_into_a_closed_pipe_ends_without_a_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, as `head` is after its lines
    try:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "--config", "configs/demo.yaml",
                               "--log", "tests/data/trace_gateway_log.jsonl"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1
