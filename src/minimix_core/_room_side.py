"""Stanzas from rooms to an account's bare JID: claimed, forked, and remembered."""

from __future__ import annotations

from typing import Final

from ._actions import (
    Action,
    Archive,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Send,
    Unattended,
)
from ._core import Core
from ._history import History, is_historic
from ._iq import MAM_RESULT, iq_to_account, mam_result
from ._jid import JID
from ._keepalive import (
    TRANSIENT_CONDITIONS,
    begin_rejoin,
    give_up,
    ping_answer,
    retry_delay,
    start_keepalive,
)
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._membership import finish, join_stanza
from ._muc import (
    DELAY,
    FLAG_CHANGES,
    ITEM,
    NO_COPY,
    ROOM_FLAG_CODES,
    STANZA_ID,
    USER_X,
    error_condition,
    is_subject,
    status_codes,
)
from ._stanza import Element, Stanza, same_payload
from ._synth import departed_item, fork_self_presence, late_join, removal_for_session
from ._table import Account, Attachment, Occupancy

__all__ = ["fork", "to_account"]

_new = tuple.__new__

# Removals that are not the account's fault (§11.1, §11.2): rejoin instead of giving up.
_TRANSIENT_REMOVALS: Final = frozenset({332, 333})
_S = OccupancyState
_E = OccupancyEvent


def to_account(core: Core, account_jid: JID, stanza: Stanza) -> list[Action]:
    """Route one stanza addressed to a local account's bare JID."""
    sender = stanza.from_
    if sender is None:
        return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]
    account = core.table.accounts.get(account_jid)
    occupancy = None if account is None else account.rooms.get(sender.bare)
    if stanza.kind == "iq":
        if account is not None and occupancy is not None and _answers_ping(occupancy, stanza):
            return ping_answer(core, account, occupancy, stanza)
        return iq_to_account(core, account, stanza, sender)
    if account is not None and account.pending_iqs and stanza.type not in ("groupchat", "error"):
        result = stanza.find(MAM_RESULT)
        if result is not None:
            return mam_result(account, stanza, result, sender)
    if account is None or occupancy is None:
        return [Continue(stanza=stanza)]
    occupancy.last_seen = core.now
    if stanza.kind == "presence":
        return _presence(core, account, occupancy, stanza, sender)
    return _message(core, account, occupancy, stanza, sender)


def _answers_ping(occupancy: Occupancy, stanza: Stanza) -> bool:
    ping_id = occupancy.ping_id
    return ping_id is not None and stanza.id == ping_id and stanza.type in ("result", "error")


def fork(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """``stanza`` to every session that sees the room's traffic now, ``to`` rewritten."""
    audience = occupancy.audience()
    if not audience:
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    kind, type_, from_, _, id_, attrs, children = stanza
    # The fan-out is the hot path: build the forks and their actions as plain tuples.
    return [
        _new(Deliver, (s, _new(Stanza, (kind, type_, from_, s, id_, attrs, children))))
        for s in audience
    ]


def _presence(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    kind = stanza.type
    if kind == "error":
        return _presence_error(core, account, occupancy, stanza)
    nick = sender.resource
    if nick is None and kind in (None, "unavailable"):
        # The room's own presence (ejabberd sends one, with its caps, before the occupants):
        # late joiners get it first, as a direct joiner would.
        previous = occupancy.room_presence
        occupancy.room_presence = stanza if kind is None else None
        if (
            kind is None
            and occupancy.resync is not None
            and previous is not None
            and same_payload(previous.children, stanza.children)
        ):
            return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]  # known: a rejoin
        return fork(occupancy, stanza)
    if kind not in (None, "unavailable") or nick is None:
        return fork(occupancy, stanza)
    codes = status_codes(stanza)
    if 110 not in codes and nick != occupancy.current_nick:
        return _occupant(core, occupancy, nick, stanza)
    if kind is None:
        return _self_available(core, account, occupancy, stanza, nick, codes)
    return _self_unavailable(core, account, occupancy, stanza, codes)


def _occupant(core: Core, occupancy: Occupancy, nick: str, stanza: Stanza) -> list[Action]:
    """Another occupant's presence: remembered for late joiners, forwarded."""
    occupants = occupancy.occupants
    resync = occupancy.resync
    if resync is not None and stanza.type is None:
        resync.add(nick)
        cached = occupants.get(nick)
        if cached is not None and same_payload(cached.children, stanza.children):
            return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]
    if stanza.type == "unavailable":
        occupants.pop(nick, None)
    elif nick in occupants or len(occupants) < core.config.max_occupants_per_room:
        occupants[nick] = stanza._replace(children=core.share(stanza.children))
    else:
        occupancy.occupants_truncated = True
    return fork(occupancy, stanza)


