"""Configuration: every bound on what remote input can make the router store, and policies."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from attrs import field, frozen, validators

from ._jid import JID, InvalidJID

__all__ = ["Config"]

_positive = validators.and_(validators.instance_of(int), validators.ge(1))
_seconds = validators.and_(validators.instance_of((int, float)), validators.gt(0.0))
_seconds_or_zero = validators.and_(validators.instance_of((int, float)), validators.ge(0.0))


def _finite(_: object, attribute: object, value: float) -> None:
    # A pace of infinity takes one join and never another, and cannot go into JSON.
    if not math.isfinite(value):
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be finite seconds")


_pace = validators.and_(_seconds, _finite)


class _Intervals(Mapping[str, float]):
    """``Config.autojoin_intervals``: MUC domain to seconds, read-only.

    Unlike a ``mappingproxy``, it is deep-copied and pickled with its :class:`Config`.
    """

    __slots__ = ("_seconds",)

    def __init__(self, seconds: dict[str, float]) -> None:
        self._seconds = seconds

    def __getitem__(self, domain: str) -> float:
        return self._seconds[domain]

    def __iter__(self) -> Iterator[str]:
        return iter(self._seconds)

    def __len__(self) -> int:
        return len(self._seconds)

    def __repr__(self) -> str:
        return repr(self._seconds)

    def __reduce__(self) -> tuple[type[_Intervals], tuple[dict[str, float]]]:
        return (_Intervals, (dict(self._seconds),))


def _service_intervals(given: Mapping[str, float]) -> Mapping[str, float]:
    """A read-only copy keyed by each service's domain as room JIDs carry it."""
    if not isinstance(given, Mapping):
        raise TypeError(f"autojoin_intervals must map MUC domains to seconds, not {given!r}")
    intervals: dict[str, float] = {}
    for domain, seconds in given.items():
        if not isinstance(domain, str):
            raise TypeError(f"autojoin_intervals: a MUC domain is text, not {domain!r}")
        try:
            jid = JID.parse(domain)
        except InvalidJID as exc:
            raise ValueError(f"autojoin_intervals: {domain!r} is not a domain: {exc}") from exc
        if not jid.is_bare or jid.local is not None:
            raise ValueError(f"autojoin_intervals: {domain!r} is not a domain")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"autojoin_intervals[{domain!r}] must be seconds, not {seconds!r}")
        if not 0 < seconds < math.inf:
            raise ValueError(
                f"autojoin_intervals[{domain!r}] must be finite seconds over 0, not {seconds!r}"
            )
        if jid.domain in intervals:
            raise ValueError(f"autojoin_intervals: {domain!r} names {jid.domain} a second time")
        intervals[jid.domain] = float(seconds)
    return _Intervals(intervals)


