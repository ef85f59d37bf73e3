"""Membership operations shared by both directions: join, attach, detach, leave."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from ._actions import Action, Deliver, Discard, DiscardReason, Send, Unattended
from ._config import Config
from ._core import Core
from ._history import history_request
from ._jid import JID
from ._lifecycle import IN_ROOM, E, OccupancyEvent, S, transition
from ._muc import STATUS_TEXT
from ._place import Place, highest, with_message, without
from ._presence import aggregate_update, request_nick_change
from ._sessions import NO_ENTRIES, Attachment, Sessions, SoleSession, add_session, drop_session
from ._stanza import Element, Stanza
from ._synth import farewell, late_join, unavailable_self, without_caps
from ._table import Account, Occupancy, RoomMemory, RoomView

__all__ = [
    "answer_held",
    "count_message",
    "detach",
    "held",
    "join_stanza",
    "keep_place",
    "late_history",
    "leave_answered",
    "leave_room",
    "place_device",
    "release",
    "remember_position",
    "send_join",
    "track_id",
    "unannounced",
]

_S = S
_E = E


def join_stanza(account: JID, request: Stanza) -> Stanza:
    """The account's join: the session's presence sent from the bare JID, caps removed.

    The session's ``to`` (room and nick), ``id`` and muc ``<x/>`` (password, history
    request) are kept; the ``to`` is the session's very value, which the JID cache
    shares across accounts, not a copy per occupancy.
    """
    return without_caps(request.with_from(account))


def send_join(
    core: Core, account: Account, occupancy: Occupancy, event: OccupancyEvent
) -> list[Action]:
    """Enter ``JOINING``: a fresh view, and the account's join sent.

    The join is the first waiting session's (or the autojoin already in
    the occupancy kept), with an id the room's answer is matched by.
    """
    first = next(iter(occupancy.pending.items()), None)
    if first is not None:
        session, attachment = first
        request = attachment.request
        assert request is not None, "a waiting session's request is kept until it is attached"
        occupancy.keep_join(join_stanza(account.jid, request))
        occupancy.joiner = session
        occupancy.sent_payload = attachment.payload
    occupancy.join_template = core.share_stanza(occupancy.join_template)
    join = occupancy.join_from(account.jid)
    occupancy.view = RoomView()
    if occupancy.state is _S.REJOIN_WAIT:
        occupancy.sent_again()  # never in: its last try, kept, may be answered yet
    else:
        occupancy.earlier = ()  # new, or after a leave (whose id the caller adds)
    occupancy.sent_ids = None
    occupancy.attempts = 0
    transition(core, account, occupancy, event, _S.JOINING, request_id=join.id)
    return [Send(stanza=join)]


def held(occupancy: Occupancy, session: JID) -> bool:
    """Whether ``session`` joined while the account rejoins (it waits for the rejoin).

    In the room or rejoining it, the account's occupancy has waiting sessions only then:
    each is answered when the rejoin's join sequence ends, or from the table when the
    rejoin fails and the others stay (:func:`answer_held`).
    """
    return occupancy.state in IN_ROOM and session in occupancy.pending


def late_history(
    core: Core, occupancy: Occupancy, attachment: Attachment, join: Stanza
) -> list[Stanza]:
    """What a late joiner gets: what it asked for, or what this device missed, or the default."""
    history = occupancy.view.history
    if history is None:
        return []
    request = history_request(join)
    if request is None and attachment.position is not None:
        return history.after(attachment.position, occupancy.room)
    return history.select(request, core.now, core.config.default_history_messages, occupancy.room)


def answer_held(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """Answer the sessions that joined while the account rejoined (:func:`held`).

    The rejoin's join sequence is over: its subject, ``Config.resync_timeout``; or the
    rejoin failed and the others stay attached (refused for now, unanswered, the room
    lost or removed the account again). Each waiting session is answered from the table,
    as a late join, in XEP-0045 §7.2.15 order, and attached. After a rejoin, their
    history holds what it brought; what the room sends from now on reaches them live,
    after their subject. Still out of the room, their presence goes with the next rejoin.
    """
    state = occupancy.state
    if state not in IN_ROOM or not occupancy.pending:
        return []
    waiting, occupancy.pending = occupancy.pending, NO_ENTRIES
    occupancy.withheld = ()  # their answers bring them
    view = occupancy.view
    cached = view.self_presence
    assert cached is not None, "rejoining: the room's self-presence is known"
    memory = account.memory.get(occupancy.room)
    actions: list[Action] = []
    changes: list[Action] = []
    for session, attachment in waiting.items():
        request = attachment.request
        assert request is not None, "a waiting session's request is kept until it is attached"
        attachment.request = None
        came = attachment.since  # the newest message when it joined
        if memory is not None:
            attachment.since = memory.last  # its history reaches this far
            memory.positions.pop(session, None)  # attached: its place is made when it goes
        occupancy.attached = add_session(occupancy.attached, session, attachment)
        history = late_history(core, occupancy, attachment, request)
        if view.history is not None:
            # What came after it joined is not history to it, whatever history it asked
            # for: live, it would have reached it.
            asked = {id(m) for m in history}
            since = view.history.after(came, occupancy.room)
            history = [m for m in since if id(m) not in asked] + history
            view.history.forget_private()  # this device has them now
        actions += late_join(occupancy, cached, session, attachment, history)
        if (
            state is _S.JOINED
            and core.config.nick_policy == "follow"
            and attachment.nick != view.nick
        ):
            changes += request_nick_change(
                core, session, request, occupancy, attachment.nick, answered=True
            )
    if state is not _S.JOINED:
        return actions  # out of the room: the next rejoin carries their presence
    return actions + (changes or aggregate_update(account.jid, occupancy))


def detach(account: Account, occupancy: Occupancy, session: JID) -> Attachment | None:
    """Take ``session`` out of the attached or pending sessions of ``occupancy``.

    A session that also waits for the answer to its own leave stays linked to the room;
    a nick change it asked for has nobody to answer any more.
    """
    occupancy.attached, attachment = drop_session(occupancy.attached, session)
    if attachment is None:
        occupancy.pending, attachment = drop_session(occupancy.pending, session)
    if attachment is not None and session not in occupancy.leaving:
        account.unlink(session, occupancy.room)
    change = occupancy.nick_change
    if change is not None and change.session == session:
        change.session = None
    return attachment


def leave_room(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    leave: Stanza | None,
    leaving: Sessions,
    event: OccupancyEvent = _E.LEAVE,
) -> list[Action]:
    """Nobody needs the account in the room: it leaves (§7.14).

    ``leave`` is the session's own unavailable presence when it left explicitly (its
    ``<status/>`` and ``id`` go to the room); ``leaving`` the sessions that get the room's
    answer. Waiting to rejoin, the room has forgotten the account already: nothing is
    sent, and the leaving sessions are answered at once. Not a room restored after a
    restart, waiting for its rejoin's turn: it still counts the account.
    """
    if occupancy.state is _S.REJOIN_WAIT and not occupancy.restored:
        said = leave if leave is not None else Stanza("presence", type="unavailable")
        told: list[Action] = [
            Deliver(session=s, stanza=unavailable_self(occupancy, s, said)) for s in leaving
        ]
        for session in leaving:
            account.unlink(session, occupancy.room)
        transition(core, account, occupancy, _E.LEAVE, _S.ABSENT)
        return told
    occupancy.leaving = leaving
    for session in leaving:
        account.link(session, occupancy.room)
    children = tuple(leave.findall(STATUS_TEXT)) if leave is not None else ()
    # The router's own leave gets an id of its own; a session's keeps the session's.
    leave_id = leave.id if leave is not None else core.next_id()
    unavailable = _leave(account, occupancy, leave_id, children)
    occupancy.attempts = 0
    transition(core, account, occupancy, event, _S.LEAVING, request_id=leave_id)
    return [Send(stanza=unavailable)]


def _leave(
    account: Account, occupancy: Occupancy, leave_id: str | None, children: tuple[Element, ...]
) -> Stanza:
    """The account's unavailable presence to the room (XEP-0045 §7.14)."""
    return Stanza(
        "presence",
        type="unavailable",
        from_=account.jid,
        to=occupancy.room.with_resource(occupancy.current_nick),
        id=leave_id,
        children=children,
    )


