"""Presence from rooms to the account: its own, and the other occupants'.

The account's own covers the answers to its joins and leaves, removals, nick changes and
the errors matched to their request.
"""

from __future__ import annotations

from typing import Final

from ._actions import Action, Continue, Deliver, Discard, DiscardReason
from ._core import Core
from ._fork import error_to_sender, fork, note_flags, stale
from ._jid import JID
from ._keepalive import (
    TRANSIENT_CONDITIONS,
    give_up,
    rejoin_after_earlier_answer,
    rejoin_failed,
    rejoin_now,
    start_keepalive,
)
from ._lifecycle import IN_ROOM, E, OccupancyState, S, transition
from ._membership import answer_held, leave_answered, leave_room, unannounced
from ._muc import ITEM, ROOM_FLAG_CODES, USER_X, error_condition, error_type, status_codes
from ._presence import aggregate_update
from ._sequence import after_nick_change
from ._sessions import NO_ENTRIES, writable
from ._stanza import Element, Stanza, payload_size, same_payload
from ._synth import departed_item, fork_self_presence, late_join, removal_for_session
from ._table import Account, Occupancy, flag_set

__all__ = ["known", "presence"]

# Removals that are not the account's fault (§11.1, §11.2): rejoin instead of giving up.
_TRANSIENT_REMOVALS: Final = frozenset({332, 333})
# Removals that are (§8.2, §9.1, §9.4, §10.2): no rejoin until the user asks again.
_REMOVALS: Final = frozenset({301, 307, 321, 322, 332, 333})
_DESTROY: Final = "{http://jabber.org/protocol/muc#user}destroy"
_S = S
_E = E
_AWAITING: Final = frozenset({S.JOINING, S.REJOIN_SENT})


