"""The simulated XEP-0045 service: rooms by JID, room creation, tombstones, admin helpers."""

from __future__ import annotations

import itertools
from collections.abc import Set

from .._jid import JID
from .._muc import MUC_X
from .._stanza import Element, Stanza
from ._parts import (
    AFFILIATION_RANK,
    Actor,
    Refusal,
    Tombstone,
    error_reply,
    occupant_id,
    result,
    status,
)
from ._room import Room
from ._traffic import DISCO_INFO, iq, message, service_info

__all__ = ["MUCService"]


class MUCService:
    """A small, deterministic, sans-IO model of a XEP-0045 service, behaving as Prosody 0.12.

    Hand it every stanza an entity sends to the service, a room or an occupant with
    :meth:`receive`; it returns every stanza the service sends in consequence, each
    with ``from_`` and ``to`` set, in order. There is no clock (pass ``now``, POSIX
    seconds, where time matters: history stamps, ``<history since/seconds>``, the lock
    of a new room) and no randomness: stanza-ids, occupant-ids and rewritten IQ ids are
    derived from counters and names, so a test can replay a run exactly.

    What it does is what Prosody 0.12 was seen to do with the transcripts in
    ``tests/fixtures/prosody-0.12`` (occupant sessions are matched by exact real JID, a
    bare JID may be an occupant, several real JIDs of one bare JID may share a nick).
    Not simulated: invitations, voice requests, registration, MAM queries, the member
    list query (``muc#admin`` get), and the expiry of tombstones.

    >>> from minimix_core import JID, parse_stanza
    >>> service = MUCService(lock_new_rooms=False)
    >>> join = parse_stanza(
    ...     "<presence from='alice@example.org/phone' to='lounge@muc.example.net/alice'>"
    ...     "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ... )
    >>> [str(s.from_) for s in service.receive(join)]
    ['lounge@muc.example.net/alice', 'lounge@muc.example.net']
    >>> service.occupants(JID.parse("lounge@muc.example.net"))
    {'alice': frozenset({JID('alice@example.org/phone')})}
    """

    def __init__(
        self,
        domain: str = "muc.example.net",
        *,
        lock_new_rooms: bool = False,
        history_length: int = 20,
    ) -> None:
        """A service at ``domain`` with no rooms.

        ``lock_new_rooms`` locks a room made by a join until its owner submits the
        configuration form (Prosody's ``muc_room_locking``, on in the fixtures).
        ``history_length`` is how many messages a new room keeps and sends to joiners.
        """
        service = JID.parse(domain)
        if service.local is not None or service.resource is not None:
            raise ValueError(f"a MUC service address is a bare domain, not {domain!r}")
        self._jid = service
        self._lock = lock_new_rooms
        self._history_length = history_length
        self._rooms: dict[JID, Room] = {}
        self._tombstones: dict[JID, Tombstone] = {}
        self._incarnations: dict[JID, int] = {}
        self._ids = itertools.count(1)

    @property
    def domain(self) -> JID:
        """The service's own address."""
        return self._jid

    @property
    def rooms(self) -> Set[JID]:
        """The bare JIDs of the rooms that exist now (locked ones too), as a live view."""
        return self._rooms.keys()

    def receive(self, stanza: Stanza, *, now: float = 0.0) -> list[Stanza]:
        """Everything the service sends because ``stanza`` arrived at time ``now``.

        ``stanza`` must have ``from_`` (the sender's real JID, bare or full) and a ``to``
        at this service: the service itself, a room, or an occupant JID. A stanza the
        service ignores (as Prosody does, e.g. a second unavailable) gives ``[]``.
        Raises :class:`ValueError` if the addresses are missing or elsewhere.
        """
        to = stanza.to
        if stanza.from_ is None or to is None or to.domain != self._jid.domain:
            raise ValueError(f"not a stanza for {self._jid}: from={stanza.from_} to={to}")
        if to.local is None:
            return self._to_service(stanza)
        tombstone = self._tombstones.get(to.bare)
        if tombstone is not None:
            return [] if stanza.type == "error" else [tombstone.refuse(stanza, self._jid)]
        room = self._rooms.get(to.bare)
        if room is None:
            return self._to_missing_room(stanza, now)
        if stanza.kind == "presence":
            out = room.presence(stanza, now)
        elif stanza.kind == "message":
            out = message(room, stanza, now)
        else:
            out = iq(room, stanza, now)
        self._settle(room)
        return out

    def _to_service(self, stanza: Stanza) -> list[Stanza]:
        if stanza.kind != "iq" or stanza.type not in ("get", "set"):
            return []
        query = next(iter(stanza.children), Element(""))
        if stanza.type == "get" and query.tag == f"{{{DISCO_INFO}}}query":
            return [result(stanza, Element(query.tag, (), service_info()))]
        return [error_reply(stanza, "service-unavailable", "cancel")]

    def _to_missing_room(self, stanza: Stanza, now: float) -> list[Stanza]:
        # Only a join (available presence with the muc <x/>) to room/nick creates a room.
        to = stanza.to
        join = stanza.kind == "presence" and stanza.type is None and stanza.find(MUC_X) is not None
        if join and to is not None and to.resource is not None:
            room = self._new_room(to.bare)
            out = room.create(stanza, now, lock=self._lock)
            if room.occupants:
                self._rooms[room.jid] = room
            return out
        if stanza.type == "error":
            return []
        return [error_reply(stanza, "item-not-found", "cancel", by=self._jid)]

    def _new_room(self, jid: JID) -> Room:
        # Each incarnation of a room JID salts its occupant-ids anew, as Prosody's new
        # random salt does; counters keep the simulation reproducible.
        incarnation = self._incarnations.get(jid, 0) + 1
        self._incarnations[jid] = incarnation
        return Room(
            jid, self._jid, f"{jid}#{incarnation}", self._ids, history_length=self._history_length
        )

    def _settle(self, room: Room) -> None:
        # A room that emptied (temporary) or was destroyed goes; a persistent one that was
        # destroyed leaves a tombstone.
        if not room.vanished:
            return
        del self._rooms[room.jid]
        if room.tombstone is not None:
            self._tombstones[room.jid] = room.tombstone

    def _room(self, room: JID) -> Room:
        try:
            return self._rooms[room.bare]
        except KeyError:
            raise KeyError(f"no room {room}") from None

    def create_room(
        self,
        name: str,
        *,
        persistent: bool = False,
        members_only: bool = False,
        password: str | None = None,
        moderated: bool = False,
        non_anonymous: bool = False,
        logging: bool = False,
        subject: str | None = None,
        allow_pm: bool = True,
    ) -> JID:
        """Make ``name@domain`` as an administrator would: unlocked, no occupants, no owner.

        The room stays even while empty (until its last occupant leaves, if it is not
        ``persistent``). A tombstone of that name is cleared. Raises :class:`ValueError`
        if the room exists.
        """
        jid = JID.parse(f"{name}@{self._jid}")
        if jid in self._rooms:
            raise ValueError(f"room {jid} exists")
        self._tombstones.pop(jid, None)
        room = self._new_room(jid)
        room.persistent, room.members_only, room.password = persistent, members_only, password
        room.moderated, room.non_anonymous, room.logging = moderated, non_anonymous, logging
        room.subject, room.allow_pm = subject or None, allow_pm
        self._rooms[jid] = room
        return jid

    def set_affiliation(
        self, room: JID, jid: JID, affiliation: str, *, now: float = 0.0
    ) -> list[Stanza]:
        """Give ``jid``'s bare JID an affiliation, as a service administrator (§9, §10).

        Returns what the room announces: a presence for each affected occupant (with 301
        and removal for ``outcast``), or a message to the occupants if none is affected.
        Raises :class:`KeyError` for an unknown room and :class:`ValueError` for an
        unknown affiliation. ``now`` is accepted for symmetry; affiliations are timeless.
        """
        del now
        if affiliation not in AFFILIATION_RANK:
            raise ValueError(f"unknown affiliation {affiliation!r}")
        target = self._room(room)
        out = target.set_affiliation(None, jid, affiliation, None)
        self._settle(target)
        return out if not isinstance(out, Refusal) else []

    def kick(
        self, room: JID, nick: str, *, actor: str | None = None, reason: str | None = None
    ) -> list[Stanza]:
        """Kick the occupant ``nick`` (role none, 307, §8.2) as the service would.

        ``actor`` is the nick shown in ``<actor/>``. Raises :class:`KeyError` for an
        unknown room or nick.
        """
        target = self._room(room)
        if nick not in target.occupants:
            raise KeyError(f"no occupant {nick!r} in {room}")
        shown = None if actor is None else Actor(actor)
        out = target.set_role(None, nick, "none", reason, shown=shown)
        self._settle(target)
        return out if not isinstance(out, Refusal) else []

    def destroy(
        self, room: JID, *, reason: str | None = None, alternate: JID | None = None
    ) -> list[Stanza]:
        """Destroy a room (§10.9): each occupant gets its own unavailable with ``<destroy/>``.

        A persistent room leaves a tombstone: later joins get ``gone``. Raises
        :class:`KeyError` for an unknown room.
        """
        target = self._room(room)
        out = target.destroy(None if alternate is None else str(alternate), reason, None)
        self._settle(target)
        return out

    def shutdown(self) -> list[Stanza]:
        """The service stops (§11.2): every occupant gets its unavailable with 332.

        Temporary rooms are gone afterwards; persistent rooms stay, empty.
        """
        out: list[Stanza] = []
        for room in list(self._rooms.values()):
            out += room.clear((status(332),))
            room.vanished = not room.persistent
            self._settle(room)
        return out

    def forget(self, real_jid: JID) -> None:
        """Every room silently drops the session ``real_jid`` (a ghost, finding 12).

        The client still believes it is joined; self-pings now get ``not-acceptable``. An
        emptied temporary room disappears.
        """
        for room in list(self._rooms.values()):
            room.forget(real_jid)
            self._settle(room)

    def occupants(self, room: JID) -> dict[str, frozenset[JID]]:
        """The room's occupants: nick -> the real JIDs of its sessions."""
        return {nick: frozenset(occ.sessions) for nick, occ in self._room(room).occupants.items()}

    def subject(self, room: JID) -> str | None:
        """The room's subject, ``None`` when it has none (never set, or cleared)."""
        return self._room(room).subject

    def affiliation(self, room: JID, jid: JID) -> str:
        """The affiliation of ``jid``'s bare JID in ``room`` (``'none'`` when it has none)."""
        return self._room(room).affiliation(jid)

    def occupant_id(self, room: JID, jid: JID) -> str:
        """The XEP-0421 occupant-id the room gives ``jid``'s bare JID."""
        return occupant_id(self._room(room).salt, jid.bare)