@frozen(kw_only=True)
class Config:
    """Settings of a :class:`Router`. Every field has a safe default.

    Each ``max_*`` field bounds one table that remote input can grow, and says what
    happens at the bound. Invalid values raise ``ValueError``/``TypeError`` here, at
    construction, never later.

    >>> Config(max_rooms_per_account=50).max_rooms_per_account
    50
    """

    max_rooms_per_account: int = field(default=500, validator=_positive)
    """Rooms one account may be in or joining. A join beyond it is refused with
    ``resource-constraint`` (type ``wait``) from the occupant JID, as a full room would."""
    max_sessions_per_room: int = field(default=64, validator=_positive)
    """Sessions of one account attached to (or pending in) one room. A join beyond it is
    refused with ``resource-constraint``."""
    max_occupants_per_room: int = field(default=10_000, validator=_positive)
    """Other occupants' presences cached per occupancy for late joins. Beyond it new
    occupants are still forwarded live but not cached, so late joiners see a partial list
    (and a session's ping to a nick the router does not know goes to the room, which
    does)."""
    max_occupant_bytes: int = field(default=4 * 1024 * 1024, validator=_positive)
    """Characters of XML the cached occupant presences of one occupancy may hold (their
    payloads; presences vary in size). Beyond it, as beyond ``max_occupants_per_room``,
    new occupants are forwarded live but not cached."""
    max_shared_payloads: int = field(default=65_536, validator=_positive)
    """Distinct payloads (joins) kept once for all accounts that see them (memory
    sharing); beyond it the oldest is no longer shared (nothing is lost: the caches that
    hold it keep their copy). The same bound applies, separately, to the stanzas kept
    whole once for all accounts (occupants' presences, the room's self-presence and
    subject)."""
    max_shared_messages: int = field(default=256, validator=_positive)
    """Room messages whose payload is kept ready for the room's other local accounts, in
    rooms more than one local account is in (found by message key; another room's message
    under the same key, or another copy of this one, is told apart by its payload and kept
    by room and key as well, an entry of its own), so that their histories hold it once. The
    room sends a message to all its local accounts in one burst, so the pool need only span
    the messages of a burst: the histories share the payload after it leaves. Past the bound
    the pool keeps its newest half (nothing is lost: an account whose copy comes later keeps
    its own). A larger pool is more for the garbage collector to walk, and below 16 it trims
    itself at almost every message (docs: "Concepts", "Operations")."""
    max_shared_payload_bytes: int = field(default=32 * 1024 * 1024, validator=_positive)
    """Characters of XML (as the history's ``maxchars`` counts them; bytes for ASCII)
    the shared payloads may hold in all; beyond it the oldest are no longer shared, as
    for ``max_shared_payloads``, and a payload larger than it is never pooled. The same
    bound applies to each of the three pools apart (payloads of joins, stanzas kept
    whole, history messages: past it, that one keeps the newest messages that fit in half
    of it), so together they hold at most three times it."""
    max_tracked_ids: int = field(default=256, validator=_positive)
    """Ids of stanzas sent for sessions that the router remembers per occupancy, so the
    room's error for one goes back to that session only. The oldest is forgotten first; an
    error for a forgotten id goes to every attached session."""
    max_pending_iqs: int = field(default=64, validator=_positive)
    """IQs one account's sessions may have waiting for a room's answer. One more is
    refused with ``resource-constraint`` (type ``wait``) from its ``to``."""
    iq_timeout: float = field(default=60.0, validator=_seconds)
    """Seconds a room has to answer a session's IQ; then the session gets
    ``remote-server-timeout`` (type ``wait``) and a late answer is discarded."""
    max_history_messages: int = field(default=50, validator=_positive)
    """Historic messages kept per occupancy for late joiners and returning devices; the
    oldest goes first."""
    max_history_bytes: int = field(default=64 * 1024, validator=_positive)
    """Characters of XML the history of one occupancy may hold; the oldest goes first."""
    default_history_messages: int = field(
        default=20, validator=validators.and_(validators.instance_of(int), validators.ge(0))
    )
    """Messages a late joiner gets when its join asks for no specific history (Prosody's
    room default is 20)."""
    join_timeout: float = field(default=60.0, validator=_seconds)
    """Seconds a room has to answer the account's join or rejoin (XEP-0045 §7.2). A join
    not answered in time: each waiting session gets ``remote-server-timeout`` (type
    ``wait``) and the account sends an unavailable in case the room admitted it late; a
    bookmarked room is tried again after ``rejoin_delay``. A rejoin not answered in time
    counts as a failed try (see ``max_rejoin_attempts``)."""
    leave_timeout: float = field(default=30.0, validator=_seconds)
    """Seconds a room has to answer the account's leave (§7.14); then the leaving sessions
    get their unavailable self-presence, and a session that joined meanwhile makes the
    account join again. Otherwise the leave is sent once more and waited for as long
    again (the room may not have had it); then the account counts as out."""
    nick_change_timeout: float = field(default=60.0, validator=_seconds)
    """Seconds a room has to answer a nick change (§7.6); then the session that asked gets
    ``remote-server-timeout`` and another change may be asked for."""
    resync_timeout: float = field(default=60.0, validator=_seconds)
    """Seconds after a rejoin during which what the room re-sends and the sessions know
    already is not shown again; the room's subject ends it earlier (§7.2.15). Also how
    long the account waits for the subject after a join an earlier join's answer came
    into, before it asks the room again."""
    max_remembered_messages: int = field(default=256, validator=_positive)
    """Message keys (at most 36 characters each) the account remembers per room across
    occupancies, so a message the room sends again (a retransmission, a join's history)
    is archived and pushed once; and as many keys of the messages passed on in the
    occupancy, so a repeat is not passed on twice. At the bound the oldest key is
    forgotten, in one step whatever the bound. Each key costs a busy occupancy about 220
    bytes of memory and 70 of snapshot JSON (see the operations guide)."""
    keepalive_idle: float = field(default=900.0, validator=_seconds)
    """Seconds of silence from a room after which the router self-pings it from the
    account (XEP-0410 §3.2 suggests 15 minutes)."""
    keepalive_timeout: float = field(default=60.0, validator=_seconds)
    """Seconds the keep-alive ping may go unanswered. Then it is tried again after twice
    this, then four times, each wait twice the one before, up to ``keepalive_idle``."""
    rejoin_delay: float = field(default=5.0, validator=_seconds)
    """Seconds before the account rejoins a room that shut down (332) or dropped it (333);
    each further try waits twice as long, up to ``rejoin_max_delay``."""
    rejoin_max_delay: float = field(default=600.0, validator=_seconds)
    """The longest wait between two rejoin tries."""
    max_rejoin_attempts: int = field(default=5, validator=_positive)
    """Rejoin tries before the router gives up and tells the sessions they are out (333)."""
    nick_policy: str = field(default="account", validator=validators.in_(("account", "follow")))
    """What a session joining with another nick than the account's gets. ``"account"``:
    attached under the account's nick, told by status 210 (clients handle it since
    XEP-0045 §7.2.9). ``"follow"``: the account changes its nick for everyone."""
    disconnect_grace: float = field(default=120.0, validator=_seconds_or_zero)
    """Seconds the account stays in a room after its last session disconnected without
    leaving, so a device that comes back finds it there (0: leave at once). An explicit
    leave always leaves at once; an autojoin bookmark keeps the account in regardless."""
    autojoin_interval: float = field(default=0.2, validator=_pace)
    """Seconds between two joins the router makes on its own (bookmarks, restarts) to the
    same MUC service (the room JID's domain), so no service gets hundreds of joins in one
    burst; joins to different services do not wait for each other. At 0.2 s, a million
    memberships over 100 services are rejoined in 33 minutes (the arithmetic is in the
    operations guide)."""
    autojoin_intervals: Mapping[str, float] = field(
        factory=dict, converter=_service_intervals, hash=False
    )
    """``autojoin_interval`` for some MUC services, by domain (``{"conference.example.org":
    0.004}``): the server's own service can take joins faster than a remote one. Others
    keep ``autojoin_interval``. Domains are compared as room JIDs carry them (lower case)."""
    archive: bool = field(default=True, validator=validators.instance_of(bool))
    """Offer each new room message for the account's archive (:class:`Archive`)."""
    device_memory: float = field(default=3600.0, validator=_seconds)
    """Seconds the router remembers what a device that left or disconnected had seen,
    so that coming back without a history request it gets exactly what it missed."""
    id_prefix: str = field(default="mmx-", validator=validators.instance_of(str))
    """Prefix of ids the router invents; a counter follows it, so runs replay exactly.
    Give each process of a cluster its own prefix."""