def leave_answered(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    answer: Stanza | None,
    event: OccupancyEvent,
) -> list[Action]:
    """The leave is over: the room answered (``answer``) or ``leave_timeout`` passed.

    The leaving sessions get the room's answer, or the unavailable self-presence the room
    would have sent. Sessions that joined meanwhile, or an autojoin bookmark set
    meanwhile, make the account join again at once. Otherwise, the first time no answer
    comes, the leave is said once more and the account waits ``leave_timeout`` again.
    """
    leaving, occupancy.leaving = occupancy.leaving, NO_ENTRIES
    # An error to the leave itself (the room is gone) says no more than "out".
    refused = (
        answer is not None
        and answer.type == "error"
        and answer.id is not None
        and answer.id == occupancy.request_id
    )
    actions: list[Action] = []
    for s, a in leaving.items():
        asked = a.left
        if answer is None or refused or (answer.type == "error" and not asked):
            # Out all the same: the unavailable self-presence the room would have sent.
            leave = Stanza("presence", type="unavailable", id=a.leave_id)
            told = unavailable_self(occupancy, s, leave)
        elif asked:
            told = answer.with_to(s)  # the room's answer to the session's own leave (or join)
        else:
            told = answer.replace(to=s, id=None)  # the router's id means nothing to it
        actions.append(Deliver(session=s, stanza=told))
    if answer is not None and not actions:
        actions = [Discard(stanza=answer, reason=DiscardReason.NO_SESSION)]
    for session in leaving:
        if session not in occupancy.pending:
            account.unlink(session, occupancy.room)
    if occupancy.pending or account.wanted(occupancy.room):
        if not occupancy.pending:  # the bookmark's join again, under a fresh id
            occupancy.join_id = core.next_id()
        # Its answer ends what the room sent the occupancy before (_old_occupancy_over).
        # Unanswered, the leave may not have reached the room yet, nor a join it followed:
        # their answers may come yet, before the new join's.
        unsettled = () if answer is not None else (*occupancy.earlier, occupancy.request_id)
        actions += send_join(core, account, occupancy, event)
        occupancy.earlier = unsettled
        occupancy.sent_again()  # an id the new join reuses is its own
        return actions
    if answer is None and not occupancy.attempts:
        # Nothing came back: the leave or its answer was lost, or the leave overtook the
        # account's join still on its way. Said once more, so that no ghost of the account
        # stays in the room (a room without it says nothing: Prosody), and waited for like
        # the first: a session that joins meanwhile joins after the room's answer, which
        # ends what the room sent to the occupancy before it.
        occupancy.attempts = 1
        occupancy.unanswered(occupancy.request_id)  # the first leave's answer may come yet
        again = _leave(account, occupancy, core.next_id(), ())
        occupancy.request_id = again.id
        core.schedule(("state", account.jid, occupancy.room), core.config.leave_timeout)
        return [*actions, Send(stanza=again)]
    transition(core, account, occupancy, event, _S.ABSENT)
    return actions