def _self_available(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    nick: str,
    codes: frozenset[int],
) -> list[Action]:
    before = occupancy.state
    occupancy.state = advance(before, _E.SELF_PRESENCE)
    if before is _S.LEAVING:
        return fork(occupancy, stanza)
    occupancy.nick = nick
    previous, occupancy.self_presence = occupancy.self_presence, stanza
    if before is _S.JOINED:
        _note_flags(occupancy, stanza)
        return fork(occupancy, stanza) + _nick_changed(core, occupancy, nick)
    start_keepalive(core, account.jid, occupancy)
    if before is _S.REJOINING:
        return _rejoined(occupancy, stanza, previous)
    # The account's join succeeded: 110 says the occupant list is complete (§7.2.2).
    occupancy.joined_at = core.now
    occupancy.flags = set(codes & ROOM_FLAG_CODES)
    occupancy.created = 201 in codes
    pending, occupancy.pending = occupancy.pending, {}
    occupancy.attached.update(pending)
    if not pending:  # an autojoin: the account is in, with nobody to tell yet
        return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    return [
        Deliver(session=s, stanza=fork_self_presence(stanza, occupancy, s, attachment))
        for s, attachment in pending.items()
    ]


def _nick_changed(core: Core, occupancy: Occupancy, nick: str) -> list[Action]:
    """The room confirmed a session's nick change; a join-style request also gets a resync."""
    change = occupancy.nick_change
    if change is None or change.nick != nick:
        return []
    occupancy.nick_change = None
    attachment = occupancy.attached.get(change.session)
    if not change.resync or attachment is None or occupancy.self_presence is None:
        return []
    attachment.join_id = change.request_id
    attachment.nick = nick
    history = (
        []
        if occupancy.history is None
        else occupancy.history.select(
            None, core.now, core.config.default_history_messages, occupancy.room
        )
    )
    stanzas = late_join(occupancy, occupancy.self_presence, change.session, attachment, history)
    return [Deliver(session=change.session, stanza=s) for s in stanzas]


def _rejoined(occupancy: Occupancy, stanza: Stanza, previous: Stanza | None) -> list[Action]:
    """Back in after a rejoin: only what changed while the account was out is shown."""
    occupancy.rejoin_attempts = 0
    actions: list[Action] = []
    seen = occupancy.resync or set()
    for nick in [n for n in occupancy.occupants if n not in seen]:
        # Left while the account was away: the sessions must not keep a ghost.
        gone = _left_while_away(occupancy, nick)
        actions += fork(occupancy, gone)
    if previous is not None and same_payload(previous.children, stanza.children):
        actions.append(Discard(stanza=stanza, reason=DiscardReason.RESYNC))
    else:
        # The sessions never sent the router's own rejoin: its id means nothing to them.
        actions += fork(occupancy, stanza._replace(id=None))
    return actions


def _left_while_away(occupancy: Occupancy, nick: str) -> Stanza:
    cached = occupancy.occupants.pop(nick)
    return Stanza(
        "presence",
        type="unavailable",
        from_=occupancy.room.with_resource(nick),
        to=cached.to,
        children=(Element(USER_X, (), (departed_item(cached),)),),
    )


