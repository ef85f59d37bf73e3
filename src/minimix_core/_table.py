"""The membership table: accounts, their occupancies and their sessions.

Every lookup on the hot path is a dict lookup keyed by JID; no step scans all accounts,
rooms or sessions. The table is owned by one :class:`Router`; handlers check an input
completely before they change anything, so a refused input leaves the table as it was.
"""

from __future__ import annotations

from ._events import Bookmark
from ._history import History
from ._jid import JID
from ._lifecycle import OccupancyState
from ._stanza import Element, Stanza

__all__ = ["Account", "Attachment", "NickChange", "Occupancy", "PendingIQ", "Table"]


class PendingIQ:
    """An IQ a session sent to a room under an id the router made up."""

    __slots__ = ("original_id", "query_id", "room", "session", "session_closed", "to")

    def __init__(
        self, *, session: JID, original_id: str, to: JID, query_id: str | None = None
    ) -> None:
        self.session = session
        self.original_id = original_id
        """The session's own id, restored on the answer."""
        self.to = to
        """Where the IQ went: an error the router makes for it comes from there."""
        self.room = to.bare
        self.query_id = query_id
        """The session's own MAM ``queryid`` (XEP-0313), restored on each result."""
        self.session_closed = False
        """The session is gone; its answer will be discarded when it comes."""


class Attachment:
    """What one session asked for when it joined one room."""

    __slots__ = ("join_id", "nick", "payload", "request", "seq")

    def __init__(
        self,
        *,
        join_id: str | None,
        nick: str,
        request: Stanza,
        payload: tuple[Element, ...] = (),
        seq: int = 0,
    ) -> None:
        self.join_id = join_id
        """The ``id`` of the session's join presence, reflected on its self-presence."""
        self.nick = nick
        """The nickname the session asked for (the room's nick may differ: status 210)."""
        self.request = request
        """The session's join presence, for the account's join if it has to make one."""
        self.payload = payload
        """The session's latest presence in the room (show, status...), for the aggregate."""
        self.seq = seq
        """When that presence came, in router order: the latest wins a tie."""


class NickChange:
    """A session asked the room for another nick (§7.6); the answer is for it alone."""

    __slots__ = ("nick", "request_id", "resync", "session")

    def __init__(self, session: JID, nick: str, request_id: str | None, *, resync: bool) -> None:
        self.session = session
        self.nick = nick
        self.request_id = request_id
        self.resync = resync
        """It came as a join (muc ``<x/>``): the session wants the room's state again."""


