"""Room traffic to the sessions that see it: forks, stale answers, errors to their sender."""

from __future__ import annotations

from ._actions import Action, Deliver, Discard, DiscardReason
from ._muc import FLAG_CHANGES, status_codes
from ._sessions import SoleSession
from ._stanza import Stanza
from ._table import Occupancy, flag_set

__all__ = ["error_to_sender", "fork", "note_flags", "stale"]

_new = tuple.__new__


def fork(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """``stanza`` to every session that sees the room's traffic now, ``to`` rewritten."""
    audience = occupancy.audience()
    kind, type_, from_, _, id_, attrs, children = stanza
    if type(audience) is SoleSession:  # most accounts have one device in the room
        s = audience.session
        return [_new(Deliver, (s, _new(Stanza, (kind, type_, from_, s, id_, attrs, children))))]
    if not audience:
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    # The fan-out is the hot path: the forks and their actions are built as plain tuples
    # (the named tuples' constructors would cost a third more) in a plain loop (a list
    # comprehension's own frame costs as much again as one fork).
    forks: list[Action] = []
    for s in audience:
        copy = _new(Stanza, (kind, type_, from_, s, id_, attrs, children))
        forks.append(_new(Deliver, (s, copy)))
    return forks


def stale(stanza: Stanza) -> list[Action]:
    """An answer that matches nothing in flight: late, or a copy."""
    return [Discard(stanza=stanza, reason=DiscardReason.STALE)]


def error_to_sender(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """An error for a stanza a session sent goes back to that session only.

    A presence error that answers nothing a session sent is a late answer to the
    router's own (stale).
    """
    sent = occupancy.sent_ids
    sender = None if stanza.id is None or sent is None else sent.pop(stanza.id, None)
    if sender is not None and sender in occupancy.audience():
        return [Deliver(session=sender, stanza=stanza.with_to(sender))]
    if stanza.kind == "presence" or sender is not None:
        return stale(stanza)
    return fork(occupancy, stanza)


def note_flags(occupancy: Occupancy, stanza: Stanza) -> None:
    """Configuration-change codes (§10.2.1) that late joiners' self-presence must show."""
    view = occupancy.view
    for code in status_codes(stanza):
        change = FLAG_CHANGES.get(code)
        if change is not None:
            flag, on = change
            view.flags = flag_set(view.flags | {flag} if on else view.flags - {flag})
