"""`gateway classifier ...`: the task classifier's subcommands, `eval` (classifier_eval) and
`adapt` (classifier_adapt)."""

from __future__ import annotations

import argparse

from gateway.offline import classifier_adapt, classifier_eval


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway classifier", description="Task classifier tools.")
    sub = p.add_subparsers(dest="command", required=True)
    classifier_eval.add_parser(sub)
    classifier_adapt.add_parser(sub)
    args = p.parse_args(argv)
    return classifier_adapt.adapt(args) if args.command == "adapt" else classifier_eval.run(args)
