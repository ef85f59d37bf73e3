"""Stanzas from local sessions: joins, leaves, groupchat and everything else sent to rooms."""

from __future__ import annotations

from ._actions import Action, Continue, Deliver, Discard, DiscardReason, Send
from ._config import Config
from ._core import Core
from ._iq import forget_session_iqs, iq_from_session
from ._jid import JID
from ._keepalive import rejoin_after_earlier_answer, rejoin_due, rejoin_now, verify
from ._lifecycle import IN_ROOM, E, S, transition
from ._membership import (
    held,
    join_stanza,
    late_history,
    release,
    remember_position,
    send_join,
    track_id,
)
from ._muc import CARBONS, FORWARD, MUC_X, NO_COPY, USER_X, error_stanza
from ._place import missed, without
from ._presence import (
    NOT_FOR_THE_ROOM,
    aggregate_update,
    hold_presence,
    payload_of,
    request_nick_change,
    session_presence,
)
from ._sessions import Attachment, SoleSession, add_session, drop_session
from ._stanza import Element, Stanza
from ._synth import late_join, not_connected
from ._table import Account, Occupancy, RoomMemory

_S = S
_E = E

__all__ = ["from_session", "session_closed", "session_gone", "session_join"]

_PRIVATE = f"{{{CARBONS}}}private"
_SUBSCRIPTION_TYPES = frozenset({"subscribe", "subscribed", "unsubscribe", "unsubscribed"})


def from_session(core: Core, session: JID, stanza: Stanza) -> list[Action]:
    """Route one stanza a local session sent."""
    table, config = core.table, core.config
    account_jid = session.bare
    if stanza.from_ is not None and stanza.from_ not in (session, account_jid):
        return [Discard(stanza=stanza, reason=DiscardReason.FORGED_FROM)]
    to = stanza.to
    if to is None:
        if stanza.kind == "presence" and stanza.type == "unavailable":
            # Broadcast unavailable: the session is gone from every room it was in.
            account = table.accounts.get(account_jid)
            actions = [] if account is None else session_gone(core, account, session)
            return [*actions, Continue(stanza=stanza)]
        return [Continue(stanza=stanza)]
    account = table.accounts.get(account_jid)
    occupancy = None if account is None else account.rooms.get(to.bare)
    if stanza.kind == "presence":
        return _presence(core, account_jid, account, session, stanza, to, occupancy)
    if stanza.kind == "message":
        return _message(config, account, session, stanza, to, occupancy)
    return iq_from_session(core, account_jid, session, stanza, to, occupancy)


def session_closed(core: Core, session: JID) -> list[Action]:
    """A session ended for good: detach it everywhere; its IQs will get no answer."""
    account = core.table.accounts.get(session.bare)
    if account is None:
        return []
    forget_session_iqs(account, session)
    return session_gone(core, account, session)


def session_gone(core: Core, account: Account, session: JID) -> list[Action]:
    """Detach a session that disconnected from every room, without telling it anything."""
    actions: list[Action] = []
    for room in account.sessions.pop(session, {}):
        occupancy = account.rooms[room]
        # The answer to its leave has nobody to go to.
        occupancy.leaving = drop_session(occupancy.leaving, session)[0]
        actions += release(core, account, occupancy, session, None)
    core.forget_if_idle(account)
    return actions