def unannounced(account: Account, occupancy: Occupancy) -> list[Action]:
    """The messages withheld for sessions that waited and went unanswered: nobody got them."""
    withheld, occupancy.withheld = occupancy.withheld, ()
    history = occupancy.view.history
    if not withheld or history is None:
        return []
    kept = history.numbered(n for n, _ in withheld)
    return [
        Unattended(
            account=account.jid,
            room=occupancy.room,
            stanza=kept[n].with_to(account.jid),
            mentions=mentions,
        )
        for n, mentions in withheld
        if n in kept
    ]


def release(
    core: Core, account: Account, occupancy: Occupancy, session: JID, leave: Stanza | None
) -> list[Action]:
    """``session`` leaves ``occupancy``; ``leave`` is its unavailable, or ``None`` on close.

    A session that leaves while others stay gets its own unavailable self-presence and
    nothing goes to the room; the last one makes the account leave (a disconnect waits
    ``Config.disconnect_grace`` first; an autojoin bookmark keeps the account in).
    """
    waited = held(occupancy, session)
    attachment = detach(account, occupancy, session)
    if attachment is None:
        return []
    if leave is not None:
        attachment.left = True
        attachment.leave_id = leave.id
    unattended: list[Action] = []
    if waited:
        # Gone before the rejoin answered it: it got nothing since it came back.
        keep_place(core, account, occupancy.room, session, attachment)
        if occupancy.state is _S.JOINED:
            # The rejoin's self-presence came before its join: what is left of the room's
            # sequence is not its answer (which the table would have made).
            attachment.request = None
        if not occupancy.pending:
            unattended = unannounced(account, occupancy)
    else:
        remember_position(core, account, occupancy, session, attachment)
    state = occupancy.state
    stays = occupancy.attached or occupancy.pending or account.wanted(occupancy.room)
    if state is _S.LEAVING or stays:
        # The others stay; the account's presence may change without this session's.
        update = aggregate_update(account.jid, occupancy) if state is _S.JOINED else []
        if leave is None:
            return unattended + update
        told = [Deliver(session=session, stanza=s) for s in farewell(occupancy, session, leave)]
        return [*unattended, *told, *update]
    grace = core.config.disconnect_grace
    if leave is None and grace > 0 and state is _S.JOINED:
        # Disconnected, not left: a phone that comes back soon finds the account there.
        core.schedule(("grace", account.jid, occupancy.room), grace)
        return unattended
    leaving = SoleSession(session, attachment) if leave is not None else NO_ENTRIES
    return unattended + leave_room(core, account, occupancy, leave, leaving)


