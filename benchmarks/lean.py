"""The least Python can do per room message (and per late join) with the router's features.

A baseline, not a router: it shows what a groupchat message must cost in CPython once
history, archive and duplicate detection are kept, so the fan-out figures can be read
against it as well as against the floor (which keeps none of them) and the naive port
(which keeps none of them either and copies deeply).

Per message, with everything already in place (no event object, no checks of the host's
input, no state machine, no presence, no bounds in bytes): two dict lookups; one pass
over the payload for the room's stanza-id and whether the message is one to keep, adding
up the size memos the parser left; the stanza-id itself as the key (no hashing); a
bounded set of the keys passed on, a numbered memory of the keys seen, a bounded history
buffer of tuples; one :class:`~minimix_core.Archive` and, per session, a fork and its
:class:`~minimix_core.Deliver`, all built as plain tuples as the router builds them.

With ``exact``, it also does the two things per message the router's design cannot drop:
the message's size counted in characters of the whole stanza, as a history's ``maxchars``
limit counts them (XEP-0045 §7.2.14; the lean size adds up the payload's memos only), and
a key of bounded size (a room's ids have no length limit, and the memory of keys is
bounded by count: a long id is hashed), both with the router's own functions.
"""

from __future__ import annotations

from collections import deque

from minimix_core import JID, Action, Archive, Deliver, Stanza
from minimix_core._history import _envelope, key_of

__all__ = [
    "LeanJoinTable",
    "LeanOccupancy",
    "LeanTable",
    "LeanView",
    "lean_fanout",
    "lean_late_join",
]

_BODY = "{jabber:client}body"
_STANZA_ID = "{urn:xmpp:sid:0}stanza-id"
_MUC_X = "{http://jabber.org/protocol/muc}x"
_HISTORY_REQUEST = "{http://jabber.org/protocol/muc}history"
_BOUND = 256
_HISTORY = 50
_new = tuple.__new__


class LeanOccupancy:
    """One account's standing in one room, reduced to what a message touches."""

    __slots__ = ("history", "last", "passed", "room", "seen", "sessions")

    def __init__(self, room: JID, sessions: list[JID]) -> None:
        self.room = str(room)
        self.sessions = sessions
        self.passed: dict[str, None] = {}
        self.seen: dict[str, int] = {}
        self.last = 0
        self.history: deque[tuple[Stanza, float, str, int, int]] = deque()


LeanTable = dict[JID, dict[JID, LeanOccupancy]]
"""Account bare JID -> room bare JID -> the occupancy."""


def lean_fanout(
    table: LeanTable, stanza: Stanza, now: float, *, exact: bool = False
) -> list[Action]:
    """History, archive, duplicate detection and forks for one groupchat message."""
    to, sender = stanza.to, stanza.from_
    if to is None or sender is None:
        return []
    occupancy = table[to][sender.bare]
    key = None
    keep = False
    size = _envelope(stanza) if exact else 0
    for child in stanza.children:
        size += child._size
        tag = child.tag
        if tag == _BODY:
            keep = True
        elif tag == _STANZA_ID and child.get("by") == occupancy.room:
            key = child.get("id")
    if key is None or not keep:
        return []
    if exact:
        key = key_of(stanza, key)
    passed = occupancy.passed
    if key in passed:
        return []
    passed[key] = None
    if len(passed) > _BOUND:
        del passed[next(iter(passed))]
    occupancy.last += 1
    seen = occupancy.seen
    seen[key] = occupancy.last
    if len(seen) > _BOUND:
        del seen[next(iter(seen))]
    history = occupancy.history
    history.append((stanza, now, key, size, occupancy.last))
    if len(history) > _HISTORY:
        history.popleft()
    kind, type_, from_, _, id_, attrs, children = stanza
    actions: list[Action] = [_new(Archive, (to, stanza))]
    for session in occupancy.sessions:
        fork = _new(Stanza, (kind, type_, from_, session, id_, attrs, children))
        actions.append(_new(Deliver, (session, fork)))
    return actions


class LeanView:
    """What a late join reads of one account's standing in a room: the room's cache."""

    __slots__ = ("occupants", "self_presence", "sessions", "subject")

    def __init__(self, occupants: list[Stanza], self_presence: Stanza, subject: Stanza) -> None:
        self.occupants = occupants
        self.self_presence = self_presence
        self.subject = subject
        self.sessions: dict[JID, str | None] = {}


LeanJoinTable = dict[JID, dict[JID, LeanView]]
"""Account bare JID -> room bare JID -> the room's cache."""


def lean_late_join(table: LeanJoinTable, session: JID, join: Stanza) -> list[Action]:
    """A session's join answered from the cache, doing only what every late join must.

    Find the account's room; read the join's history request (XEP-0045 §7.2.14; none is
    kept here, as the benchmark's joins ask for none and the history is empty); note the
    session and its join's ``id``; then each occupant's presence, the self-presence
    carrying the join's ``id`` (§7.2.1: the client matches it) and the subject, each a
    copy with ``to`` changed in a :class:`~minimix_core.Deliver`, built as plain tuples as
    the router builds them. No event, no checks, no state machine, no nick, status or
    presence bookkeeping.
    """
    to = join.to
    if to is None:
        return []
    view = table[session.bare][to.bare]
    for child in join.children:
        if child.tag == _MUC_X:
            for request in child.children:
                if request.tag == _HISTORY_REQUEST:
                    break
            break
    join_id = join.id
    view.sessions[session] = join_id
    out: list[Action] = [
        _new(Deliver, (session, _new(Stanza, (kind, type_, from_, session, id_, attrs, payload))))
        for kind, type_, from_, _, id_, attrs, payload in view.occupants
    ]
    kind, type_, from_, _, _, attrs, payload = view.self_presence
    own = _new(Stanza, (kind, type_, from_, session, join_id, attrs, payload))
    out.append(_new(Deliver, (session, own)))
    kind, type_, from_, _, id_, attrs, payload = view.subject
    subject = _new(Stanza, (kind, type_, from_, session, id_, attrs, payload))
    out.append(_new(Deliver, (session, subject)))
    return out
