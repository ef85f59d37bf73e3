"""Stanzas from rooms to an account's bare JID: claimed, forked, and remembered."""

from __future__ import annotations

from ._actions import Action, Continue, Deliver, Discard, DiscardReason, Send
from ._config import Config
from ._core import Core
from ._history import History, is_historic
from ._iq import MAM_RESULT, iq_to_account, mam_result
from ._jid import JID
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._membership import finish, join_stanza
from ._muc import FLAG_CHANGES, ITEM, NO_COPY, ROOM_FLAG_CODES, USER_X, is_subject, status_codes
from ._stanza import Element, Stanza
from ._synth import fork_self_presence, removal_for_session
from ._table import Account, Attachment, Occupancy, Table

__all__ = ["fork", "to_account"]


def to_account(core: Core, account_jid: JID, stanza: Stanza) -> list[Action]:
    """Route one stanza addressed to a local account's bare JID."""
    table, config = core.table, core.config
    sender = stanza.from_
    if sender is None:
        return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]
    account = table.accounts.get(account_jid)
    if stanza.kind == "iq":
        return iq_to_account(core, account, stanza, sender)
    if account is not None and account.pending_iqs and stanza.type not in ("groupchat", "error"):
        result = stanza.find(MAM_RESULT)
        if result is not None:
            return mam_result(account, stanza, result, sender)
    occupancy = None if account is None else account.rooms.get(sender.bare)
    if account is None or occupancy is None:
        return [Continue(stanza=stanza)]
    if stanza.kind == "presence":
        return _presence(table, config, account, occupancy, stanza, sender)
    return _message(core, occupancy, stanza, sender)


