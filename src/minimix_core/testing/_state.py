"""The state of a simulated MUC room and how it renders presence, as Prosody 0.12 does.

:class:`RoomState` holds a room's configuration, affiliations, occupants, subject and
history, and builds what the room sends about its occupants (``publicise``, the occupant
list a joiner gets, history and subject). :class:`._room.Room` adds the behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from .._jid import JID
from .._muc import USER_X
from .._stanza import Element, Stanza
from ._parts import (
    ACTOR,
    AFFILIATION_RANK,
    HISTORY,
    SUBJECT,
    Actor,
    HistoryEntry,
    Occupant,
    Presence,
    Tombstone,
    delay,
    element,
    item,
    occupant_id_element,
    select_history,
    status,
)

__all__ = ["UNAVAILABLE", "RoomState"]

UNAVAILABLE = Presence("unavailable")
"""The presence a room makes up for an occupant it removes (Prosody's generated one)."""


@attrs.define(eq=False)
class RoomState:
    """A room's configuration, affiliations, occupants, subject and history, and its rendering."""

    jid: JID
    service: JID
    salt: str
    ids: Iterator[int]
    persistent: bool = False
    members_only: bool = False
    password: str | None = None
    moderated: bool = False
    non_anonymous: bool = False
    logging: bool = False
    change_subject: bool = False
    allow_pm: bool = True
    history_length: int = 20
    locked_until: float | None = None
    affiliations: dict[JID, str] = attrs.Factory(dict)
    occupants: dict[str, Occupant] = attrs.Factory(dict)
    nick_of: dict[JID, str] = attrs.Factory(dict)
    subject: str | None = None
    subject_from: JID | None = None
    subject_time: float | None = None
    history: list[HistoryEntry] = attrs.Factory(list)
    vanished: bool = False
    tombstone: Tombstone | None = None

    # -- lookups -----------------------------------------------------------------------

    def occupant_jid(self, nick: str) -> JID:
        """``room@service/nick``."""
        return self.jid.with_resource(nick)

    def affiliation(self, jid: JID) -> str:
        """The affiliation of a JID's bare form (XEP-0045 §5.2: affiliations are per bare JID)."""
        return self.affiliations.get(jid.bare, "none")

    def occupant_of(self, real: JID) -> Occupant | None:
        """The occupant whose session is exactly ``real`` (Prosody matches exact JIDs)."""
        nick = self.nick_of.get(real)
        return None if nick is None else self.occupants[nick]

    def default_role(self, affiliation: str) -> str:
        """The role an affiliation brings on entry (Prosody's ``muc-get-default-role``)."""
        if AFFILIATION_RANK[affiliation] >= AFFILIATION_RANK["admin"]:
            return "moderator"
        if affiliation == "outcast" or (affiliation == "none" and self.members_only):
            return "none"
        return "visitor" if affiliation == "none" and self.moderated else "participant"

    def can_see(self, viewer: Occupant) -> bool:
        """Whether ``viewer`` sees real JIDs: everyone if non-anonymous, else moderators."""
        return self.non_anonymous or viewer.role == "moderator"

    def is_locked(self, now: float) -> bool:
        """A new room is locked until configured, or until the lock times out (§10.1.1)."""
        return self.locked_until is not None and now < self.locked_until

    def next_id(self) -> int:
        """A number never used before in this service: for stanza-ids and made-up ids."""
        return next(self.ids)

    # -- sending ---------------------------------------------------------------------------

    def broadcast(self, stanza: Stanza) -> list[Stanza]:
        """``stanza`` to every session of every occupant, in joining order."""
        return [stanza.with_to(s) for occ in self.occupants.values() for s in occ.sessions]

    def subject_message(self, to: JID) -> Stanza:
        """The subject as a joiner gets it last (§7.2.15): empty ``<subject/>`` when none."""
        stamped = () if self.subject_time is None else (delay(self.jid, self.subject_time),)
        return Stanza(
            "message",
            type="groupchat",
            from_=self.subject_from or self.jid,
            to=to,
            children=(Element(SUBJECT, text=self.subject), *stamped),
        )

    def set_subject(self, occ: Occupant, text: str | None, now: float) -> list[Stanza]:
        """Change the subject and announce it (§8.1); an unchanged subject says nothing."""
        subject_from = self.occupant_jid(occ.nick)
        text = text or None
        if text == self.subject and subject_from == self.subject_from:
            return []
        self.subject, self.subject_from, self.subject_time = text, subject_from, now
        announce = Stanza(
            "message", type="groupchat", from_=subject_from, children=(Element(SUBJECT, text=text),)
        )
        return self.broadcast(announce)

    def record(self, stanza: Stanza, now: float) -> None:
        """Keep a broadcast message for later joiners, up to the room's history length."""
        self.history.append(HistoryEntry.of(stanza, self.jid, now))
        self.trim_history()

    def trim_history(self) -> None:
        """Forget the oldest messages beyond the room's history length."""
        del self.history[: max(0, len(self.history) - self.history_length)]

    def _render(
        self,
        occ: Occupant,
        pres: Presence,
        *,
        full: bool,
        head: tuple[Element, ...] = (),
        tail: tuple[Element, ...] = (),
        nick: str | None = None,
        actor: Actor | None = None,
        actor_jid: bool = False,
        reason: str | None = None,
        with_occupant_id: bool = True,
        sessions: Iterable[JID] | None = None,
        role: str | None = None,
    ) -> Stanza:
        # One presence about ``occ`` (no ``to`` yet). ``full`` shows one item per session
        # with its real JID; otherwise a single anonymous item (§7.2.3, §7.2.4).
        actor_el = None
        if actor is not None:
            shown = str(actor.jid) if actor_jid and actor.jid is not None else None
            attributes = (("nick", actor.nick), ("jid", shown))
            actor_el = element(ACTOR, attributes)
            actor_el = actor_el if actor_el.attrs else None
        affiliation = self.affiliation(occ.bare)
        jids: Iterable[JID | None] = (
            (occ.sessions if sessions is None else sessions) if full else [None]
        )
        items = tuple(
            item(affiliation, role or occ.role, jid=j, nick=nick, actor=actor_el, reason=reason)
            for j in jids
        )
        oid = (occupant_id_element(occ.occupant_id),) if with_occupant_id else ()
        return Stanza(
            "presence",
            type=pres.type,
            from_=self.occupant_jid(occ.nick),
            id=pres.id,
            children=(*pres.payload, *oid, Element(USER_X, (), (*head, *items, *tail))),
        )

    def publicise(
        self,
        occ: Occupant,
        base: Presence,
        *,
        head: tuple[Element, ...] = (),
        self_head: tuple[Element, ...] = (),
        nick: str | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        others: bool = True,
        own: list[tuple[JID, Presence]] | None = None,
        own_occupant_id: bool = True,
    ) -> list[Stanza]:
        """Prosody's ``publicise_occupant_status``: ``occ``'s presence to the whole room.

        Others get ``base`` with real JIDs if they may see them (their own bare JID's
        occupants always do); ``occ``'s own sessions each get their own presence (or
        ``base`` once the occupant is gone) with 110, never the actor's real JID.
        """
        out: list[Stanza] = []
        for other in list(self.occupants.values()) if others else []:
            if other is occ:
                continue
            full = self.can_see(other)
            shown = self._render(
                occ,
                base,
                full=full or other.bare == occ.bare,
                head=head,
                nick=nick,
                actor=actor,
                actor_jid=full,
                reason=reason,
            )
            out.extend(shown.with_to(s) for s in other.sessions)
        if own is None:
            gone = occ.role == "none"
            own = [(s, base if gone else pres) for s, pres in occ.sessions.items()]
        for session, pres in own:
            mine = self._render(
                occ,
                pres,
                full=True,
                head=(*head, *self_head),
                tail=(status(110),),
                nick=nick,
                actor=actor,
                reason=reason,
                with_occupant_id=own_occupant_id,
            )
            out.append(mine.with_to(session))
        return out

    def _occupant_list(self, real: JID, *, skip_bare: JID | None = None) -> list[Stanza]:
        # §7.2.3: every other occupant's presence, with real JIDs if ``real`` may see them.
        anonymous = not self.non_anonymous and self.affiliation(real) not in ("admin", "owner")
        viewer = self.occupant_of(real)
        anonymous = anonymous and not (viewer is not None and viewer.role == "moderator")
        shown = [
            self._render(occ, occ.primary, full=not anonymous or occ.bare == real.bare)
            for occ in self.occupants.values()
            if real not in occ.sessions and occ.bare != skip_bare
        ]
        return [stanza.with_to(real) for stanza in shown]

    def _catch_up(self, real: JID, muc_x: Element, now: float) -> list[Stanza]:
        # History then subject, to the joining session only (§7.2.13-§7.2.15).
        request = muc_x.find(HISTORY)
        history = select_history(self.history, request, self.history_length, now, real)
        return [*history, self.subject_message(real)]

    def _remove(self, occ: Occupant) -> None:
        # The occupant is gone; its object keeps its sessions for the goodbye presences.
        del self.occupants[occ.nick]
        for session in occ.sessions:
            self.nick_of.pop(session, None)

    def _vacate(self) -> None:
        # An empty temporary room disappears at once (finding 15).
        self.vanished = not self.occupants and not self.persistent
