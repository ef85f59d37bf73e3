"""A bounded memory of message keys that forgets the oldest first, one step per key.

An account remembers the keys of a room's last ``Config.max_remembered_messages``
messages twice: those it was offered (``RoomMemory.seen``) and those passed on in the
occupancy (``RoomView.passed``). Each new key past the bound makes the oldest go, once
per room message. A plain dict finds its oldest key by walking past the slots its
deletions left at its front, up to about twice the bound of them: a walk per message as
long as the bound. An ``OrderedDict`` forgets in one step, at some 48 bytes more per key.
Here the keys' order is a list beside the dict, 8 bytes a key, read from a moving head.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["RecentKeys"]

_V = TypeVar("_V")


class RecentKeys(dict[str, _V]):
    """A dict of message keys, in the order they came, that forgets its oldest first.

    Read it as any dict (its iteration order is the order the keys came; a key
    :meth:`move` renamed keeps its place). Write only with :meth:`add` and :meth:`move`;
    the hot path (``_room_side.room_message``) writes :meth:`add` out. ``order[head:]``
    holds the keys oldest first; the part before ``head`` is forgotten and cut off once it
    is as long as the rest, so the list holds at most twice the keys and each key costs
    one step when it comes and one when it goes.
    """

    __slots__ = ("head", "order")

    def __init__(self, items: Iterable[tuple[str, _V]] = ()) -> None:
        super().__init__(items)
        self.order: list[str] = list(self)
        self.head = 0

    def add(self, key: str, value: _V, bound: int) -> None:
        """Remember ``key``, not held yet, as the newest; past ``bound`` keys, the oldest go."""
        self[key] = value
        self.order.append(key)
        if len(self) > bound:
            self.forget_oldest()

    def trim(self, bound: int) -> None:
        """Forget the oldest keys until at most ``bound`` are held.

        For a bound smaller than the one they were kept under, as after a restore.
        """
        while len(self) > bound:
            self.forget_oldest()

    def forget_oldest(self) -> None:
        """Forget the oldest key; there is one."""
        order = self.order
        head = self.head
        del self[order[head]]
        head += 1
        if head * 2 >= len(order):
            del order[:head]
            head = 0
        self.head = head

    def oldest(self) -> str | None:
        """The oldest key held, or ``None`` when none is."""
        return self.order[self.head] if self else None

    def move(self, old: str, new: str) -> None:
        """``old``'s value under the key ``new`` (not held), in ``old``'s place.

        The renamed key is as old as ``old`` was: it goes when ``old`` would have, not
        after keys that came later. Finding ``old``'s place walks the order, and the keys
        after it are put back behind ``new`` so that the dict's order stays the order's:
        it is done once per key remembered from before a version 3 snapshot
        (``adopt_version_2``), never on a new message's way.
        """
        order = self.order
        index = order.index(old, self.head)
        self[new] = self.pop(old)
        order[index] = new
        for key in order[index + 1 :]:
            self[key] = self.pop(key)
