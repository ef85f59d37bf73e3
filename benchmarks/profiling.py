"""cProfile of the hot paths: fan-out, late join and parsing, top functions by cumulative time."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path

from benchmarks.cases import NICK, NOW, join_account
from benchmarks.fixtures import Corpus
from minimix_core import FromSession, Router, ToAccount, parse_stanza

__all__ = ["hot_paths", "profile"]

_ROOT = str(Path(__file__).resolve().parent.parent)


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name  # a builtin, e.g. "<method 'get' of 'dict' objects>"
    for prefix in (_ROOT + "/src/", _ROOT + "/"):
        if filename.startswith(prefix):
            filename = filename[len(prefix) :]
            break
    else:
        if "site-packages/" in filename:
            filename = filename.split("site-packages/", 1)[1]
        elif "/lib/python" in filename:
            filename = filename.split("/lib/", 1)[1]
    return f"{filename}:{line}({name})"


def profile(title: str, run: Callable[[], object], top: int) -> str:
    """A Markdown table of the ``top`` functions of ``run`` by cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda item: -item[1][3],
    )
    lines = [
        f"**{title}** ({total * 1e3:.0f} ms profiled)",
        "",
        "| function | calls | cumulative | own |",
        "| --- | ---: | ---: | ---: |",
    ]
    shown = 0
    for key, (_, calls, own, cumulative, _) in rows:
        where = _where(key)
        if "profiling.py" in where or where.startswith("<method 'disable'"):
            continue
        lines.append(
            f"| `{where}` | {calls:,} | {100 * cumulative / total:.0f} % "
            f"| {100 * own / total:.0f} % |"
        )
        shown += 1
        if shown == top:
            break
    return "\n".join(lines)


def hot_paths(corpus: Corpus, *, quick: bool, top: int = 15) -> list[tuple[str, str]]:
    """Profiles of fan-out to 20 sessions, a late join into 1,000 occupants, and parsing."""
    scale = 10 if quick else 1
    account, room = corpus.account(1), corpus.room

    fanout_router = Router()
    join_account(fanout_router, corpus, account, room, sessions=20)
    # A new message each time: a repeat would be profiled as the cheap duplicate discard.
    messages = [
        ToAccount(stanza=corpus.message_for(room, account, n + 1)) for n in range(20_000 // scale)
    ]

    def fanout() -> None:
        handle = fanout_router.handle
        for message in messages:
            handle(message, now=NOW)

    late_router = Router()
    occupants = corpus.occupant_presences(room, account, 1000, seed=1000)
    join_account(late_router, corpus, account, room, sessions=1, occupants=occupants)
    late = FromSession(
        session=corpus.session(account, 1), stanza=corpus.join_for(room, NICK, "late")
    )

    def late_join() -> None:
        handle = late_router.handle
        for _ in range(300 // scale):
            handle(late, now=NOW)

    data = corpus.groupchat_text.encode()

    def parsing() -> None:
        for _ in range(30_000 // scale):
            parse_stanza(data)

    return [
        ("Fan-out to 20 sessions", profile("Router.handle(ToAccount(groupchat))", fanout, top)),
        (
            "Late join, 1,000 cached occupants",
            profile("Router.handle(FromSession(join))", late_join, top),
        ),
        ("Parsing the groupchat message", profile("parse_stanza(bytes)", parsing, top)),
    ]