def _self_unavailable(
    core: Core,
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
        if new_nick and state is _S.JOINED:
            occupancy.nick = new_nick
        return fork(occupancy, stanza)
    if state is _S.LEAVING:
        return _leave_answered(core, account, occupancy, stanza, _E.SELF_UNAVAILABLE)
    if codes & _TRANSIENT_REMOVALS and state in (_S.JOINED, _S.REJOINING) and occupancy.attached:
        return _retry(core, account, occupancy, stanza, _E.SELF_UNAVAILABLE)
    # Removed by the room: kick, ban, membership, shutdown, destruction (§8.2, §9, §10.9).
    audience = occupancy.audience()
    occupancy.state = advance(state, _E.SELF_UNAVAILABLE, _S.ABSENT)
    actions: list[Action] = [
        Deliver(session=s, stanza=removal_for_session(stanza, s)) for s in audience
    ]
    finish(core, account, occupancy)
    return actions or [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]


def _retry(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, event: OccupancyEvent
) -> list[Action]:
    """Not the account's fault: rejoin after a delay, or give up after too many tries."""
    if occupancy.rejoin_attempts >= core.config.max_rejoin_attempts:
        occupancy.state = advance(occupancy.state, event, _S.ABSENT)
        gone = give_up(core, account, occupancy, "Could not rejoin the room")
        return [Discard(stanza=stanza, reason=DiscardReason.REJOINING), *gone]
    occupancy.state = advance(occupancy.state, event, _S.REJOINING)
    delay = retry_delay(core, occupancy)
    rejoin = begin_rejoin(core, account, occupancy, delay=delay)
    return [Discard(stanza=stanza, reason=DiscardReason.REJOINING), *rejoin]


def _leave_answered(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, event: OccupancyEvent
) -> list[Action]:
    """The room answered while the account was leaving: the leave (or the join) is over."""
    leaving, occupancy.leaving = occupancy.leaving, {}
    actions: list[Action] = [Deliver(session=s, stanza=stanza.with_to(s)) for s in leaving]
    for session in leaving:
        if session not in occupancy.pending:
            account.unlink(session, occupancy.room)
    if not occupancy.pending:
        occupancy.state = advance(occupancy.state, event, _S.ABSENT)
        finish(core, account, occupancy)
        return actions or [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
    # Sessions joined while the account was leaving: the account joins again for them.
    occupancy.state = advance(occupancy.state, event, _S.JOINING)
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
    occupancy.room_presence = None
    occupancy.subject = None
    occupancy.flags = set()
    occupancy.created = False
    occupancy.sent_ids = {}
    occupancy.history = None
    occupancy.last_message_at = None


def _presence_error(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza
) -> list[Action]:
    state = occupancy.state
    if state is _S.JOINED:
        occupancy.state = advance(state, _E.ROOM_ERROR)
        change = occupancy.nick_change
        sender = stanza.from_
        if change is not None and sender is not None and sender.resource == change.nick:
            # A refused nick change (409, not-acceptable) is for the session that asked.
            occupancy.nick_change = None
            answer = stanza.replace(to=change.session, id=change.request_id)
            return [Deliver(session=change.session, stanza=answer)]
        return _error_to_sender(occupancy, stanza)
    if state is _S.LEAVING:
        return _leave_answered(core, account, occupancy, stanza, _E.ROOM_ERROR)
    if state is _S.REJOINING:
        condition, _ = error_condition(stanza)
        if condition in TRANSIENT_CONDITIONS:
            return _retry(core, account, occupancy, stanza, _E.ROOM_ERROR)
        occupancy.state = advance(state, _E.ROOM_ERROR, _S.ABSENT)
        text = f"Could not rejoin the room: {condition or 'error'}"
        gone = give_up(core, account, occupancy, text)
        return [Discard(stanza=stanza, reason=DiscardReason.REJOINING), *gone]
    # The account's join failed (§7.2.6-§7.2.11): every pending session gets the error as
    # its own join would have: from the nick it asked for, with its own id.
    occupancy.state = advance(state, _E.ROOM_ERROR)
    actions: list[Action] = [
        Deliver(
            session=s,
            stanza=stanza.replace(to=s, id=a.join_id, from_=occupancy.room.with_resource(a.nick)),
        )
        for s, a in occupancy.pending.items()
    ]
    finish(core, account, occupancy)
    return actions


def _error_to_sender(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """An error for a stanza a session sent goes back to that session only."""
    sender = None if stanza.id is None else occupancy.sent_ids.pop(stanza.id, None)
    if sender is not None and sender in occupancy.audience():
        return [Deliver(session=sender, stanza=stanza.with_to(sender))]
    return fork(occupancy, stanza)


def _message(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    kind = stanza.type
    if kind == "groupchat":
        if sender.resource is None:
            _note_flags(occupancy, stanza)
        if occupancy.state is _S.LEAVING:
            return fork(occupancy, stanza)
        if is_subject(stanza):
            return _subject(core, occupancy, stanza)
        if is_historic(stanza):
            return _historic(core, account, occupancy, stanza)
        return fork(occupancy, stanza)
    if kind == "error":
        return _error_to_sender(occupancy, stanza)
    if kind == "chat" and sender.resource is not None and stanza.find(NO_COPY) is None:
        # A private message (§7.5) reaches every session here, once each: tell the host's
        # carbons (XEP-0280, XEP-0334) not to copy it again.
        stanza = stanza.replace(children=(*stanza.children, Element(NO_COPY)))
        if not occupancy.attached and occupancy.state is _S.JOINED:
            return [_unattended(account, occupancy, stanza, mentions=True)]
    return fork(occupancy, stanza)


def _unattended(
    account: Account, occupancy: Occupancy, stanza: Stanza, *, mentions: bool
) -> Action:
    return Unattended(account=account.jid, room=occupancy.room, stanza=stanza, mentions=mentions)


def _mentions(stanza: Stanza, nick: str | None) -> bool:
    body = stanza.find("body")
    return nick is not None and body is not None and nick.casefold() in (body.text or "").casefold()


def _subject(core: Core, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    previous = occupancy.subject
    occupancy.subject = stanza._replace(children=core.share(stanza.children))
    if occupancy.resync is not None:
        # The subject ends the room's join sequence (§7.2.15): the resync is over.
        occupancy.resync = None
        if previous is not None and same_payload(previous.children, stanza.children):
            return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]
    return fork(occupancy, stanza)


def _historic(core: Core, account: Account, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    history = occupancy.history
    if history is None:
        history = occupancy.history = History()
    elif occupancy.resync is not None:
        stanza_id = History.stanza_id(stanza, occupancy.room)
        if stanza_id is not None and stanza_id in history:
            return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]
    # Every local account in the room keeps the same messages: one payload for all of them.
    kept = stanza._replace(children=core.share(stanza.children))
    sent_at = history.add(kept, occupancy.room, core.now, core.config)
    if occupancy.last_message_at is None or sent_at > occupancy.last_message_at:
        occupancy.last_message_at = sent_at
    # A new message: once into the account's archive, then to the sessions (or a push).
    actions: list[Action] = []
    if core.config.archive:
        actions.append(Archive(account=account.jid, stanza=_for_archive(stanza, account.jid)))
    live = stanza.find(DELAY) is None
    if live and not occupancy.attached and occupancy.state is _S.JOINED:
        mentions = _mentions(stanza, occupancy.nick)
        actions.append(_unattended(account, occupancy, stanza, mentions=mentions))
        return actions
    return actions + fork(occupancy, stanza)


def _for_archive(stanza: Stanza, account: JID) -> Stanza:
    """XEP-0359 §5: a stanza-id claiming to be the archive's own is a spoof; drop it."""
    by = str(account)
    spoof = [c for c in stanza.findall(STANZA_ID) if c.get("by") == by]
    if not spoof:
        return stanza
    return stanza.replace(children=tuple(c for c in stanza.children if c not in spoof))


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
