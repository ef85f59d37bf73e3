"""The command line: ``python -m minimix_core demo`` and ``python -m minimix_core replay``."""

from __future__ import annotations

import argparse
import os
import sys

from ._demo import demo
from ._replay import ReplayError, replay

__all__ = ["main"]

_DESCRIPTION = "minimix_core: the account, not each device, is the occupant of a MUC room."

_REPLAY_FORMAT = """\
Feed a script of events to a fresh Router and print every action it returns,
and after each event the router's next deadline and what is due then.

A script is UTF-8 text: entries separated by blank lines, '#' starts a comment.
Each entry is one directive line, followed by one stanza (XML over one or more
lines, up to the next blank line) for the directives that take one:

  config KEY=VALUE ...     Config fields, before the first event
  at SECONDS               the clock for the following events (starts at 0)
  from-session FULLJID     + stanza: a local client session sent it
  to-account               + stanza: it arrived for a local account's bare JID
  session-closed FULLJID   the session is gone
  bookmarks BAREJID        + XEP-0402 <conference/> payloads: the complete set
  timer                    run what is due at the current time
  shutdown                 leave every room
  snapshot                 keep the router's snapshot (JSON) as it is now
  restore                  the router's process restarts: the kept snapshot (or one
                           taken now) restored at the current time, sessions gone
  restore sessions         the same, the sessions still connected (a move)

Exit status: 0, or 2 for a script that cannot be read or is malformed (the
message names the line). The full reference, with the --json keys, is
docs/replay.md in the source tree.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minimix_core", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "demo",
        help="a narrated scenario: two sessions, one account, a simulated room",
        description="A narrated scenario: two sessions, one account, a simulated room.",
    )
    play = commands.add_parser(
        "replay",
        help="feed a replay script to a fresh Router and print its actions",
        description=_REPLAY_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    play.add_argument("script", help="the script file ('-': standard input)")
    play.add_argument(
        "--json", action="store_true", help="JSON Lines, one object per action (docs/replay.md)"
    )
    return parser


def _read(script: str) -> str:
    if script == "-":
        return sys.stdin.read()
    with open(script, encoding="utf-8") as file:
        return file.read()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            demo(sys.stdout, colour=sys.stdout.isatty())
            sys.stdout.flush()
            return 0
        return _replay(args.script, as_json=args.json)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly. Point stdout at /dev/null so the
        # interpreter's last flush at exit does not fail on the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _replay(script: str, *, as_json: bool) -> int:
    name = "standard input" if script == "-" else script
    try:
        text = _read(script)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"replay: cannot read {name}: {exc}", file=sys.stderr)
        return 2
    try:
        replay(text, sys.stdout, as_json=as_json, colour=sys.stdout.isatty() and not as_json)
    except ReplayError as exc:
        sys.stdout.flush()
        print(f"replay: {name}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 0
