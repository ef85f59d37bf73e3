"""A device's place in a room: which of its account's numbered messages it has.

The account numbers the room's messages in arrival order (:class:`~minimix_core._table.RoomMemory`).
A device that had every one up to a number has that number for its place: a plain
``int``, the usual case, which costs nothing more. A device can also lack some and have
later ones: a message to it came back undelivered while later ones reached it (XEP-0198
§5), or it got messages while it waited to get back in, or while the room had yet to
answer its leave, after a gap. Its place is then a tuple: the newest number it had with
every one before it, and the later numbers it got too, ascending.

Back, a device gets what it lacks, each once (:meth:`History.after
<minimix_core._history.History.after>` skips what :func:`has` says it has). The later
numbers are bounded (``bound``, ``Config.max_history_messages``: the history holds no
more): beyond it the oldest are let go, so that a message is at worst sent again, never
taken for had.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

__all__ = ["Place", "before_gap", "has", "highest", "missed", "with_message", "without"]

Place: TypeAlias = "int | tuple[int, ...]"
"""The number of the newest message a device had with every one before it; or, in a
tuple, that number and the later numbers it got too (ascending)."""


def before_gap(place: Place) -> int:
    """The newest number the device had with every one before it."""
    return place if isinstance(place, int) else place[0]


def highest(place: Place) -> int:
    """The highest number the place names."""
    return place if isinstance(place, int) else place[-1]


def has(place: Place, number: int) -> bool:
    """Whether a device at ``place`` has the message numbered ``number``."""
    if isinstance(place, int):
        return number <= place
    return number <= place[0] or number in place[1:]


def _made(start: int, later: Iterable[int], bound: int) -> Place:
    """A place from ``start`` and later numbers had (any order, repeats, older ones)."""
    rest = sorted({n for n in later if n > start})
    skip = 0
    while skip < len(rest) and rest[skip] == start + 1:
        start += 1
        skip += 1
    del rest[:skip]
    if len(rest) > bound:
        del rest[: len(rest) - bound]  # the oldest let go: sent again, never lost
    return (start, *rest) if rest else start


def with_message(place: Place, number: int, bound: int) -> Place:
    """``place`` once the device also got the message numbered ``number``."""
    if isinstance(place, int):
        return place + 1 if number == place + 1 else _made(place, (number,), bound)
    if has(place, number):
        return place
    return _made(place[0], (*place[1:], number), bound)


def without(place: Place, lacked: Iterable[int], bound: int) -> Place:
    """``place`` once the messages numbered in ``lacked`` turn out not to have reached it."""
    lacked = {n for n in lacked if has(place, n)}
    if not lacked:
        return place
    start = before_gap(place)
    later = () if isinstance(place, int) else place[1:]
    first = min(lacked)
    if first <= start:
        # What it had from the first one lacked on is had after a gap: only the newest
        # ``bound`` numbers can stay (more than one lacked may be among them).
        low = max(first + 1, start + 1 - bound - len(lacked))
        later = (*range(low, start + 1), *later)
        start = first - 1
    return _made(start, (n for n in later if n not in lacked), bound)


def missed(bounced: tuple[int, ...] | None, number: int, held: set[int]) -> tuple[int, ...]:
    """The numbers of the messages that came back undelivered, ``number`` among them.

    Only those of messages the history still holds (``held``): no device can get the
    others again, so the list is as bounded as the history.
    """
    kept = {n for n in bounced or () if n in held}
    kept.add(number)
    return tuple(sorted(kept))
