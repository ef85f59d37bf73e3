"""Seeded fault stories (:mod:`._story`), run many at a time, shrunk when one fails.

``python -m minimix_core.testing._chaos --seed N --stories M`` (or ``python3 tasks.py
chaos --seed N --stories M``) runs random stories and prints each failing one, shrunk, as
a replay script.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from .._config import Config
from ._faults import Faults
from ._story import (
    ACCOUNTS,
    CONFIG,
    KINDS,
    OUTAGES,
    ROOMS,
    SESSIONS,
    Op,
    Story,
    StoryFailure,
)

__all__ = [
    "ACCOUNTS",
    "CONFIG",
    "KINDS",
    "OUTAGES",
    "ROOMS",
    "SESSIONS",
    "Op",
    "Story",
    "StoryFailure",
    "main",
    "play",
    "random_ops",
    "shrink",
    "story_faults",
]


def play(
    ops: Sequence[Op],
    seed: int,
    faults: Faults | None,
    *,
    config: Config = CONFIG,
) -> tuple[Story, str | None]:
    """Play ``ops`` with the faults on, then converge: the story and its failure, if any."""
    story = Story(seed, faults, config)
    try:
        for op in ops:
            story.apply(op)
        story.converge()
    except StoryFailure as failure:
        return story, str(failure)
    return story, None


def random_ops(rng: random.Random, count: int) -> list[Op]:
    """``count`` random steps."""
    return [(rng.choice(KINDS), rng.randrange(6), rng.randrange(2)) for _ in range(count)]


def _fails(ops: Sequence[Op], seed: int, faults: Faults) -> str | None:
    failure = play(ops, seed, faults)[1]
    return None if failure is None else failure.split(":")[0]


def shrink(ops: list[Op], seed: int, faults: Faults, budget: int = 300) -> list[Op]:
    """A shorter story that fails the same way (greedy: drop chunks, then single steps)."""
    first = _fails(ops, seed, faults)
    chunk = max(1, len(ops) // 2)
    while chunk >= 1 and budget > 0:
        start = 0
        while start < len(ops) and budget > 0:
            budget -= 1
            candidate = ops[:start] + ops[start + chunk :]
            if _fails(candidate, seed, faults) == first:
                ops = candidate
            else:
                start += chunk
        chunk //= 2
    return ops


def story_faults(rng: random.Random) -> Faults:
    """A random mix of every fault, from mild to harsh."""
    level = rng.choice((0.5, 1.0, 2.0, 4.0))
    return Faults(
        loss=0.04 * level,
        duplicate=0.08 * level,
        delay=2.0 * level,
        reorder=0.03 * level,
        bounce=0.03 * level,
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run seeded fault stories; print each failure as a replay script. 1 if any failed."""
    parser = argparse.ArgumentParser(
        prog="python3 tasks.py chaos",
        description=(
            "Seeded fault stories against the router. Each story runs random steps ("
            + ", ".join(KINDS)
            + ") through a network that loses, duplicates, delays, reorders and bounces"
            " stanzas, then lets every deadline pass and checks that each session agrees"
            " with the room. A failing story is printed, shrunk, as a replay script"
            " (docs/replay.md): a bug report."
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="the first story's seed (0)")
    parser.add_argument("--stories", type=int, default=100, help="how many stories (100)")
    parser.add_argument("--steps", type=int, default=60, help="steps per story (60)")
    args = parser.parse_args(argv)
    out = sys.stdout if out is None else out
    injected: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    failures = 0
    for number in range(args.stories):
        seed = args.seed + number
        rng = random.Random(seed)
        faults = story_faults(rng)
        ops = random_ops(rng, args.steps)
        story, failure = play(ops, seed, faults)
        injected.update(story.link.injected)
        steps.update(kind for kind, _, _ in story.ops)
        if failure is not None:
            failures += 1
            small, again = play(shrink(ops, seed, faults), seed, faults)
            report = small.script(again) if again is not None else story.script(failure)
            out.write(report + "\n\n")
    detail = ", ".join(f"{kind} {count}" for kind, count in sorted(injected.items()))
    taken = ", ".join(f"{kind} {steps[kind]}" for kind in KINDS if steps[kind])
    out.write(
        f"stories run: {args.stories}, faults injected: {sum(injected.values())}"
        f" ({detail or 'none'}; restart and forget are the rooms'), steps taken:"
        f" {sum(steps.values())} ({taken or 'none'}), failures: {failures}\n"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