def remember_position(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    session: JID,
    attachment: Attachment,
    *,
    restart: bool = False,
) -> None:
    """What a leaving device had seen, so that coming back it gets just what it missed.

    An attached session is remembered while the account is in the room: waiting to
    rejoin too, it got each message the account numbered (once the account numbered
    any, or at a ``restart``). One that came back and goes before the room answered
    keeps the place it came with (:func:`keep_place`).
    """
    state = occupancy.state
    had_all = state is _S.JOINED or (
        state in IN_ROOM and (restart or occupancy.room in account.memory)
    )
    if not had_all:
        keep_place(core, account, occupancy.room, session, attachment)
        return
    memory = account.remember(occupancy.room, core.config.max_rooms_per_account)
    bounced = attachment.bounced
    bound = core.config.max_history_messages
    place = memory.last if bounced is None else without(memory.last, bounced, bound)
    place_device(core, memory, session, place)


def keep_place(
    core: Core, account: Account, room: JID, session: JID, attachment: Attachment
) -> None:
    """A device that came back and goes before the room answered keeps the place it had.

    Not in a memory of the room pushed out meanwhile: the place counted in its numbers.
    Without the messages that came back undelivered: the device missed them.
    """
    position = attachment.position
    memory = account.memory.get(room)
    if position is None or memory is None or highest(position) > memory.last:
        return
    bounced = attachment.bounced
    if bounced is not None:
        position = without(position, bounced, core.config.max_history_messages)
    account.remember(room, core.config.max_rooms_per_account)
    place_device(core, memory, session, position)


def place_device(core: Core, memory: RoomMemory, session: JID, place: Place) -> None:
    """Keep ``place``, what ``session`` had (:mod:`~minimix_core._place`), from now on."""
    positions = memory.positions
    positions.pop(session, None)
    positions[session] = (place, core.now)
    if len(positions) > core.config.max_sessions_per_room:
        del positions[next(iter(positions))]


def count_message(
    core: Core, account: Account, occupancy: Occupancy, sessions: Iterable[JID], number: int
) -> None:
    """The message numbered ``number`` reached ``sessions``: the places they carry count it.

    That of a device waiting to get back in, so that a restart or its going before the
    room answers keeps a place that counts what it got while it waited; that of a device
    that left (or, back already, the one it carries), so that back it does not get again
    what reached it while the room had yet to answer its leave. After a gap in its place
    too (:func:`~minimix_core._place.with_message`). An attached device's place is made
    when it goes: it has every message from its join on.
    """
    state = occupancy.state
    if state is not _S.JOINING and state is not _S.LEAVING:
        return
    bound = core.config.max_history_messages
    memory = account.memory.get(occupancy.room) if state is _S.LEAVING else None
    positions = NO_ENTRIES if memory is None else memory.positions
    pending = occupancy.pending
    for session in sessions:
        place = positions.get(session)
        if place is not None:
            assert memory is not None, "a place is kept in a memory"
            memory.positions[session] = (with_message(place[0], number, bound), place[1])
            continue
        attachment = pending.get(session)
        if attachment is not None and attachment.position is not None:
            attachment.position = with_message(attachment.position, number, bound)


def track_id(occupancy: Occupancy, stanza_id: str | None, session: JID, config: Config) -> None:
    """Remember who sent ``stanza_id`` so the room's error for it goes back to that session."""
    if stanza_id is None:
        return
    sent = occupancy.sent_ids
    if sent is None:
        sent = occupancy.sent_ids = OrderedDict()
    else:
        sent.pop(stanza_id, None)
    sent[stanza_id] = session
    if len(sent) > config.max_tracked_ids:
        sent.popitem(last=False)
