"""Keeping the account honestly in its rooms: keep-alive pings and silent rejoins.

A room can forget an occupant without telling it: a restart, a lost server-to-server link
(XEP-0410 §1). After ``Config.keepalive_idle`` seconds of silence the router self-pings
each room from the account. When the answer means "not joined" — or the room removed the
account through no fault of its own (332 shutdown, 333 technical) — the account joins
again, asking for the history it missed, and its sessions notice nothing unless the
rejoin fails for good. Every rejoin has a deadline; a failed one is tried again, each
wait twice as long.
"""

from __future__ import annotations

from typing import Final

from ._actions import Action, Deliver, Discard, DiscardReason, Send
from ._core import Core
from ._history import iso_stamp
from ._jid import JID, InvalidJID
from ._lifecycle import E, OccupancyEvent, S, transition
from ._membership import answer_held, leave_room
from ._muc import MUC, MUC_X, PING, USER_X, error_condition
from ._presence import nick_change_dropped, rejoin_payload
from ._sessions import NO_ENTRIES
from ._stanza import Element, Stanza
from ._synth import departed_item, with_statuses
from ._table import Account, Occupancy

__all__ = [
    "TRANSIENT_CONDITIONS",
    "give_up",
    "ping_answer",
    "ping_due",
    "rejoin_after_earlier_answer",
    "rejoin_due",
    "rejoin_failed",
    "rejoin_now",
    "start_keepalive",
]

_S = S
_E = E

# XEP-0410 §3.2: answers that mean "still joined".
_JOINED_CONDITIONS: Final = frozenset({"service-unavailable", "feature-not-implemented"})
# XEP-0410 §3.2: the room's server could not be reached; nothing is known, ask again.
_UNREACHABLE: Final = frozenset({"remote-server-not-found", "remote-server-timeout"})
TRANSIENT_CONDITIONS: Final = frozenset(
    {
        "remote-server-not-found",
        "remote-server-timeout",
        "service-unavailable",
        "internal-server-error",
        "recipient-unavailable",
        "resource-constraint",
    }
)
"""Join errors that are network or load trouble, not a verdict on the account."""
_HISTORY: Final = f"{{{MUC}}}history"


def start_keepalive(core: Core, account: Account, occupancy: Occupancy) -> None:
    """The account is in the room: watch for silence from now on."""
    occupancy.last_seen = core.now
    occupancy.ping_id = None
    occupancy.ping_failures = 0
    occupancy.ping_at = core.now + core.config.keepalive_idle
    core.arm_keepalive(account)


def ping_due(core: Core, account_jid: JID, _: JID) -> list[Action]:
    """The account's keep-alive timer: the rooms whose ``ping_at`` is the earliest.

    Only those: a later room's deadline, even if passed too, comes after any other timer
    due before it (a grace leave may end that room's keep-alive first); the timer is set
    again at the next ``ping_at`` and ``run_timers`` takes it in its turn.
    """
    account = core.table.accounts[account_jid]
    watched = [(o.ping_at, o) for o in account.rooms.values() if o.ping_at is not None]
    first = min(at for at, _ in watched)  # the timer's own deadline
    actions: list[Action] = []
    for at, occupancy in watched:
        if at == first:
            actions += _look(core, account_jid, occupancy)
    core.arm_keepalive(account)
    return actions


def _look(core: Core, account_jid: JID, occupancy: Occupancy) -> list[Action]:
    """A room's keep-alive deadline: ping after enough silence, or count a lost ping."""
    config, now = core.config, core.now
    if occupancy.nick_change is not None:
        # XEP-0410 §4: not between a nick change and its answer (which has a deadline).
        occupancy.ping_at = now + config.keepalive_timeout
        return []
    if occupancy.ping_id is not None:
        # No answer: the room or the link is unreachable. Ask again, waiting longer each time.
        occupancy.ping_id = None
        occupancy.ping_failures += 1
        wait = min(config.keepalive_timeout * 2.0**occupancy.ping_failures, config.keepalive_idle)
        occupancy.ping_at = now + wait
        return []
    quiet_until = occupancy.last_seen + config.keepalive_idle
    if quiet_until > now and occupancy.ping_failures == 0:
        # Heard from since: look again when the silence would be long enough.
        occupancy.ping_at = quiet_until
        return []
    return _ping(core, account_jid, occupancy)


