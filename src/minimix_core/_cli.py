"""The command line: ``python -m minimix_core demo`` and ``python -m minimix_core replay``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._demo import demo
from ._replay import ReplayError, replay

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m minimix_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="a narrated scenario against a simulated room")
    play = commands.add_parser("replay", help="feed a replay script to a fresh Router")
    play.add_argument("script", type=Path, help="the script (UTF-8 text)")
    play.add_argument("--json", action="store_true", help="JSON Lines, one object per action")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(sys.stdout, colour=sys.stdout.isatty())
        return 0
    try:
        text = args.script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"replay: cannot read {args.script}: {exc}", file=sys.stderr)
        return 2
    try:
        replay(text, sys.stdout, as_json=args.json, colour=sys.stdout.isatty() and not args.json)
    except ReplayError as exc:
        sys.stdout.flush()
        print(f"replay: {args.script}: {exc}", file=sys.stderr)
        return 2
    return 0