def _presence(
    core: Core,
    account_jid: JID,
    account: Account | None,
    session: JID,
    stanza: Stanza,
    to: JID,
    occupancy: Occupancy | None,
) -> list[Action]:
    table, config = core.table, core.config
    kind = stanza.type
    if kind is None:
        is_join = stanza.find(MUC_X) is not None
        if occupancy is not None and session in occupancy.attached:
            nick = to.resource
            state = occupancy.state
            if state is _S.JOINED and nick and nick != occupancy.view.nick:
                return request_nick_change(core, session, stanza, occupancy, nick)
            if not is_join:
                if state is not _S.JOINED:
                    if nick and nick != occupancy.view.nick:
                        # A nick change (§7.6) while the account is out of the room, joining
                        # it again: the room cannot take it now. Busy, ask again (RFC 6120
                        # §8.3.3.18); held, the session would never have had an answer.
                        return _refuse(stanza, session, to, "resource-constraint", "wait")
                    # Not in the room right now: the rejoin carries the new presence.
                    hold_presence(core, session, stanza, occupancy)
                    return [Discard(stanza=stanza, reason=DiscardReason.HELD)]
                return session_presence(core, session, stanza, occupancy)
        if is_join:
            return _join(core, account_jid, account, session, stanza, to, occupancy)
        if occupancy is None:
            return [Continue(stanza=stanza)]
        if held(occupancy, session):
            return _held_presence(core, session, stanza, to, occupancy)
        return [Discard(stanza=stanza, reason=DiscardReason.PRESENCE_UPDATE)]
    if occupancy is None or kind in _SUBSCRIPTION_TYPES:
        return [Continue(stanza=stanza)]
    if kind == "unavailable":
        if session not in occupancy.attached and session not in occupancy.pending:
            # Not in the room: a room does not answer a second unavailable (Prosody: silence).
            return [Discard(stanza=stanza, reason=DiscardReason.NOT_IN_ROOM)]
        return release(core, table.accounts[account_jid], occupancy, session, stanza)
    if kind == "error":
        return [Discard(stanza=stanza, reason=DiscardReason.ERROR_TO_ROOM)]
    if kind == "probe":
        if session in occupancy.attached and occupancy.state is _S.JOINED:
            track_id(occupancy, stanza.id, session, config)
            return [Send(stanza=stanza.with_from(account_jid))]
        return [Discard(stanza=stanza, reason=DiscardReason.NOT_IN_ROOM)]
    return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]


def _held_presence(
    core: Core, session: JID, stanza: Stanza, to: JID, occupancy: Occupancy
) -> list[Action]:
    """A session waiting for the resync's end (its join unanswered) sends its presence.

    A status change is kept: the update after its answer carries it (§7.7). A nick
    change (§7.6) cannot be made before the join is answered: busy, ask again (RFC 6120
    §8.3.3.18).
    """
    attachment = occupancy.pending[session]
    if to.resource and to.resource != attachment.nick:
        return _refuse(stanza, session, to, "resource-constraint", "wait")
    attachment.payload = payload_of(stanza)
    attachment.seq = core.next_seq()
    return [Discard(stanza=stanza, reason=DiscardReason.HELD)]


def _refuse(stanza: Stanza, session: JID, to: JID, condition: str, kind: str) -> list[Action]:
    error = error_stanza(stanza, from_=to, to=session, condition=condition, error_type=kind)
    return [Deliver(session=session, stanza=error)]


