"""Command line: `python -m gateway.simulator --port N` (also `gateway simulator ...`)."""

from __future__ import annotations

import argparse
import sys

from .knobs import KnobError, SimSettings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gateway simulator",
        description="Serve simulated OpenAI, Azure OpenAI, Anthropic, Gemini and Vertex AI APIs.",
    )
    parser.add_argument("--port", type=int, default=9100, help="TCP port (default 9100, where the demo config looks)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (overrides the config file's)")
    parser.add_argument("--config", default=None, help="YAML file: {seed, defaults: {knob: v}, models: {name: {knob: v}}}")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until interrupted; returns a process exit code."""
    args = parse_args(argv)
    try:
        if args.config:
            settings = SimSettings.from_yaml(args.config, seed=args.seed)
        else:
            settings = SimSettings(seed=args.seed or 0)
    except KnobError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from gateway.edge.coalescing import http_protocol
    from .app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        loop="auto",
        http=http_protocol(),  # head and body in one write, like a real provider's server
        access_log=False,
        proxy_headers=False,  # nothing sits in front of a simulator: skip the per-request header scan
        log_level=args.log_level,
    )
    return 0