def _ping(core: Core, account_jid: JID, occupancy: Occupancy) -> list[Action]:
    """The XEP-0410 self-ping, its answer awaited until ``keepalive_timeout``."""
    occupancy.ping_id = core.next_id()
    occupancy.ping_at = core.now + core.config.keepalive_timeout
    ping = Stanza(
        "iq",
        type="get",
        from_=account_jid,
        to=occupancy.room.with_resource(occupancy.current_nick),
        id=occupancy.ping_id,
        children=(Element(f"{{{PING}}}ping"),),
    )
    return [Send(stanza=ping)]


def verify(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """Ask the room now whether it still has the account (XEP-0410 self-ping, §3.2).

    For a room not heard from since a restart, which may have let the account go
    meanwhile: its answer keeps the account watched, or makes it join again.
    """
    start_keepalive(core, account, occupancy)
    actions = _ping(core, account.jid, occupancy)
    core.arm_keepalive(account)
    return actions


def ping_answer(core: Core, account: Account, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """The room answered the keep-alive ping (matched by id): joined, gone, or forgot us."""
    done: list[Action] = [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
    occupancy.ping_id = None
    condition, by = error_condition(stanza) if stanza.type == "error" else (None, None)
    if condition in _UNREACHABLE:
        occupancy.ping_failures += 1
        return done  # the pending deadline asks again
    speaker = _speaker(by, occupancy.room)
    joined = (
        stanza.type == "result"
        or condition in _JOINED_CONDITIONS
        # §3.2: item-not-found from the room itself means joined under another nick;
        # from the service it means the room no longer exists (fixtures finding 8).
        or (condition == "item-not-found" and speaker == "room")
    )
    if joined:
        start_keepalive(core, account, occupancy)
        return done
    if condition == "item-not-found" and speaker == "service":
        if account.wanted(occupancy.room):
            # As for a destroyed room: not made again until the bookmark changes or a
            # device joins (a join would create it anew).
            account.block(occupancy.room)
        gone = give_up(core, account, occupancy, "The room no longer exists", _E.ROOM_GONE)
        return done + gone
    # §3.2: any other error means the account is not an occupant.
    return done + rejoin_now(core, account, occupancy)


def _speaker(by: str | None, room: JID) -> str | None:
    """Who an error's ``by`` names, in any spelling: ``"room"``, ``"service"`` or ``None``.

    The room: none given, the room's bare JID or one of its occupant JIDs; the service:
    the room's domain, bare or with a resource (an entity of the service itself, RFC 7622
    §3.4, as an occupant JID is of the room). An item-not-found by anyone else says
    nothing sure about the room: it is taken as any other error (a rejoin, whose answer
    settles it), not as the room gone for good.
    """
    if by is None:
        return "room"
    try:
        said = JID.parse(by)
    except InvalidJID:
        return None
    if said.bare == room:
        return "room"
    return "service" if said.local is None and said.domain == room.domain else None


def rejoin_now(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """The room forgot the account (``JOINED`` -> ``REJOIN_SENT``): join again at once.

    Not when nobody is attached and no bookmark keeps the room (the disconnect grace, a
    restored room waiting to be left): the account was about to leave, and the room has
    let it go already. Rejoined, nothing would make it leave again.
    """
    # Sessions waiting for a resync's end (answer_held) get their answer from the table
    # now, as a session that joins while the account rejoins does.
    answered = answer_held(core, account, occupancy)
    if not occupancy.attached and not account.wanted(occupancy.room):
        transition(core, account, occupancy, _E.REMOVED, _S.ABSENT)
        return []
    unanswered = nick_change_dropped(occupancy)
    return answered + unanswered + _send_rejoin(core, account, occupancy, _E.ROOM_FORGOT)


def rejoin_after_earlier_answer(core: Core, account: Account, occupancy: Occupancy) -> list[Action]:
    """An earlier join's answer mixed with the last one's (``JOINED`` -> ``REJOIN_SENT``).

    It came while the last join was on its way, or after its answer. Whom the room named
    around it may be of a room that has since forgotten them without a word (a restart
    of its own): joined again, the room names everyone it has before the account's own
    presence (§7.2.1), and the sessions are told of those it no longer has, as after any
    rejoin.
    """
    answered = answer_held(core, account, occupancy)
    unanswered = nick_change_dropped(occupancy)
    return answered + unanswered + _send_rejoin(core, account, occupancy, _E.EARLIER_ANSWER)


def rejoin_due(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """``REJOIN_WAIT``'s delay passed: send the join again."""
    account = core.table.accounts[account_jid]
    return _send_rejoin(core, account, account.rooms[room], _E.REJOIN_DUE)


def _send_rejoin(
    core: Core, account: Account, occupancy: Occupancy, event: OccupancyEvent
) -> list[Action]:
    """The account's join again, asking for the history since the last message seen."""
    occupancy.attempts += 1
    view = occupancy.view
    if view.self_presence is None:
        # Never in (a bookmarked room whose join failed): the join as first made. Whom an
        # earlier try named nobody has seen; kept, they would take the room of those this
        # try names (Config.max_occupants_per_room), which a device joining now gets.
        children = occupancy.join_template.children
        view.occupants, view.occupant_bytes, view.partial = NO_ENTRIES, 0, False
    else:
        since = view.last_message_at if view.last_message_at is not None else view.joined_at
        muc = occupancy.join_template.find(MUC_X)
        kept = () if muc is None else tuple(c for c in muc.children if c.tag != _HISTORY)
        history = Element(_HISTORY, (("since", iso_stamp(since)),))
        children = (*rejoin_payload(occupancy), Element(MUC_X, (), (*kept, history)))
    join = Stanza(
        "presence",
        from_=account.jid,
        to=occupancy.room.with_resource(occupancy.current_nick),
        id=core.next_id(),
        children=children,
    )
    occupancy.join_id = join.id  # the room reflects this one
    occupancy.sent_again()
    transition(core, account, occupancy, event, _S.REJOIN_SENT, request_id=join.id)
    # The room sends its whole join sequence again (§7.1), occupants first: from now on
    # what the sessions know already is not shown to them twice.
    occupancy.resync = {}
    return [Send(stanza=join)]


def rejoin_failed(
    core: Core, account: Account, occupancy: Occupancy, event: OccupancyEvent, text: str
) -> list[Action]:
    """Not the account's fault: wait and join again, doubling the wait each time.

    After ``Config.max_rejoin_attempts`` tries the sessions are told they are out (333),
    those waiting for the rejoin (:func:`~minimix_core._membership.held`) too, and the
    account leaves if the last try went unanswered; a room an autojoin bookmark keeps is
    still tried for good, its wait doubling up to ``rejoin_max_delay``. Otherwise the
    waiting sessions are answered from the table and stay attached with the others.
    """
    config = core.config
    attempts = occupancy.attempts
    if attempts >= config.max_rejoin_attempts and (occupancy.attached or occupancy.pending):
        # Pending here are the sessions that joined while the account rejoined: a failed
        # first join (JOINING) has told and let go its own before.
        told = _tell_out(occupancy, text)
        for sessions in (occupancy.attached, occupancy.pending):
            for session in sessions:
                account.unlink(session, occupancy.room)
        occupancy.attached = occupancy.pending = NO_ENTRIES
        if not account.wanted(occupancy.room):
            if event is _E.DEADLINE:
                # The last join went unanswered: the room may admit it yet. Leave, so that
                # no ghost of the account stays behind (as after a first join's deadline).
                return told + leave_room(core, account, occupancy, None, NO_ENTRIES, event)
            transition(core, account, occupancy, event, _S.ABSENT)
            return told
        return told + rejoin_failed(core, account, occupancy, event, text)
    # Not kept waiting through the back-off: answered from what the account knew.
    answered = answer_held(core, account, occupancy)
    delay = min(config.rejoin_delay * 2.0 ** min(attempts, 64), config.rejoin_max_delay)
    unanswered = nick_change_dropped(occupancy)  # out of the room (333, 332) while JOINED
    transition(core, account, occupancy, event, _S.REJOIN_WAIT, delay=delay)
    return answered + unanswered


def _tell_out(occupancy: Occupancy, text: str) -> list[Action]:
    base = Stanza(
        "presence",
        type="unavailable",
        from_=occupancy.room.with_resource(occupancy.current_nick),
        children=(
            Element("{jabber:client}status", text=text),
            Element(USER_X, (), (departed_item(occupancy.view.self_presence),)),
        ),
    )
    base = with_statuses(base, (110, 333))
    # In the room or rejoining it, the waiting sessions joined while it rejoined (held).
    return [
        Deliver(session=s, stanza=base.with_to(s))
        for s in (*occupancy.attached, *occupancy.pending)
    ]


def give_up(
    core: Core, account: Account, occupancy: Occupancy, text: str, event: OccupancyEvent
) -> list[Action]:
    """The account is out for good: every session gets its unavailable with 333 (§11.1)."""
    actions = _tell_out(occupancy, text)
    transition(core, account, occupancy, event, _S.ABSENT)
    return actions