def _join(
    core: Core,
    account_jid: JID,
    account: Account | None,
    session: JID,
    stanza: Stanza,
    to: JID,
    occupancy: Occupancy | None,
) -> list[Action]:
    table, config = core.table, core.config
    nick = to.resource
    if nick is None:
        # §7.2.1: a join must name a nick.
        return _refuse(stanza, session, to, "jid-malformed", "modify")
    # The request is kept only while the session waits (a join is made from it): set then.
    attachment = Attachment(
        join_id=stanza.id, nick=nick, request=None, payload=payload_of(stanza), seq=core.next_seq()
    )
    room = to.bare if occupancy is None else occupancy.room
    memory = None if account is None else account.memory.get(room)
    if memory is not None:
        _recall(core, memory, session, attachment)
    if occupancy is None:
        if account is not None and len(account.rooms) >= config.max_rooms_per_account:
            return _refuse(stanza, session, to, "resource-constraint", "wait")
        account = table.account(account_jid)
        account.blocked.pop(room, None)  # the user asks again: a bookmark may rejoin
        if memory is not None:
            memory.positions.pop(session, None)
        occupancy = Occupancy(room, join_stanza(account_jid, stanza))
        table.enter(account, occupancy)
        session = account.link(session, room)
        attachment.request = core.share_payload(stanza)
        occupancy.pending = SoleSession(session, attachment)
        return send_join(core, account, occupancy, _E.SESSION_JOIN)
    assert account is not None, "an occupancy belongs to an account"
    members = len(occupancy.attached) + len(occupancy.pending)
    already = session in occupancy.attached or session in occupancy.pending
    if not already and members >= config.max_sessions_per_room:
        return _refuse(stanza, session, to, "resource-constraint", "wait")
    account.blocked.pop(room, None)
    if memory is not None:
        memory.positions.pop(session, None)
    if not occupancy.attached and not occupancy.pending:
        # Only an occupancy with nobody attached or waiting can be in its disconnect grace.
        core.timers.cancel(("grace", account_jid, room))
    occupancy.attached, was_in = drop_session(occupancy.attached, session)
    occupancy.pending = drop_session(occupancy.pending, session)[0]
    session = account.link(session, room)
    state = occupancy.state
    cached = occupancy.view.self_presence if state in IN_ROOM else None
    if cached is not None and (state is not _S.JOINED or occupancy.resync is not None):
        # The account rejoins: the room's history and subject are to come (§7.2.15).
        # Answered now, the session would get them after its subject, as live traffic.
        # It waits until the rejoin's join sequence ends (answer_held), as late join.
        transition(core, account, occupancy, _E.SESSION_JOIN, state)
        if was_in is not None:
            # Attached until now, it had what reached it: kept as the place of a device
            # gone, should it go before its answer (answer_held takes it back).
            remember_position(core, account, occupancy, session, was_in)
        attachment.request = core.share_payload(stanza)
        occupancy.pending = add_session(occupancy.pending, session, attachment)
        if state is _S.REJOIN_WAIT:
            # Not after the back-off: a session asking is reason enough to rejoin now.
            return rejoin_due(core, account_jid, room)
        return []
    if cached is not None:
        transition(core, account, occupancy, _E.SESSION_JOIN, state)
        actions = _answer(core, occupancy, cached, session, attachment, stanza)
        if occupancy.interleaved:
            # An earlier join's answer came since the table was made: whom it names may
            # be gone. The room names everyone again, and the device is told what changed.
            actions += rejoin_after_earlier_answer(core, account, occupancy)
        elif occupancy.restored:
            # Not heard from since the restart, and maybe long down: the room may have let
            # the account go. Ask it now, not at the room's autojoin turn (hours away on a
            # big server): the device would believe it is in, and get nothing.
            occupancy.restored = False
            if occupancy.view.subject is None:
                # The room's answer never came whole (its subject ends it, §7.2.15): what
                # the table gave the device is not all there is. A rejoin brings the rest.
                actions += rejoin_now(core, account, occupancy)
            else:
                actions += verify(core, account, occupancy)
        if (
            config.nick_policy == "follow"
            and nick != occupancy.view.nick
            and occupancy.state is _S.JOINED
        ):
            # The late join answered it: the change is for the room alone, no second full answer.
            # Rejoining (just asked above), the account has no nick to change: the session
            # keeps the account's, told by 210, as a join under another nick is.
            change = request_nick_change(core, session, stanza, occupancy, nick, answered=True)
            return actions + change
        return actions + aggregate_update(account_jid, occupancy)
    attachment.request = core.share_payload(stanza)
    occupancy.pending = add_session(occupancy.pending, session, attachment)
    if state is _S.REJOIN_WAIT:
        # A bookmarked room waiting to be tried again: a session asking is reason enough.
        return send_join(core, account, occupancy, _E.SESSION_JOIN)
    if state is _S.REJOIN_SENT:
        # Its join is in flight: the answer is now the session's too. The view holds the
        # occupants it named so far (§7.1): a retry of a room never joined starts afresh.
        transition(
            core,
            account,
            occupancy,
            _E.SESSION_JOIN,
            _S.JOINING,
            request_id=occupancy.request_id,
        )
    else:
        # Joining or leaving: the session waits for the room's answer to the account's join.
        transition(core, account, occupancy, _E.SESSION_JOIN, state)
        if state is not _S.JOINING:
            return []
    # What of the room's answer came already (its own presence, occupants, §7.1) it gets
    # now; the rest reaches it as it arrives.
    view = occupancy.view
    sofar = [] if view.room_presence is None else [view.room_presence]
    sofar.extend(view.occupants.values())
    return [Deliver(session=session, stanza=p.with_to(session)) for p in sofar]


