"""Keeping the account honestly in its rooms: keep-alive pings and silent rejoins.

A room can forget an occupant without telling it: a restart, a lost server-to-server link
(XEP-0410 §1). After ``Config.keepalive_idle`` seconds of silence the router self-pings
each room from the account. When the answer means "not joined" — or the room removed the
account through no fault of its own (332 shutdown, 333 technical) — the account joins
again, asking for the history it missed, and its sessions notice nothing unless the
rejoin fails.
"""

from __future__ import annotations

from typing import Final

from ._actions import Action, Deliver, Discard, DiscardReason, Send
from ._core import Core
from ._history import iso_stamp
from ._jid import JID
from ._lifecycle import OccupancyEvent, OccupancyState, advance
from ._membership import finish
from ._muc import MUC, MUC_X, PING, USER_X, error_condition
from ._stanza import Element, Stanza
from ._synth import departed_item, with_statuses
from ._table import Account, Occupancy

__all__ = [
    "TRANSIENT_CONDITIONS",
    "begin_rejoin",
    "give_up",
    "ping_answer",
    "ping_due",
    "rejoin_due",
    "retry_delay",
    "start_keepalive",
]

# XEP-0410 §3.2: answers that mean "still joined".
_JOINED_CONDITIONS: Final = frozenset({"service-unavailable", "feature-not-implemented"})
# Network trouble, not a verdict: try again later.
TRANSIENT_CONDITIONS: Final = frozenset(
    {
        "remote-server-not-found",
        "remote-server-timeout",
        "service-unavailable",
        "internal-server-error",
        "recipient-unavailable",
    }
)
_HISTORY: Final = f"{{{MUC}}}history"


def start_keepalive(core: Core, account: JID, occupancy: Occupancy) -> None:
    """The account is in the room: watch for silence from now on."""
    occupancy.last_seen = core.now
    occupancy.ping_id = None
    occupancy.ping_failures = 0
    core.schedule(("ping", account, occupancy.room), core.config.keepalive_idle)


def ping_due(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """A keep-alive deadline: ping after enough silence, or count a ping that got no answer."""
    occupancy = core.table.accounts[account_jid].rooms[room]
    config = core.config
    if occupancy.state is not OccupancyState.JOINED:
        return []  # leaving or rejoining: the keep-alive starts again once joined
    if occupancy.nick_change is not None:
        # XEP-0410 §4: not between a nick change and its answer; look again a bit later.
        core.schedule(("ping", account_jid, room), config.keepalive_timeout)
        return []
    if occupancy.ping_id is not None:
        # No answer: the room or the link is unreachable. Ask again, waiting longer each time.
        occupancy.ping_id = None
        occupancy.ping_failures += 1
        wait = min(config.keepalive_timeout * 2.0**occupancy.ping_failures, config.keepalive_idle)
        core.schedule(("ping", account_jid, room), wait)
        return []
    quiet_for = core.now - occupancy.last_seen
    if quiet_for < config.keepalive_idle and occupancy.ping_failures == 0:
        core.schedule(("ping", account_jid, room), config.keepalive_idle - quiet_for)
        return []
    occupancy.ping_id = core.next_id()
    core.schedule(("ping", account_jid, room), config.keepalive_timeout)
    ping = Stanza(
        "iq",
        type="get",
        from_=account_jid,
        to=room.with_resource(occupancy.current_nick),
        id=occupancy.ping_id,
        children=(Element(f"{{{PING}}}ping"),),
    )
    return [Send(stanza=ping)]


def ping_answer(core: Core, account: Account, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    """The room answered the keep-alive ping: still joined, gone, or forgot the account."""
    done: list[Action] = [Discard(stanza=stanza, reason=DiscardReason.KEEPALIVE)]
    occupancy.ping_id = None
    condition, by = error_condition(stanza) if stanza.type == "error" else (None, None)
    if condition in TRANSIENT_CONDITIONS - _JOINED_CONDITIONS:
        occupancy.ping_failures += 1
        return done  # the pending deadline asks again
    room_said = by is None or by == str(occupancy.room)
    joined = (
        stanza.type == "result"
        or condition in _JOINED_CONDITIONS
        # §3.2: item-not-found from the room itself means joined under another nick;
        # from the service it means the room no longer exists (fixtures finding 8).
        or (condition == "item-not-found" and room_said)
    )
    if joined:
        start_keepalive(core, account.jid, occupancy)
        return done
    if condition == "item-not-found":
        occupancy.state = advance(occupancy.state, OccupancyEvent.ROOM_GONE)
        return done + give_up(core, account, occupancy, "The room no longer exists")
    return done + begin_rejoin(core, account, occupancy, delay=0.0)


def begin_rejoin(
    core: Core, account: Account, occupancy: Occupancy, *, delay: float
) -> list[Action]:
    """The room forgot the account: join again after ``delay`` (at once when 0)."""
    if occupancy.state is OccupancyState.JOINED:
        occupancy.state = advance(occupancy.state, OccupancyEvent.ROOM_FORGOT)
    core.timers.cancel(("ping", account.jid, occupancy.room))
    occupancy.ping_id = None
    occupancy.rejoin_sent = False
    if delay > 0:
        core.schedule(("rejoin", account.jid, occupancy.room), delay)
        return []
    return rejoin_due(core, account.jid, occupancy.room)


def retry_delay(core: Core, occupancy: Occupancy) -> float:
    """How long before the next rejoin try: doubling from ``rejoin_delay``, capped."""
    config = core.config
    return min(config.rejoin_delay * 2.0**occupancy.rejoin_attempts, config.rejoin_max_delay)


def rejoin_due(core: Core, account_jid: JID, room: JID) -> list[Action]:
    """Send the account's join again, asking for the history since the last message seen."""
    occupancy = core.table.accounts[account_jid].rooms[room]
    occupancy.state = advance(occupancy.state, OccupancyEvent.REJOIN_DUE)
    occupancy.rejoin_attempts += 1
    occupancy.rejoin_sent = True
    occupancy.resync = set()
    since = occupancy.last_message_at
    if since is None:
        since = occupancy.joined_at
    muc = occupancy.join.find(MUC_X)
    kept = () if muc is None else tuple(c for c in muc.children if c.tag != _HISTORY)
    history = Element(_HISTORY, (("since", iso_stamp(since)),))
    join = Stanza(
        "presence",
        from_=account_jid,
        to=room.with_resource(occupancy.current_nick),
        id=core.next_id(),
        children=(Element(MUC_X, (), (*kept, history)),),
    )
    return [Send(stanza=join)]


def give_up(core: Core, account: Account, occupancy: Occupancy, text: str) -> list[Action]:
    """The account is out for good: every session gets its unavailable with 333 (§11.1)."""
    base = Stanza(
        "presence",
        type="unavailable",
        from_=occupancy.room.with_resource(occupancy.current_nick),
        children=(
            Element("{jabber:client}status", text=text),
            Element(USER_X, (), (departed_item(occupancy.self_presence),)),
        ),
    )
    base = with_statuses(base, (110, 333))
    actions: list[Action] = [Deliver(session=s, stanza=base.with_to(s)) for s in occupancy.attached]
    finish(core, account, occupancy)
    return actions
