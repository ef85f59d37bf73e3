"""What ejabberd 23.01's MUC sends that Prosody 0.12's does not, for this folder's scenarios.

ejabberd's rooms have a presence of their own, from the room's bare JID:

* joining, an occupant first gets the room's available presence, carrying the room's
  XEP-0115 caps (``<c node='http://www.process-one.net/en/ejabberd/'/>``), then the
  occupants' presences, its self-presence (110) and the subject;
* when the occupant leaves or is removed (leave, kick, destruction), it first gets the
  room's ``unavailable`` presence (no payload), then its own unavailable self-presence.

Both carry an id of the room's own, never the join's or the leave's.
"""

from __future__ import annotations

from collections.abc import Iterable

from minimix_core import JID, Stanza

CAPS = "http://jabber.org/protocol/caps"
EJABBERD_NODE = "http://www.process-one.net/en/ejabberd/"


def is_room_presence(stanza: Stanza, room: str) -> bool:
    """A presence from the room's own bare JID."""
    return stanza.kind == "presence" and stanza.from_ == JID.parse(room)


def room_presences(stanzas: Iterable[Stanza], room: str) -> list[Stanza]:
    """The presences among ``stanzas`` sent from the room's own bare JID."""
    return [s for s in stanzas if is_room_presence(s, room)]


def without_room_presences(stanzas: Iterable[Stanza], room: str) -> list[Stanza]:
    """``stanzas`` without those from the room's own bare JID."""
    return [s for s in stanzas if not is_room_presence(s, room)]


def is_room_caps(stanza: Stanza, room: str) -> bool:
    """The room's available presence with ejabberd's caps, as a join's answer starts."""
    caps = stanza.find(f"{{{CAPS}}}c")
    return (
        is_room_presence(stanza, room)
        and stanza.type is None
        and caps is not None
        and caps.get("node") == EJABBERD_NODE
    )


def is_room_unavailable(stanza: Stanza, room: str) -> bool:
    """The room's unavailable presence (no payload), as a leave's answer starts."""
    return is_room_presence(stanza, room) and stanza.type == "unavailable" and not stanza.children