class Occupancy:
    """The account's standing in one room, and what the room told it."""

    __slots__ = (
        "attached",
        "created",
        "flags",
        "history",
        "join",
        "joined_at",
        "joiner",
        "last_message_at",
        "last_seen",
        "leave_due",
        "leaving",
        "nick",
        "nick_change",
        "occupants",
        "occupants_truncated",
        "pending",
        "ping_failures",
        "ping_id",
        "pinned",
        "positions",
        "rejoin_attempts",
        "rejoin_sent",
        "requested_nick",
        "resync",
        "room",
        "room_presence",
        "self_presence",
        "sent_ids",
        "sent_payload",
        "state",
        "subject",
    )

    def __init__(self, room: JID, join: Stanza, requested_nick: str) -> None:
        self.room = room
        self.state = OccupancyState.JOINING
        self.join = join
        """The join presence sent from the account (kept for rejoins)."""
        self.requested_nick = requested_nick
        self.nick: str | None = None
        """The nickname the room confirmed; ``None`` until the self-presence arrives."""
        self.self_presence: Stanza | None = None
        self.occupants: dict[str, Stanza] = {}
        """Other occupants' latest presence, by nick, in the order they joined."""
        self.occupants_truncated = False
        self.room_presence: Stanza | None = None
        """The room's own presence (from its bare JID, as ejabberd sends with its caps)."""
        self.subject: Stanza | None = None
        """The room's latest subject message; ``None`` until the room sent one."""
        self.flags: set[int] = set()
        """Room status codes for self-presence: 100 (non-anonymous), 170 (logged)."""
        self.created = False
        """The account's join created the room (201)."""
        self.attached: dict[JID, Attachment] = {}
        self.pending: dict[JID, Attachment] = {}
        self.leaving: dict[JID, Attachment] = {}
        """Sessions that left last and wait for the room's answer."""
        self.history: History | None = None
        """The room's recent historic messages, made on the first one (most rooms are quiet)."""
        self.last_message_at: float | None = None
        """When the newest historic message was sent: a rejoin asks for history since then."""
        self.sent_ids: dict[str, JID] = {}
        """Ids of stanzas sent for sessions, oldest first: errors go back to the sender."""
        self.joined_at = 0.0
        self.last_seen = 0.0
        """When the room last sent the account anything: the keep-alive measures silence."""
        self.ping_id: str | None = None
        """The id of the router's keep-alive ping in flight."""
        self.ping_failures = 0
        self.joiner: JID | None = None
        """The session whose join the account sent: only it may see 201 (room created)."""
        self.sent_payload: tuple[Element, ...] = ()
        """The account's presence in the room as last sent: the aggregate of its sessions'."""
        self.nick_change: NickChange | None = None
        """A nick change a session asked for, until the room answers it."""
        self.leave_due = False
        """After a restart: the account must still tell the room it left (queued)."""
        self.pinned = False
        """An autojoin bookmark keeps the account here with no session attached."""
        self.positions: dict[JID, tuple[int, float]] = {}
        """Devices that left: the last history entry each had, and when it went."""
        self.rejoin_attempts = 0
        self.rejoin_sent = False
        self.resync: set[str] | None = None
        """While the room re-sends its join sequence after a rejoin: the nicks it announced.
        What the sessions already know is not shown to them twice."""

    @property
    def current_nick(self) -> str:
        """The nick the room knows the account by, or the one it asked for."""
        return self.nick if self.nick is not None else self.requested_nick

    def audience(self) -> dict[JID, Attachment]:
        """The sessions that see the room's traffic in the current state."""
        if self.state is OccupancyState.JOINED or self.state is OccupancyState.REJOINING:
            return self.attached
        if self.state is OccupancyState.JOINING:
            return self.pending
        return self.leaving


class Account:
    """One local account: its occupancies by room and, per session, the rooms it is in."""

    __slots__ = ("bookmarks", "jid", "pending_iqs", "rooms", "sessions")

    def __init__(self, jid: JID) -> None:
        self.jid = jid
        self.pending_iqs: dict[str, PendingIQ] = {}
        """IQs sent for sessions, by the id the router gave them."""
        self.bookmarks: dict[JID, Bookmark] = {}
        """The rooms the account's autojoin bookmarks keep it in (XEP-0402)."""
        self.rooms: dict[JID, Occupancy] = {}
        self.sessions: dict[JID, dict[JID, None]] = {}
        """Session full JID -> the rooms it is attached to, pending or leaving in (an
        insertion-ordered set, so that every walk over it is deterministic)."""

    def link(self, session: JID, room: JID) -> None:
        """Record that ``session`` takes part in ``room``."""
        self.sessions.setdefault(session, {})[room] = None

    def unlink(self, session: JID, room: JID) -> None:
        """Record that ``session`` no longer takes part in ``room``."""
        rooms = self.sessions.get(session)
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self.sessions[session]

    @property
    def empty(self) -> bool:
        """Nothing left to remember for this account."""
        return not (self.rooms or self.sessions or self.pending_iqs or self.bookmarks)


class Table:
    """All accounts the router knows, by bare JID."""

    __slots__ = ("accounts",)

    def __init__(self) -> None:
        self.accounts: dict[JID, Account] = {}

    def account(self, jid: JID) -> Account:
        """The account's entry, created on first use."""
        account = self.accounts.get(jid)
        if account is None:
            account = self.accounts[jid] = Account(jid)
        return account

    def forget_if_empty(self, account: Account) -> None:
        """Drop an account's entry once it holds nothing."""
        if account.empty:
            self.accounts.pop(account.jid, None)
