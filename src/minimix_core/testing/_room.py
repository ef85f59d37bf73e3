"""One simulated MUC room: the presence side of XEP-0045, as Prosody 0.12 does it.

Joins, resyncs, multi-session nicks, nick changes, leaves, kicks, bans, error kicks and
room destruction. The room's state and rendering are in :mod:`._state`, messages and
IQs in :mod:`._traffic`, the service that owns the rooms in :mod:`._service`.
"""

from __future__ import annotations

import attrs

from .._jid import JID
from .._muc import DESTROY, MUC_USER, MUC_X, NOT_CONNECTED_TEXT, STATUS_TEXT, USER_X
from .._stanza import Element, Stanza
from ._parts import (
    AFFILIATION_RANK,
    LOCK_TIMEOUT,
    PASSWORD,
    REASON,
    ROLE_RANK,
    Actor,
    Occupant,
    Presence,
    Refusal,
    Tombstone,
    element,
    error_details,
    error_reply,
    filtered,
    item,
    occupant_id,
    recipient,
    sender,
    status,
)
from ._state import UNAVAILABLE, RoomState

__all__ = ["Room"]


@attrs.define(eq=False)
class Room(RoomState):
    """A room's behaviour: joins, leaves, nick changes and removals (presence side)."""

    # -- presence from occupants and would-be occupants --------------------------------

    def create(self, stanza: Stanza, now: float, *, lock: bool) -> list[Stanza]:
        """The join that created the room (§10.1.1): owner, moderator, status 201."""
        real, nick = sender(stanza), recipient(stanza).resource or ""
        muc_x = stanza.find(MUC_X)
        if not nick.strip() or muc_x is None:
            return [self._invisible(stanza)]
        self.affiliations[real.bare] = "owner"
        self.locked_until = now + LOCK_TIMEOUT if lock else None
        password = muc_x.find(PASSWORD)
        self.password = None if password is None else password.text or None
        occ = Occupant(nick, real.bare, "moderator", occupant_id(self.salt, real.bare))
        occ.sessions[real] = Presence(None, stanza.id, filtered(stanza.children))
        self.occupants[nick] = occ
        self.nick_of[real] = nick
        out = self.publicise(occ, occ.primary, head=(status(201),))
        return out + self._catch_up(real, muc_x, now)

    def _invisible(self, stanza: Stanza) -> Stanza:
        text = "Invisible Nicknames are forbidden"
        return error_reply(stanza, "not-allowed", "modify", text=text, by=self.jid)

    def presence(self, stanza: Stanza, now: float) -> list[Stanza]:
        """A presence to the room or to an occupant JID (Prosody's ``handle_normal_presence``)."""
        real = sender(stanza)
        if stanza.type == "error":
            return self.kick_for_error(real, stanza)
        nick = recipient(stanza).resource
        if nick is None:
            # Prosody takes presence to the bare room JID as meant for one's own nick.
            nick = self.nick_of.get(real)
            if nick is None:
                return []
            stanza = stanza.with_to(self.occupant_jid(nick))
        if stanza.type not in (None, "unavailable", "probe"):
            return [error_reply(stanza, "bad-request", "modify", by=self.jid)]
        orig = self.occupant_of(real)
        muc_x = stanza.find(MUC_X)
        payload = filtered(stanza.children)
        if stanza.type == "unavailable":
            # §17.3 rule 5: unavailable from a non-occupant is ignored (finding 15).
            pres = Presence("unavailable", stanza.id, payload)
            return [] if orig is None else self._drop_session(orig, real, pres)
        if orig is None and muc_x is None and stanza.type is None:
            # Finding 1: "Attempted join without <x>, possibly desynced".
            text = NOT_CONNECTED_TEXT
            return [error_reply(stanza, "item-not-found", "cancel", text=text, by=self.jid)]
        if stanza.type == "probe":
            return self._probe(orig, nick, stanza)
        if not nick.strip():
            return [self._invisible(stanza)]
        pres = Presence(None, stanza.id, payload)
        if orig is not None and orig.nick == nick:
            return self._update(orig, real, pres, muc_x, now)
        dest = self.occupants.get(nick)
        if orig is None:
            refusal = self._admission(stanza, now)
            if refusal is not None:
                return [refusal]
        if dest is not None and dest.bare != real.bare:
            return [error_reply(stanza, "conflict", "cancel", by=self.jid)]
        out = [] if orig is None else self._leave_nick(orig, real, nick, dest)
        return out + self._enter(dest, real, nick, pres, orig, muc_x, now)

    def _admission(self, stanza: Stanza, now: float) -> Stanza | None:
        # Prosody's pre-join checks, in its priority order: members-only (§7.2.6), ban
        # (§7.2.7), password (§7.2.5), lock (§7.2.10; by the service, like "no such room").
        affiliation = self.affiliation(sender(stanza))
        if self.members_only and AFFILIATION_RANK[affiliation] <= 0:
            return error_reply(stanza, "registration-required", "auth", by=self.jid)
        if affiliation == "outcast":
            return error_reply(stanza, "forbidden", "auth", by=self.jid)
        muc_x = stanza.find(MUC_X)
        given = None if muc_x is None else muc_x.find(PASSWORD)
        if self.password is not None and (given is None or given.text != self.password):
            return error_reply(stanza, "not-authorized", "auth", by=self.jid)
        if self.is_locked(now):
            return error_reply(stanza, "item-not-found", "cancel", by=self.service)
        return None

    def _update(
        self, occ: Occupant, real: JID, pres: Presence, muc_x: Element | None, now: float
    ) -> list[Stanza]:
        # A presence update (§7.7), or with <x/> a resync (§7.2.1, finding 5): the whole
        # join sequence again for this session, a duplicate available for the others.
        occ.sessions[real] = pres
        if muc_x is None:
            return self.publicise(occ, occ.primary)
        out = self._occupant_list(real)
        out += self.publicise(occ, occ.primary)
        return out + self._catch_up(real, muc_x, now)

    def _enter(
        self,
        dest: Occupant | None,
        real: JID,
        nick: str,
        pres: Presence,
        orig: Occupant | None,
        muc_x: Element | None,
        now: float,
    ) -> list[Stanza]:
        # A session joins ``nick``: a new occupant, or one more session of the same bare
        # JID's occupant (§4 multi-session nick, finding 7), or the target of a nick change.
        if dest is None:
            role = self.default_role(self.affiliation(real)) if orig is None else orig.role
            dest = Occupant(nick, real.bare, role, occupant_id(self.salt, real.bare))
            self.occupants[nick] = dest
        dest.sessions[real] = pres
        self.nick_of[real] = nick
        # A new session always has <x/>; a nick change gets the full sequence only with it.
        out = [] if muc_x is None else self._occupant_list(real)
        flags = ((100, self.non_anonymous), (170, self.logging))
        codes = tuple(status(code) for code, on in flags if on and orig is None)
        out += self.publicise(dest, dest.primary, self_head=codes)
        if orig is not None and self.occupants.get(orig.nick) is orig:
            # The session left a multi-session nick: it sees that nick's other sessions stay.
            out.append(self._render(orig, orig.primary, full=True).with_to(real))
        if muc_x is not None:
            out += self._catch_up(real, muc_x, now)
        return out

    def _leave_nick(
        self, orig: Occupant, real: JID, nick: str, dest: Occupant | None
    ) -> list[Stanza]:
        # The old-nick half of a nick change (§7.6).
        out: list[Stanza] = []
        if dest is not None:
            # Prosody shows the session the multi-session nick it joins as left first.
            note = Element(STATUS_TEXT, text=f"you are joining pre-existing session {nick}")
            x = Element(USER_X, (), (item(self.affiliation(real), "none"),))
            unavailable = Stanza(
                "presence",
                type="unavailable",
                from_=self.occupant_jid(nick),
                to=real,
                children=(note, x),
            )
            out.append(unavailable)
        last = len(orig.sessions) == 1
        if dest is None and last:
            # The ordinary case: everyone sees 303 with the new nick; the changer's own
            # copy carries no occupant-id (finding 17).
            out += self.publicise(
                orig,
                UNAVAILABLE,
                head=(status(303),),
                nick=nick,
                own=[(real, UNAVAILABLE)],
                own_occupant_id=False,
            )
            self._remove(orig)
            return out
        # Only this session moves: it alone sees 303; the rest of the old nick stays.
        own = self._render(
            orig,
            UNAVAILABLE,
            full=True,
            tail=(status(303), status(110)),
            nick=nick,
            with_occupant_id=False,
            sessions=[real],
        )
        out.append(own.with_to(real))
        if last:
            # It was the old nick's only session: the others see that nick go.
            orig.role = "none"
            out += self.publicise(orig, UNAVAILABLE, own=[])
            self._remove(orig)
            return out
        del orig.sessions[real], self.nick_of[real]
        return out + self.publicise(orig, orig.primary)

    def _drop_session(
        self, orig: Occupant, real: JID, pres: Presence, head: tuple[Element, ...] = ()
    ) -> list[Stanza]:
        # A session leaves (§7.14) or is dropped for an error (333, finding 11).
        if len(orig.sessions) == 1:
            orig.role = "none"
            self._remove(orig)
            out = self.publicise(orig, pres, head=head)
            self._vacate()
            return out
        # Others keep the occupant: they see its presence again; only ``real`` goes.
        del orig.sessions[real], self.nick_of[real]
        out = self.publicise(orig, orig.primary)
        gone = self._render(
            orig, pres, full=True, head=head, tail=(status(110),), sessions=[real], role="none"
        )
        return [*out, gone.with_to(real)]

    def _probe(self, orig: Occupant | None, nick: str, stanza: Stanza) -> list[Stanza]:
        # §17.3 rule 4, as Prosody: occupants may probe, others get not-acceptable.
        if orig is None:
            text = NOT_CONNECTED_TEXT
            return [error_reply(stanza, "not-acceptable", "cancel", text=text, by=self.jid)]
        probed = self.occupants.get(nick)
        if probed is None:
            return []
        full = self.can_see(orig) or probed.bare == orig.bare
        shown = self._render(probed, probed.primary, full=full)
        return [shown.with_to(s) for s in orig.sessions]

    # -- removal ---------------------------------------------------------------------------

    def kick_for_error(self, real: JID, stanza: Stanza) -> list[Stanza]:
        """Drop the session that bounced an error to the room (333, finding 11)."""
        orig = self.occupant_of(real)
        if orig is None:
            return []
        condition, text = error_details(stanza)
        message = "Kicked: " + (condition.replace("-", " ") if condition else "presence error")
        if text is not None and self.non_anonymous:
            message += f": {text}"
        pres = Presence("unavailable", None, (Element(STATUS_TEXT, text=message),))
        return self._drop_session(orig, real, pres, head=(status(333),))

    def set_role(
        self,
        actor: JID | None,
        nick: str,
        role: str,
        reason: str | None,
        *,
        shown: Actor | None = None,
    ) -> Refusal | list[Stanza]:
        """Change an occupant's role (§8.2-§8.5); role ``none`` kicks with 307.

        ``actor`` is the requester's real JID (checked as Prosody's ``may_set_role``
        does), or ``None`` for the service itself, shown as ``shown``.
        """
        occ = self.occupants.get(nick)
        if occ is None:
            return Refusal("modify", "item-not-found")
        if role not in ROLE_RANK:
            return Refusal("modify", "not-acceptable")
        if actor is not None:
            refusal = self._may_set_role(actor, occ, role)
            if refusal is not None:
                return refusal
            shown = Actor(self.nick_of.get(actor), actor)
        if role != "none":
            occ.role = role
            return self.publicise(occ, occ.primary, actor=shown, reason=reason)
        occ.role = "none"
        self._remove(occ)
        out = self.publicise(occ, UNAVAILABLE, head=(status(307),), actor=shown, reason=reason)
        self._vacate()
        return out

    def _may_set_role(self, actor: JID, occ: Occupant, role: str) -> Refusal | None:
        mine, theirs = self.affiliation(actor), self.affiliation(occ.bare)
        refused = Refusal("cancel", "not-allowed")
        if AFFILIATION_RANK[mine] < AFFILIATION_RANK[theirs]:
            return refused
        if "moderator" in (occ.role, role) and mine not in ("owner", "admin"):
            return refused
        acting = self.occupant_of(actor)
        return refused if acting is None or acting.role != "moderator" else None

    def set_affiliation(
        self,
        actor: JID | None,
        jid: JID,
        affiliation: str,
        reason: str | None,
    ) -> Refusal | list[Stanza]:
        """Change a bare JID's affiliation (§9, §10): outcast bans with 301.

        ``actor`` is checked as Prosody does (owners may do anything but leave the room
        ownerless; admins only below admin), or ``None`` for the service itself.
        """
        if affiliation not in AFFILIATION_RANK:
            return Refusal("modify", "not-acceptable")
        jid = jid.bare
        target = self.affiliations.get(jid, "none")
        downgrade = AFFILIATION_RANK[target] > AFFILIATION_RANK[affiliation]
        shown = None
        if actor is not None:
            refusal = self._may_set_affiliation(actor, jid, target, affiliation, downgrade)
            if refusal is not None:
                return refusal
            shown = Actor(self.nick_of.get(actor), actor)
        self.affiliations[jid] = affiliation
        if affiliation == "none":
            del self.affiliations[jid]
        role = self.default_role(affiliation)
        head = () if role != "none" else (status(301 if affiliation == "outcast" else 321),)
        updated = [occ for occ in self.occupants.values() if occ.bare == jid]
        if not updated:
            # Finding 16: only current occupants hear of it (moderators in semi-anonymous rooms).
            x = Element(USER_X, (), (*head, item(affiliation, None, jid=jid, reason=reason)))
            notice = Stanza("message", from_=self.jid, children=(x,))
            seen = [
                o for o in self.occupants.values() if self.non_anonymous or o.role == "moderator"
            ]
            return [notice.with_to(s) for o in seen for s in o.sessions]
        out: list[Stanza] = []
        for occ in updated:
            was_moderator = occ.role == "moderator"
            if downgrade or ROLE_RANK[occ.role] < ROLE_RANK[role]:
                occ.role = role
            if occ.role == "none":
                self._remove(occ)
                out += self.publicise(occ, UNAVAILABLE, head=head, actor=shown, reason=reason)
                continue
            out += self.publicise(occ, occ.primary, actor=shown, reason=reason)
            if not self.non_anonymous and was_moderator != (occ.role == "moderator"):
                # Real-JID visibility changed: the occupant gets everyone again.
                for session in occ.sessions:
                    out += self._occupant_list(session, skip_bare=jid)
        self._vacate()
        return out

    def _may_set_affiliation(
        self, actor: JID, jid: JID, target: str, affiliation: str, downgrade: bool
    ) -> Refusal | None:
        mine = self.affiliation(actor)
        if mine == "owner":
            owners = [j for j, a in self.affiliations.items() if a == "owner" and j != jid]
            last = actor.bare == jid and downgrade and not owners
            return Refusal("cancel", "conflict") if last else None
        high = ("owner", "admin")
        if mine != "admin" or affiliation in high or target in high:
            return Refusal("cancel", "not-allowed")
        return None

    def clear(self, head: tuple[Element, ...]) -> list[Stanza]:
        """Remove everyone at once: each occupant sees only its own unavailable (finding 13)."""
        gone = list(self.occupants.values())
        for occ in gone:
            occ.role = "none"
        self.occupants.clear()
        self.nick_of.clear()
        return [
            s for occ in gone for s in self.publicise(occ, UNAVAILABLE, head=head, others=False)
        ]

    def destroy(
        self, alternate: str | None, reason: str | None, password: str | None
    ) -> list[Stanza]:
        """Destroy the room (§10.9): unavailable with ``<destroy/>``; a tombstone if persistent."""
        parts = [] if reason is None else [Element(REASON, text=reason)]
        if password is not None:
            parts.append(Element(f"{{{MUC_USER}}}password", text=password))
        destroy = element(DESTROY, (("jid", alternate),), *parts)
        self.vanished = True
        self.tombstone = Tombstone(reason, alternate) if self.persistent else None
        return self.clear((destroy,))

    def forget(self, real: JID) -> None:
        """Drop a session without a word, as a room that lost it in a restart."""
        occ = self.occupant_of(real)
        if occ is None:
            return
        del occ.sessions[real], self.nick_of[real]
        if not occ.sessions:
            del self.occupants[occ.nick]
            self._vacate()