def fork(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """``stanza`` to every session that sees the room's traffic now, ``to`` rewritten."""
    audience = occupancy.audience()
    if not audience:
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    return [Deliver(session=s, stanza=stanza.with_to(s)) for s in audience]


def _presence(
    table: Table,
    config: Config,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    sender: JID,
) -> list[Action]:
    kind = stanza.type
    if kind == "error":
        return _presence_error(table, account, occupancy, stanza)
    nick = sender.resource
    if kind not in (None, "unavailable") or nick is None:
        return fork(occupancy, stanza)
    codes = status_codes(stanza)
    if 110 not in codes and nick != occupancy.current_nick:
        _remember_occupant(config, occupancy, nick, stanza)
        return fork(occupancy, stanza)
    if kind is None:
        return _self_available(occupancy, stanza, nick, codes)
    return _self_unavailable(table, account, occupancy, stanza, codes)


def _remember_occupant(config: Config, occupancy: Occupancy, nick: str, stanza: Stanza) -> None:
    occupants = occupancy.occupants
    if stanza.type == "unavailable":
        occupants.pop(nick, None)
    elif nick in occupants or len(occupants) < config.max_occupants_per_room:
        occupants[nick] = stanza
    else:
        occupancy.occupants_truncated = True


def _self_available(
    occupancy: Occupancy, stanza: Stanza, nick: str, codes: frozenset[int]
) -> list[Action]:
    before = occupancy.state
    occupancy.state = advance(before, OccupancyEvent.SELF_PRESENCE)
    if before is OccupancyState.LEAVING:
        return fork(occupancy, stanza)
    occupancy.nick = nick
    occupancy.self_presence = stanza
    if before is OccupancyState.JOINED:
        return fork(occupancy, stanza)
    # The account's join succeeded: 110 says the occupant list is complete (§7.2.2).
    occupancy.flags = set(codes & ROOM_FLAG_CODES)
    occupancy.created = 201 in codes
    pending, occupancy.pending = occupancy.pending, {}
    occupancy.attached.update(pending)
    return [
        Deliver(session=s, stanza=fork_self_presence(stanza, occupancy, s, attachment))
        for s, attachment in pending.items()
    ]


def _self_unavailable(
    table: Table,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    codes: frozenset[int],
) -> list[Action]:
    state = occupancy.state
    if 303 in codes:
        # The account's nick changed (§7.6): the new self-presence follows.
        x = stanza.find(USER_X)
        item = None if x is None else x.find(ITEM)
        new_nick = None if item is None else item.get("nick")
        if new_nick and state is OccupancyState.JOINED:
            occupancy.nick = new_nick
        return fork(occupancy, stanza)
    if state is OccupancyState.LEAVING:
        return _leave_answered(table, account, occupancy, stanza, OccupancyEvent.SELF_UNAVAILABLE)
    # Removed by the room: kick, ban, membership, shutdown, destruction (§8.2, §9, §10.9).
    audience = occupancy.audience()
    occupancy.state = advance(state, OccupancyEvent.SELF_UNAVAILABLE)
    actions: list[Action] = [
        Deliver(session=s, stanza=removal_for_session(stanza, s)) for s in audience
    ]
    finish(table, account, occupancy)
    return actions or [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]


def _leave_answered(
    table: Table,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    event: OccupancyEvent,
) -> list[Action]:
    """The room answered while the account was leaving: the leave (or the join) is over."""
    leaving, occupancy.leaving = occupancy.leaving, {}
    actions: list[Action] = [Deliver(session=s, stanza=stanza.with_to(s)) for s in leaving]
    for session in leaving:
        if session not in occupancy.pending:
            account.unlink(session, occupancy.room)
    if not occupancy.pending:
        occupancy.state = advance(occupancy.state, event, OccupancyState.ABSENT)
        finish(table, account, occupancy)
        return actions or [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    # Sessions joined while the account was leaving: the account joins again for them.
    occupancy.state = advance(occupancy.state, event, OccupancyState.JOINING)
    first = next(iter(occupancy.pending.values()))
    _reset(occupancy, account.jid, first)
    return [*actions, Send(stanza=occupancy.join)]


def _reset(occupancy: Occupancy, account_jid: JID, first: Attachment) -> None:
    occupancy.join = join_stanza(account_jid, occupancy.room, first.nick, first.request)
    occupancy.requested_nick = first.nick
    occupancy.nick = None
    occupancy.self_presence = None
    occupancy.occupants = {}
    occupancy.occupants_truncated = False
    occupancy.subject = None
    occupancy.flags = set()
    occupancy.created = False
    occupancy.sent_ids = {}
    occupancy.history = None
    occupancy.last_message_at = None


def _presence_error(
    table: Table, account: Account, occupancy: Occupancy, stanza: Stanza
) -> list[Action]:
    state = occupancy.state
    if state is OccupancyState.JOINED:
        occupancy.state = advance(state, OccupancyEvent.ROOM_ERROR)
        return _error_to_sender(occupancy, stanza)
    if state is OccupancyState.LEAVING:
        return _leave_answered(table, account, occupancy, stanza, OccupancyEvent.ROOM_ERROR)
    # The account's join failed (§7.2.6-§7.2.11): every pending session gets the error as
    # its own join would have: from the nick it asked for, with its own id.
    occupancy.state = advance(state, OccupancyEvent.ROOM_ERROR)
    actions: list[Action] = [
        Deliver(
            session=s,
            stanza=stanza.replace(to=s, id=a.join_id, from_=occupancy.room.with_resource(a.nick)),
        )
        for s, a in occupancy.pending.items()
    ]
    finish(table, account, occupancy)
    return actions


def _error_to_sender(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """An error for a stanza a session sent goes back to that session only."""
    sender = None if stanza.id is None else occupancy.sent_ids.pop(stanza.id, None)
    if sender is not None and sender in occupancy.audience():
        return [Deliver(session=sender, stanza=stanza.with_to(sender))]
    return fork(occupancy, stanza)


def _message(core: Core, occupancy: Occupancy, stanza: Stanza, sender: JID) -> list[Action]:
    kind = stanza.type
    if kind == "groupchat":
        if sender.resource is None:
            _note_flags(occupancy, stanza)
        if occupancy.state is not OccupancyState.LEAVING:
            if is_subject(stanza):
                occupancy.subject = stanza
            elif is_historic(stanza):
                _remember(core, occupancy, stanza)
        return fork(occupancy, stanza)
    if kind == "error":
        return _error_to_sender(occupancy, stanza)
    if kind == "chat" and sender.resource is not None and stanza.find(NO_COPY) is None:
        # A private message (§7.5) reaches every session here, once each: tell the host's
        # carbons (XEP-0280, XEP-0334) not to copy it again.
        stanza = stanza.replace(children=(*stanza.children, Element(NO_COPY)))
    return fork(occupancy, stanza)


def _remember(core: Core, occupancy: Occupancy, stanza: Stanza) -> None:
    history = occupancy.history
    if history is None:
        history = occupancy.history = History()
    sent_at = history.add(stanza, occupancy.room, core.now, core.config)
    if occupancy.last_message_at is None or sent_at > occupancy.last_message_at:
        occupancy.last_message_at = sent_at


def _note_flags(occupancy: Occupancy, stanza: Stanza) -> None:
    """Configuration-change codes (§10.2.1) that late joiners' self-presence must show."""
    for code in status_codes(stanza):
        change = FLAG_CHANGES.get(code)
        if change is not None:
            flag, on = change
            if on:
                occupancy.flags.add(flag)
            else:
                occupancy.flags.discard(flag)
