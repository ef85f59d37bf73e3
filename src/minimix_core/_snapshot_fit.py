"""What a restored account needs to fit the router it is restored into.

Keys that version 2 hashed are made again (:func:`rekey`), and what a snapshot taken
under larger bounds holds is cut down to the running ``Config``'s (:func:`fit`), as the
bounds would have cut it.
"""

from __future__ import annotations

from ._config import Config
from ._recent import RecentKeys
from ._sessions import NO_ENTRIES
from ._stanza import Stanza, payload_size
from ._table import Account, RoomView

__all__ = ["fit", "rekey"]


def rekey(account: Account) -> None:
    """Version 2's hashed message keys, as version 3 makes them, where they can be made.

    A history holds its messages, so their keys are made again, and the account's memory
    and the messages passed on follow. A key whose message is no longer held stays as it
    was, and the memory is marked: a message it does not know is looked up by its version
    2 hash too (:meth:`RoomMemory.note`), until no message of before the restore is left.
    """
    for remembered in account.memory.values():
        remembered.legacy = remembered.last
    for room, occupancy in account.rooms.items():
        history = occupancy.view.history
        changed = NO_ENTRIES if history is None else history.rekey(room)
        if not changed:
            continue
        passed = occupancy.view.passed
        if passed is not None:
            occupancy.view.passed = RecentKeys((changed.get(k, k), None) for k in passed)
        memory = account.memory.get(room)
        if memory is not None:
            memory.seen = RecentKeys((changed.get(k, k), n) for k, n in memory.seen.items())


def fit(account: Account, config: Config) -> None:
    """The account's memories, histories and occupant lists down to ``config``'s bounds.

    A snapshot taken under a larger ``Config.max_rooms_per_account``,
    ``max_remembered_messages``, ``max_tracked_ids``, ``max_history_messages``,
    ``max_history_bytes``, ``max_occupants_per_room`` or ``max_occupant_bytes`` holds
    more; the routing paths forget one room's memory, key or id per new one, so without
    this they would stay over it, and a late joiner would get more history or occupants
    than the bounds allow (and more messages withheld for a waiting session). The oldest
    go first; of the occupants, those the bounds would not have cached had they come in
    the list's order, and the list is marked partial.
    """
    # Those of rooms the account is no longer in, least recent first: the rooms it is in
    # (more than the bound allows, if it was in them) keep theirs, as they would have.
    excess = len(account.memory) - config.max_rooms_per_account
    if excess > 0:
        for room in [room for room in account.memory if room not in account.rooms][:excess]:
            del account.memory[room]
    bound = config.max_remembered_messages
    for memory in account.memory.values():
        memory.seen.trim(bound)
    for occupancy in account.rooms.values():
        sent = occupancy.sent_ids
        while sent and len(sent) > config.max_tracked_ids:
            sent.popitem(last=False)
        view = occupancy.view
        if view.passed is not None:
            view.passed.trim(bound)
        if view.history is not None:
            view.history.trim(config)
        # As Occupancy.withheld grows (_room_side._historic): the newest, one per message.
        occupancy.withheld = occupancy.withheld[-config.max_history_messages :]
        if (
            len(view.occupants) > config.max_occupants_per_room
            or view.occupant_bytes > config.max_occupant_bytes
        ):
            _fit_occupants(view, config)


def _fit_occupants(view: RoomView, config: Config) -> None:
    """The occupants the bounds would have cached had they come in the list's order.

    As when the room's presences come in (``_room_presence._occupant``), one too large for
    the bytes left is not cached, and a later, smaller one still is, up to
    ``max_occupants_per_room``.
    """
    kept: dict[str, Stanza] = {}
    size = 0
    for nick, presence in view.occupants.items():
        grows = payload_size(presence.children)
        if len(kept) < config.max_occupants_per_room and size + grows <= config.max_occupant_bytes:
            kept[nick] = presence
            size += grows
    view.occupants = kept or NO_ENTRIES
    view.occupant_bytes = size
    view.partial = True