def _recall(core: Core, memory: RoomMemory, session: JID, attachment: Attachment) -> None:
    """What the account's memory of the room tells of a joining device (§7.2.15's history).

    It gets every message after the room's newest; a device back within
    ``Config.device_memory`` seconds of leaving gets what it missed instead.
    """
    attachment.since = memory.last
    position = memory.positions.get(session)
    if position is not None and core.now - position[1] <= core.config.device_memory:
        attachment.position = position[0]


def _answer(
    core: Core,
    occupancy: Occupancy,
    cached: Stanza,
    session: JID,
    attachment: Attachment,
    join: Stanza,
) -> list[Action]:
    """A late join, or a join an attached session repeats (§7.2.1): answered from the table."""
    occupancy.attached = add_session(occupancy.attached, session, attachment)
    history = late_history(core, occupancy, attachment, join)
    if occupancy.view.history is not None:
        occupancy.view.history.forget_private()  # this device has them now
    return late_join(occupancy, cached, session, attachment, history)


def session_join(core: Core, session: JID, stanza: Stanza) -> list[Action]:
    """A session's presence to a room: the late join of a room the account is in, at once.

    The router's hot path for a session's join (§7.2.1): a new device, or one asking again
    (a repeated join), of a joined room with no rejoin, nick change, waiting session or check
    under way, by the account's nick or, with ``Config.nick_policy`` ``"account"``, another.
    It does what :func:`from_session`, :func:`_presence` and :func:`_join` do for that
    join, in one frame: their dispatch took a fifth of a join of a room of ten. The
    occupancy stays joined: the lifecycle's row for it (joined, session-join, joined)
    changes nothing, so no transition is made. Anything else, and every other presence,
    takes :func:`from_session`, the general path. ``tests/test_join_path.py`` holds the two
    paths to the same actions and state.
    """
    _, type_, from_, to, join_id, _, children = stanza
    account_jid = session.bare
    account = core.table.accounts.get(account_jid)
    if (
        account is None
        or type_ is not None
        or type(to) is not JID
        or (from_ is not None and from_ not in (session, account_jid))
    ):
        return from_session(core, session, stanza)
    occupancy = account.rooms.get((to[0], to[1], None))  # type: ignore[call-overload]
    nick = to[2]
    if (
        occupancy is None
        or nick is None
        or occupancy.state is not _S.JOINED
        or occupancy.resync is not None
        or occupancy.pending
        or None in occupancy.earlier
        or occupancy.restored
    ):
        return from_session(core, session, stanza)
    view = occupancy.view
    attached = occupancy.attached
    config = core.config
    renamed = nick != view.nick
    if session in attached:
        if renamed:
            return from_session(core, session, stanza)  # a nick change (§7.6)
    elif not attached or len(attached) >= config.max_sessions_per_room:
        return from_session(core, session, stanza)  # in its disconnect grace, or full
    if renamed and config.nick_policy == "follow":
        return from_session(core, session, stanza)
    # payload_of(stanza) and stanza.find(MUC_X), in one pass.
    is_join = False
    kept = []
    for child in children:
        tag = child.tag
        if tag in NOT_FOR_THE_ROOM:
            is_join = is_join or tag == MUC_X
            continue
        kept.append(child)
    cached = view.self_presence
    if not is_join or cached is None:
        return from_session(core, session, stanza)  # a presence update
    room = occupancy.room
    seq = core.sequence = core.sequence + 1
    attachment = Attachment(join_id=join_id, nick=nick, request=None, payload=tuple(kept), seq=seq)
    memories = account.memory
    if memories:
        memory = memories.get(room)
        if memory is not None:
            _recall(core, memory, session, attachment)
            memory.positions.pop(session, None)
    blocked = account.blocked
    if blocked:
        blocked.pop(room, None)
    occupancy.attached = drop_session(attached, session)[0]
    session = account.link(session, room)
    actions = _answer(core, occupancy, cached, session, attachment, stanza)
    return actions + aggregate_update(account_jid, occupancy)


