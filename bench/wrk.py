"""Throughput rows with `wrk` (C, much cheaper per request than a Python client), when installed.

One wrk thread on the load generator's core, `concurrency` keep-alive connections, a Lua script
that posts the same body as the Python generator, counts non-200 answers and streams that do not
end with `data: [DONE]`, and prints one JSON line with the totals and latency percentiles. wrk
has no warm-up of its own: a first run of `warmup` seconds is discarded. Its durations are whole
seconds (rounded up).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson

from bench.loadgen import LoadResult

LUA = r"""
local body = [==[%(body)s]==]
local auth = [==[%(auth)s]==]
local extra = %(extra)s
local stream = %(stream)s
local threads = {}
local req = nil

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, bad_status, no_done = 0, 0, 0
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = auth}
  for k, v in pairs(extra) do headers[k] = v end
  req = wrk.format("POST", nil, headers, body)
end

function request()
  return req
end

function response(status, headers, resp_body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif stream and not string.find(resp_body, "data: %%[DONE%%]%%s*$") then
    no_done = no_done + 1
  else
    ok = ok + 1
  end
end

function done(summary, latency, requests)
  local t_ok, t_status, t_nodone = 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_status = t_status + t:get("bad_status")
    t_nodone = t_nodone + t:get("no_done")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"ok":%%d,"bad_status":%%d,"no_done":%%d,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"status":%%d,' ..
    '"p50":%%d,"p90":%%d,"p99":%%d,"mean":%%.1f,"max":%%d}\n',
    summary.requests, summary.duration, t_ok, t_status, t_nodone,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def available() -> str | None:
    return shutil.which("wrk")


def _lua(body: bytes, headers: dict[str, str], stream: bool) -> str:
    auth = headers.get("authorization", "")
    extra = "{" + ", ".join(f'["{k}"] = [==[{v}]==]' for k, v in headers.items() if k != "authorization") + "}"
    return LUA % {"body": body.decode(), "auth": auth, "extra": extra, "stream": "true" if stream else "false"}


def _run(cmd: list[str], timeout: float) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return orjson.loads(line[len("BENCHJSON "):])
    raise RuntimeError(f"wrk printed no result (exit {out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")


def run_wrk(url: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration: float, warmup: float,
            stream: bool, cpu: int | None = None, timeout_s: float = 60.0) -> LoadResult:
    binary = available()
    if not binary:
        raise RuntimeError("wrk is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_lua(body, headers, stream))
        prefix = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
        base = prefix + [binary, "-t1", f"-c{concurrency}", f"--timeout={int(timeout_s)}s", "-s", str(script)]
        if warmup > 0:
            _run(base + [f"-d{max(1, math.ceil(warmup))}s", url], timeout=warmup + timeout_s + 10)
        seconds = max(1, math.ceil(duration))
        data = _run(base + [f"-d{seconds}s", url], timeout=seconds + timeout_s + 10)
    measured_s = data["duration_us"] / 1e6
    kinds = {k: data[src] for k, src in (("status_not_200", "bad_status"), ("stream_no_done", "no_done"),
                                         ("connect", "connect"), ("read", "read"), ("write", "write"),
                                         ("timeout", "timeout")) if data[src]}
    result = LoadResult(url=url, stream=stream, concurrency=concurrency, duration_s=round(measured_s, 3),
                        warmup_s=float(max(1, math.ceil(warmup))) if warmup > 0 else 0.0, tool="wrk")
    result.requests = data["ok"]
    result.errors = sum(kinds.values())
    result.error_kinds = kinds
    result.rps = round(data["ok"] / measured_s, 1) if measured_s else 0.0
    us = lambda v: round(v / 1000, 3) if data["requests"] else None  # noqa: E731
    result.latency_ms = {"p50": us(data["p50"]), "p90": us(data["p90"]), "p99": us(data["p99"]),
                         "mean": us(data["mean"]), "max": us(data["max"])}
    return result