def presence(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    kind = stanza.type
    if kind == "error":
        return _presence_error(core, account, occupancy, stanza)
    if kind not in (None, "unavailable"):
        # Subscription requests and probes are for the account: normal routing.
        return [Continue(stanza=stanza)]
    nick = sender.resource
    if nick is None:
        return _room_presence(occupancy, stanza)
    codes = status_codes(stanza)
    if not _is_self(occupancy, stanza, nick, codes):
        return _occupant(core, occupancy, nick, stanza)
    if kind is None:
        return _self_available(core, account, occupancy, stanza, nick, codes)
    return _self_unavailable(core, account, occupancy, stanza, codes)


def _is_self(occupancy: Occupancy, stanza: Stanza, nick: str, codes: frozenset[int]) -> bool:
    """Is this presence about the account? 110 says so (§7.2.2); else the occupant JID.

    While a join is in flight the nick the account asked for may belong to someone else
    (the room can assign another, §7.2.9): only 110 or the join's own id count then.
    """
    if 110 in codes:
        return True
    if occupancy.state is _S.JOINING or occupancy.state is _S.REJOIN_SENT:
        # Rooms keep an occupant's presence id: the join's id counts from the nick asked for.
        return (
            stanza.id is not None
            and stanza.id == occupancy.request_id
            and nick == occupancy.current_nick
        )
    return nick == occupancy.current_nick


def _room_presence(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """The room's own presence (ejabberd sends one, with its caps, before the occupants).

    Late joiners get it first, as a direct joiner would.
    """
    view = occupancy.view
    previous = view.room_presence
    available = stanza.type is None
    view.room_presence = stanza if available else None
    if (
        available
        and occupancy.resync is not None
        and previous is not None
        and same_payload(previous.children, stanza.children)
    ):
        return known(occupancy, stanza)  # a rejoin
    return fork(occupancy, stanza)


def known(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """What a rejoin's join sequence re-sends that the sessions know: not shown again.

    While the account leaves, a session that joined while the rejoin was in flight and
    left before its answer still waits for that answer (its request kept): it is its join's.
    """
    if occupancy.state is _S.LEAVING:
        waiting = [s for s, a in occupancy.leaving.items() if a.request is not None]
        if waiting:
            return [Deliver(session=s, stanza=stanza.with_to(s)) for s in waiting]
    return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]


def _occupant(core: Core, occupancy: Occupancy, nick: str, stanza: Stanza) -> list[Action]:
    """Another occupant's presence: remembered for late joiners, forwarded."""
    occupants = occupancy.view.occupants
    bound = core.config.max_occupants_per_room
    resync = occupancy.resync
    if resync is not None and stanza.type is None and len(resync) < bound:
        resync[nick] = None
        cached = occupants.get(nick)
        if cached is not None and same_payload(cached.children, stanza.children):
            return known(occupancy, stanza)
    view = occupancy.view
    old = occupants.get(nick)
    if stanza.type == "unavailable":
        if old is not None:
            del occupants[nick]
            view.occupant_bytes -= payload_size(old.children)
    else:
        grows = payload_size(stanza.children) - (0 if old is None else payload_size(old.children))
        fits = view.occupant_bytes + grows <= core.config.max_occupant_bytes
        if fits and (old is not None or len(occupants) < bound):
            view.occupants = occupants = writable(occupants)
            # Every account in the room is told the same: one value for all of them.
            occupants[nick] = core.share_stanza(stanza._replace(to=None))
            view.occupant_bytes += grows
        else:
            view.partial = True  # forwarded live, not cached: the list is no longer whole
    return fork(occupancy, stanza)


def _self_available(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    nick: str,
    codes: frozenset[int],
) -> list[Action]:
    state = occupancy.state
    if state is _S.LEAVING:
        # The room's answer to a join before the leave: the sessions leaving see it, as the
        # room's answer to their leave follows, each under its own join's id (a rejoin's is
        # the router's own). With none left to tell, it is a late answer.
        # Leaving during a rejoin, the sessions that were in know it (the resync goes on).
        leaving = occupancy.leaving
        if not leaving:
            return stale(stanza)
        cached = occupancy.view.self_presence
        unchanged = cached is not None and same_payload(cached.children, stanza.children)
        if occupancy.resync is not None and unchanged:
            leaving = {s: a for s, a in leaving.items() if a.request is not None}
            if not leaving:
                return [Discard(stanza=stanza, reason=DiscardReason.RESYNC)]
        return [
            Deliver(session=s, stanza=fork_self_presence(stanza, occupancy, s, a))
            for s, a in leaving.items()
        ]
    if state is _S.REJOIN_WAIT:
        if (
            201 in codes
            and occupancy.restored
            and stanza.id in occupancy.earlier
            and not occupancy.pending
            and not occupancy.attached
        ):
            # The answer to an autojoin on its way at the restart, which created the room:
            # locked until someone configures it (§10.1.1), and nobody will. As without
            # the restart: leave, and do not make it again until the bookmark changes.
            account.block(occupancy.room)
            discard: list[Action] = [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
            return discard + leave_room(core, account, occupancy, None, NO_ENTRIES)
        return stale(stanza)  # a duplicated or late self-presence: the rejoin is due anyway
    if (
        stanza.id is not None
        and stanza.id in occupancy.earlier
        and stanza.id != occupancy.request_id
    ):
        if state is not _S.JOINED:
            return _earlier_answer(occupancy, stanza)
        if 201 not in codes:
            # The room took an earlier join anew, its occupants named before this: who
            # was shown may be gone. (Made anew, 201, it has nobody: told below.) With
            # nobody to show them to, the leave queued after a restart is all there is.
            if not occupancy.attached and not account.wanted(occupancy.room):
                occupancy.mark_interleaved()  # a device back is not answered from the table
                return stale(stanza)
            return stale(stanza) + rejoin_after_earlier_answer(core, account, occupancy)
    view = occupancy.view
    view.nick = nick
    # What the account knew before is compared only after a rejoin: read back only then.
    previous = view.self_presence if state is _S.REJOIN_SENT else None
    view.self_presence = stanza._replace(to=None)
    if state is _S.JOINED:
        note_flags(occupancy, stanza)
        # 201: the room was made just now for a join of the account's (one that overtook a
        # join answered by an incarnation since gone, as after a restart): nobody known
        # before is in it (§10.1.1), and the sessions must not keep them as ghosts.
        gone = _everyone_gone(occupancy, account.jid) if 201 in codes else []
        return gone + fork(occupancy, stanza) + _nick_changed(core, account, occupancy, nick)
    if stanza.id is not None and stanza.id == occupancy.request_id:
        # In by its own answer: the earlier ones' came before it. An earlier answer that
        # came meanwhile makes the account ask again once this sequence ends (its subject,
        # or the resync's deadline): asked now, the rest of it would be taken as known.
        occupancy.earlier = (None,) if occupancy.interleaved else ()
    return _admitted(core, account, occupancy, stanza, codes, state, previous)


def _earlier_answer(occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """While a join is on its way, the answer to one before it (``Occupancy.earlier``).

    Its sequence is of the room as it was then, made anew or not: whom it named may be
    gone since without a word (a restart of the room's own). It counts for nothing, and
    once in the account asks the room again (``Occupancy.interleaved``).
    """
    occupancy.mark_interleaved()
    if occupancy.resync is not None:
        occupancy.resync = {}
    return stale(stanza)


def _admitted(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    codes: frozenset[int],
    state: OccupancyState,
    previous: Stanza | None,
) -> list[Action]:
    """The account's join (or rejoin) answered: it is in the room (``JOINED``)."""
    view = occupancy.view
    transition(core, account, occupancy, _E.SELF_PRESENCE)
    start_keepalive(core, account, occupancy)
    # What the room is now (§7.2.2, logged, non-anonymous): its configuration may have
    # changed while the account was out.
    view.flags = flag_set(codes & ROOM_FLAG_CODES)
    if state is _S.REJOIN_SENT:
        if previous is None:  # never in before (a bookmark's join retried): in from now
            view.joined_at = core.now
        return _rejoined(core, account, occupancy, stanza, previous)
    # The account's join succeeded: 110 says the occupant list is complete (§7.2.2).
    view.joined_at = core.now
    occupancy.attempts = 0  # in: a rejoin's tries (one a session joined) count afresh
    view.created = 201 in codes
    if occupancy.interleaved:
        # The account asks again at this sequence's end (asked_again): its subject
        # (§7.2.15), or the resync's deadline for a room that never sends one.
        core.schedule(("resync", account.jid, occupancy.room), core.config.resync_timeout)
    pending, occupancy.pending = occupancy.pending, NO_ENTRIES
    for attachment in pending.values():
        attachment.request = None  # attached: no join is made from it any more
    # The waiting sessions' dict becomes the attached one (nobody is attached before the
    # account's join succeeds): one dict per occupancy, not two.
    attached = occupancy.attached
    occupancy.attached = {**attached, **pending} if attached else pending
    account.blocked.pop(occupancy.room, None)
    if not pending:  # an autojoin: the account is in, with nobody to tell yet
        discard: list[Action] = [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]
        if not account.wanted(occupancy.room):
            # A join from before a restart, that no session or bookmark wants any more.
            return discard + leave_room(core, account, occupancy, None, NO_ENTRIES)
        if view.created:
            # The bookmarked room did not exist: the autojoin created it, locked until
            # someone configures it (§10.1.1). Nobody will: leave, so the room goes away,
            # and do not make it again until the bookmark changes or a device joins.
            account.block(occupancy.room)
            return discard + leave_room(core, account, occupancy, None, NO_ENTRIES)
        return discard
    actions: list[Action] = []
    for s, attachment in pending.items():
        actions.append(
            Deliver(session=s, stanza=fork_self_presence(stanza, occupancy, s, attachment))
        )
        if occupancy.interleaved and view.history is not None:
            # An earlier join's sequence brought history before this session came: the
            # room's copies in this sequence are known now, so it gets them from the table.
            missed = sorted(n for n in view.history.numbers() if n <= attachment.since)
            actions += [
                Deliver(session=s, stanza=m.with_to(s))
                for m in view.history.numbered(missed).values()
            ]
    return actions


def _nick_changed(core: Core, account: Account, occupancy: Occupancy, nick: str) -> list[Action]:
    """The room confirmed a nick change; a join-style request also gets a resync."""
    change = occupancy.nick_change
    if change is None or change.nick != nick:
        return []
    occupancy.nick_change = None
    core.timers.cancel(("nick", account.jid, occupancy.room))
    session = change.session
    attachment = None if session is None else occupancy.attached.get(session)
    view = occupancy.view
    if not change.resync or session is None or attachment is None or view.self_presence is None:
        return after_nick_change(core, account, occupancy)
    attachment.join_id = change.request_id
    attachment.nick = nick
    history = (
        []
        if view.history is None
        else view.history.select(
            None, core.now, core.config.default_history_messages, occupancy.room
        )
    )
    answer = late_join(occupancy, view.self_presence, session, attachment, history)
    return answer + after_nick_change(core, account, occupancy)


def _rejoined(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, previous: Stanza | None
) -> list[Action]:
    """Back in after a rejoin: only what changed while the account was out is shown.

    The self-presence comes after every other occupant's (§7.1): whoever the room did not
    announce again left while the account was away, and the sessions must not keep them
    as ghosts. Until the room's subject ends its join sequence (or
    ``Config.resync_timeout``), what it re-sends and the sessions know is discarded.
    """
    occupancy.attempts = 0
    core.schedule(("resync", account.jid, occupancy.room), core.config.resync_timeout)
    actions: list[Action] = []
    seen = occupancy.resync
    occupants = occupancy.view.occupants
    if 201 in status_codes(stanza):
        # Made anew for this join (§10.1.1): nobody else is in it, whoever came before.
        actions += _everyone_gone(occupancy, account.jid)
    elif seen is not None and len(seen) < core.config.max_occupants_per_room:
        actions += _gone(occupancy, account.jid, [n for n in occupants if n not in seen])
    # A session's presence held while the rejoin was in flight (or a session gone since)
    # changed the aggregate the join carried: the room gets it now.
    update = aggregate_update(account.jid, occupancy)
    if previous is not None and same_payload(previous.children, stanza.children):
        return [*actions, Discard(stanza=stanza, reason=DiscardReason.RESYNC), *update]
    # The sessions never sent the router's own rejoin: its id means nothing to them.
    return actions + fork(occupancy, stanza._replace(id=None)) + update


def _everyone_gone(occupancy: Occupancy, account: JID) -> list[Action]:
    return _gone(occupancy, account, list(occupancy.view.occupants))


def _gone(occupancy: Occupancy, account: JID, nicks: list[str]) -> list[Action]:
    """The occupants ``nicks`` are no longer in the room: forgotten, each session told."""
    actions: list[Action] = []
    occupants = occupancy.view.occupants
    for nick in nicks:
        cached = occupants.pop(nick)
        occupancy.view.occupant_bytes -= payload_size(cached.children)
        gone = Stanza(
            "presence",
            type="unavailable",
            from_=occupancy.room.with_resource(nick),
            to=account,
            children=(Element(USER_X, (), (departed_item(cached),)),),
        )
        actions += fork(occupancy, gone)
    return actions


def _self_unavailable(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    codes: frozenset[int],
) -> list[Action]:
    state = occupancy.state
    if 303 in codes:
        return _own_rename(occupancy, stanza, state)
    removal = bool(codes & _REMOVALS) or (stanza.find(USER_X) is not None and _destroyed(stanza))
    if state is _S.LEAVING:
        # Any self-unavailable now ends the leave: the answer, or a removal that beat it.
        if removal and not codes & _TRANSIENT_REMOVALS and account.wanted(occupancy.room):
            # As while joined: a bookmark set meanwhile does not rejoin (§8.2, §9, §10.9).
            account.block(occupancy.room)
        return leave_answered(core, account, occupancy, stanza, _E.LEFT)
    if state in _AWAITING and stanza.id is not None and stanza.id in occupancy.earlier:
        if state is _S.REJOIN_SENT:
            # The room took the account's leave from before a restart: who it named so
            # far was in the room then; the rejoin's answer names who is in it now.
            occupancy.earlier = ()
            occupancy.resync = {}
            return stale(stanza)
        return _old_occupancy_over(account, occupancy, stanza)
    # Restored after a restart, a room waiting for its rejoin's turn still has the account:
    # a kick, ban or destruction then is news, as while joined (the rejoin would undo it).
    restored_out = (
        state is _S.REJOIN_WAIT
        and occupancy.restored
        and removal
        and not codes & _TRANSIENT_REMOVALS
    )
    if (state is _S.REJOIN_WAIT and not restored_out) or (not removal and state is not _S.JOINED):
        # A duplicated leave answer of an earlier occupancy, or the room repeating itself.
        return stale(stanza)
    if not removal:
        # The room says the account is out, with no reason: it lost it. Join again; if it
        # was a stale copy, the join is a harmless resync (§7.2.1).
        rejoin = rejoin_now(core, account, occupancy)
        reason = DiscardReason.REJOINING if rejoin else DiscardReason.NO_SESSION
        return [Discard(stanza=stanza, reason=reason), *rejoin]
    wanted = account.wanted(occupancy.room)
    held = occupancy.pending if state in IN_ROOM else NO_ENTRIES
    if codes & _TRANSIENT_REMOVALS and (occupancy.attached or held or wanted):
        # Sessions that joined while the account rejoined are answered from the table, and
        # notice nothing more than the others; those still waiting for the account's join
        # learn of it. The account tries again later.
        answered = answer_held(core, account, occupancy)
        told: list[Action] = [
            Deliver(session=s, stanza=removal_for_session(stanza, s)) for s in occupancy.pending
        ]
        for session in occupancy.pending:
            account.unlink(session, occupancy.room)
        occupancy.pending = NO_ENTRIES
        retry = rejoin_failed(core, account, occupancy, _E.REMOVED, "Could not rejoin the room")
        fate = told or [Discard(stanza=stanza, reason=DiscardReason.REJOINING)]
        return answered + fate + retry
    # Removed by the room: kick, ban, membership, shutdown, destruction (§8.2, §9, §10.9).
    # The sessions waiting for a rejoin's end (``held``) are told too; what was withheld
    # for their answer reached nobody, and is announced (Unattended).
    actions: list[Action] = [
        Deliver(session=s, stanza=removal_for_session(stanza, s))
        for s in (*occupancy.audience(), *held)
    ]
    actions += unannounced(account, occupancy)
    if wanted:
        account.block(occupancy.room)
    transition(core, account, occupancy, _E.REMOVED, _S.ABSENT)
    return actions or [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION)]


def _old_occupancy_over(account: Account, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """The late answer to the leave this join followed: the room has just processed it.

    A room answers in order (§7.1): the occupants seen so far were of the occupancy before
    it, and the room's answer to the join will name the present ones. The waiting
    sessions are told those left, as they would see them leave.
    """
    # The room is past this leave and everything before it (§7.1): not what came after.
    earlier = occupancy.earlier
    occupancy.earlier = tuple(i for i in earlier[earlier.index(stanza.id) + 1 :] if i is not None)
    view = occupancy.view
    actions: list[Action] = [Discard(stanza=stanza, reason=DiscardReason.STALE)]
    for nick, cached in view.occupants.items():
        gone = Stanza(
            "presence",
            type="unavailable",
            from_=occupancy.room.with_resource(nick),
            to=account.jid,
            children=(Element(USER_X, (), (departed_item(cached),)),),
        )
        actions += fork(occupancy, gone)
    view.occupants = NO_ENTRIES
    view.occupant_bytes = 0
    return actions


def _destroyed(stanza: Stanza) -> bool:
    x = stanza.find(USER_X)
    return x is not None and x.find(_DESTROY) is not None


def _own_rename(occupancy: Occupancy, stanza: Stanza, state: OccupancyState) -> list[Action]:
    """The account's nick changed (§7.6): the new self-presence follows.

    The room may give another nick than the one asked for (§7.6: it MAY rewrite it), so
    the nick change in flight is matched by this 303, not by the nick.
    """
    x = stanza.find(USER_X)
    item = None if x is None else x.find(ITEM)
    new_nick = None if item is None else item.get("nick")
    if new_nick is not None and not JID.is_resource(new_nick):
        # No occupant JID can carry it: the room (or a forger) is not to be believed.
        return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]
    if new_nick and state is _S.JOINED:
        occupancy.view.nick = new_nick
        change = occupancy.nick_change
        if change is not None:
            change.nick = new_nick
    return fork(occupancy, stanza)


def _presence_error(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza
) -> list[Action]:
    state = occupancy.state
    if stanza.id is not None:
        matched = stanza.id == occupancy.request_id
    else:
        # No id to match (the server did not reflect it): an error from the occupant JID
        # the request went to answers it.
        sender = stanza.from_
        nick = occupancy.requested_nick if state is _S.JOINING else occupancy.current_nick
        matched = sender is not None and sender.resource == nick
    if state is _S.JOINING and matched:
        return _join_refused(core, account, occupancy, stanza)
    if state is _S.REJOIN_SENT and matched:
        condition, _ = error_condition(stanza)
        if condition in TRANSIENT_CONDITIONS or error_type(stanza) == "wait":
            retry = rejoin_failed(
                core, account, occupancy, _E.JOIN_REFUSED, "Could not rejoin the room"
            )
            return [Discard(stanza=stanza, reason=DiscardReason.REJOINING), *retry]
        if account.wanted(occupancy.room):
            account.block(occupancy.room)
        text = f"Could not rejoin the room: {condition or 'error'}"
        gone = give_up(core, account, occupancy, text, _E.JOIN_REFUSED)
        return [Discard(stanza=stanza, reason=DiscardReason.REJOINING), *gone]
    if state is _S.LEAVING and matched:
        return leave_answered(core, account, occupancy, stanza, _E.LEFT)
    change = occupancy.nick_change
    if (
        state is _S.JOINED
        and change is not None
        and _answers_change(stanza, change.sent_id, change.nick)
    ):
        # A refused nick change (409, not-acceptable) is for the session that asked.
        occupancy.nick_change = None
        core.timers.cancel(("nick", account.jid, occupancy.room))
        after = after_nick_change(core, account, occupancy)
        if change.session is None:
            return [Discard(stanza=stanza, reason=DiscardReason.NO_SESSION), *after]
        answer = stanza.replace(to=change.session, id=change.request_id)
        return [Deliver(session=change.session, stanza=answer), *after]
    return error_to_sender(occupancy, stanza)


def _answers_change(stanza: Stanza, sent_id: str | None, nick: str) -> bool:
    """The nick change's error: by its id, or, with no id, from the nick it asked for."""
    if stanza.id is not None:
        return stanza.id == sent_id
    sender = stanza.from_
    return sender is not None and sender.resource == nick


def _join_refused(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza
) -> list[Action]:
    """The account's join failed (§7.2.6-§7.2.11).

    Every pending session gets the error as its own join would have: from the nick it
    asked for, with its own id.
    """
    actions: list[Action] = [
        Deliver(
            session=s,
            stanza=stanza.replace(to=s, id=a.join_id, from_=occupancy.room.with_resource(a.nick)),
        )
        for s, a in occupancy.pending.items()
    ]
    for session in occupancy.pending:
        account.unlink(session, occupancy.room)
    occupancy.pending = NO_ENTRIES
    if not actions:
        actions = [Discard(stanza=stanza, reason=DiscardReason.JOIN_REFUSED)]
    if account.wanted(occupancy.room):
        condition, _ = error_condition(stanza)
        if condition in TRANSIENT_CONDITIONS or error_type(stanza) == "wait":
            # Worth another try later (a full room, a server briefly unreachable).
            occupancy.attempts += 1
            return actions + rejoin_failed(core, account, occupancy, _E.JOIN_REFUSED, "")
        account.block(occupancy.room)
    transition(core, account, occupancy, _E.JOIN_REFUSED, _S.ABSENT)
    return actions