def _message(
    config: Config,
    account: Account | None,
    session: JID,
    stanza: Stanza,
    to: JID,
    occupancy: Occupancy | None,
) -> list[Action]:
    kind = stanza.type
    if occupancy is None:
        # Not a room the account is in (perhaps not a MUC room at all: a MIX channel).
        return [Continue(stanza=stanza)]
    if kind == "error":
        assert account is not None, "an occupancy belongs to an account"
        _note_bounce(config, account, occupancy, session, stanza, to)
        return [Discard(stanza=stanza, reason=DiscardReason.ERROR_TO_ROOM)]
    # Waiting while the account leaves, a session is not in the room: what it says would
    # reach the room after the leave, and the room's error nobody that is in it.
    member = session in occupancy.attached or (
        session in occupancy.pending and occupancy.state is not _S.LEAVING
    )
    if not member:
        if kind in ("groupchat", "chat"):
            error_from = to.bare if kind == "groupchat" else to
            return [Deliver(session=session, stanza=not_connected(stanza, session, error_from))]
        return [Continue(stanza=stanza)]
    track_id(occupancy, stanza.id, session, config)
    if kind == "groupchat" or to.resource is None:
        return [Send(stanza=stanza.with_from(session.bare))]
    stanza = _mark_private(stanza)
    if stanza.find(_PRIVATE) is not None or stanza.find(NO_COPY) is not None:
        # XEP-0280 §7, XEP-0334: the sender asked that no other device get a copy.
        return [Send(stanza=stanza.with_from(session.bare))]
    # The other sessions in the room learn of the sent PM as XEP-0280 carbons tell them.
    copy = _sent_carbon(stanza, session)
    carbons: list[Action] = [
        Deliver(session=other, stanza=copy.with_to(other))
        for other in occupancy.attached
        if other != session
    ]
    return [Send(stanza=stanza.with_from(session.bare)), *carbons]


def _note_bounce(
    config: Config, account: Account, occupancy: Occupancy, session: JID, stanza: Stanza, to: JID
) -> None:
    """A message forked to the session came back undelivered: the device missed it.

    The host hands over the bounce of a stream that was given up (XEP-0198 §5). The
    device missed that message alone: the others forked to it, before or after, reached
    it (or bounce in turn). A session waiting for the room's answer to its leave, or back
    and waiting, got the room's messages too: its place does not count the one it missed.
    """
    history = occupancy.view.history
    if history is None or stanza.id is None:
        return
    attachment = occupancy.attached.get(session)
    if attachment is None:
        attachment = occupancy.pending.get(session)
    number = history.number_of(to, stanza.id)
    if number is None:
        return
    if attachment is not None:
        attachment.bounced = missed(attachment.bounced, number, history.numbers())
    elif session in occupancy.leaving:
        memory = account.memory.get(occupancy.room)
        positions = {} if memory is None else memory.positions
        place = positions.get(session)
        if place is not None:
            bound = config.max_history_messages
            positions[session] = (without(place[0], (number,), bound), place[1])


def _sent_carbon(sent: Stanza, session: JID) -> Stanza:
    """XEP-0280 §6: a ``<sent/>`` copy from the bare JID wrapping the original."""
    original = sent.with_from(session).as_element()
    forwarded = Element(f"{{{FORWARD}}}forwarded", children=(original,))
    wrapper = Element(f"{{{CARBONS}}}sent", children=(forwarded,))
    return Stanza("message", type=sent.type, from_=session.bare, children=(wrapper,))


def _mark_private(stanza: Stanza) -> Stanza:
    """A PM to an occupant carries an empty muc#user ``<x/>`` (§7.5)."""
    if stanza.find(USER_X) is not None:
        return stanza
    return stanza.replace(children=(*stanza.children, Element(USER_X)))
