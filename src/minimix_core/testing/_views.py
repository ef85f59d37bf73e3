"""What a session of a chaos story knows of a room, from what it was delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .._stanza import Stanza

__all__ = ["SessionView", "StoryFailure", "codes", "expect", "stanza_id"]

_USER: Final = "http://jabber.org/protocol/muc#user"
_SID: Final = "{urn:xmpp:sid:0}stanza-id"


class StoryFailure(AssertionError):
    """An invariant broke: the message says which, the story's script reproduces it."""


def expect(ok: bool, failure: str) -> None:
    """Raise :class:`StoryFailure` with ``failure`` unless ``ok``."""
    if not ok:
        raise StoryFailure(failure)


def codes(stanza: Stanza) -> set[str | None]:
    """The muc#user status codes of ``stanza``, as written."""
    x = stanza.find(f"{{{_USER}}}x")
    return set() if x is None else {s.get("code") for s in x.findall(f"{{{_USER}}}status")}


def stanza_id(stanza: Stanza) -> str | None:
    """The first XEP-0359 stanza-id of ``stanza``, if any."""
    sid = stanza.find(_SID)
    return None if sid is None else sid.get("id")


@dataclass
class SessionView:
    """What one session knows of one room, only from what it was delivered.

    The stories change no nick, so a self-presence is one with 110 or the session's nick.
    """

    inside: bool = False
    nick: str | None = None
    others: set[str] = field(default_factory=set)
    subject: str | None = None
    stint: list[str] = field(default_factory=list)
    """Stanza-ids of the messages shown since the session was last told it is out (a
    client keeps its log while in; a join answered after a leave repeats the history)."""

    def out(self) -> None:
        """The session is out of the room: it forgets the occupants and starts a new log."""
        self.inside, self.stint = False, []
        self.others.clear()

    def see(self, stanza: Stanza) -> None:
        """Update the view with a delivered stanza; a message shown twice fails."""
        sender = stanza.from_
        nick = None if sender is None else sender.resource
        if stanza.kind == "presence":
            self._presence(stanza, nick)
        elif stanza.kind == "message" and stanza.type == "groupchat":
            key = stanza_id(stanza)
            if key is None:  # the subject: the room gives every message a stanza-id
                subject = stanza.find("subject")
                self.subject = "" if subject is None else subject.text or ""
            else:
                expect(key not in self.stint, f"message {key} shown twice to {stanza.to}")
                self.stint.append(key)

    def _presence(self, stanza: Stanza, nick: str | None) -> None:
        is_self = "110" in codes(stanza) or (self.inside and nick == self.nick)
        if stanza.type == "unavailable" and is_self:
            self.out()
        elif stanza.type == "unavailable":
            self.others.discard(nick or "")
        elif stanza.type is None and is_self:
            self.inside, self.nick = True, nick
        elif stanza.type is None and nick is not None:
            self.others.add(nick)
