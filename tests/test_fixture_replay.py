"""The real Prosody 0.12 transcripts, replayed through the router.

In each transcript an XEP-0114 component played the account's bare JID against a real
MUC. Here a client session (``alice@users.localhost/main``) says what the bare JID said,
and the router must (a) send to the room exactly what the bare JID sent — only an IQ's id
may differ, since the router picks its own — and (b) deliver everything the room sent the
bare JID to the session unchanged but for ``to`` (and the IQ id mapped back). Where the
transcript used another full JID of the account, that full JID is a session that did not
join; there the router must answer itself exactly as the room did.
"""

from __future__ import annotations

import pytest

from fixture_transcripts import StanzaEntry, load
from minimix_core import (
    JID,
    XML_LANG,
    Action,
    Continue,
    Deliver,
    Discard,
    Element,
    FromSession,
    Router,
    Send,
    Stanza,
    ToAccount,
)

ACCOUNT = JID.parse("alice@users.localhost")
NO_COPY = Element("{urn:xmpp:hints}no-copy")
USER_X = Element("{http://jabber.org/protocol/muc#user}x")
MAIN = ACCOUNT.with_resource("main")
COMPONENT = "component users.localhost"


def _plain(stanza: Stanza) -> Stanza:
    """The stanza without xml:lang, which only the room's copies carry."""
    return stanza.replace(attrs=tuple(a for a in stanza.attrs if a[0] != XML_LANG))


class Replay:
    """Feeds one transcript's component side through a router and checks each step."""

    def __init__(self) -> None:
        self.router = Router()
        self.ids: dict[str, str] = {}  # the account's IQ id in the transcript -> the router's
        self.answered: dict[str, list[Action]] = {}  # transcript id -> the router's own answer
        # The router let a stanza through unchanged: the room answers the session's own
        # full JID, which the transcript (sent from the bare JID) cannot show.
        self.passed_through = False
        self.checked = 0  # stanzas compared exactly, so a replay cannot pass vacuously

    def session_sends(self, entry: StanzaEntry) -> None:
        stanza = entry.stanza
        assert stanza.from_ is not None
        session = MAIN if stanza.from_.is_bare else stanza.from_
        actions = self.router.handle(
            FromSession(session=session, stanza=stanza.replace(from_=None)), now=entry.time
        )
        self.passed_through = actions == [Continue(stanza=stanza.replace(from_=None))]
        sends = [a for a in actions if isinstance(a, Send)]
        if not sends:
            self.answered[stanza.id or f"line{entry.line}"] = actions
            return
        [send] = sends
        expected = stanza.with_from(ACCOUNT)
        if stanza.type == "chat" and stanza.find(USER_X.tag) is None:
            # Documented difference: a PM carries the muc#user marker (§7.5 SHOULD).
            expected = expected.replace(children=(*expected.children, USER_X))
        if stanza.kind == "iq" and stanza.id is not None and send.stanza.id is not None:
            self.ids[stanza.id] = send.stanza.id
            expected = expected.replace(id=send.stanza.id)
        assert send.stanza == expected, f"line {entry.line}"
        self.checked += 1

    def room_sends(self, entry: StanzaEntry) -> None:
        stanza = entry.stanza
        to = stanza.to
        assert to is not None
        if self.passed_through:
            return
        if not to.is_bare and stanza.id not in self.answered:
            # Sent from another full JID in the transcript, from the account by the router.
            stanza = stanza.with_to(ACCOUNT)
        elif not to.is_bare:
            # The room answered a full JID: the router must already have answered the same.
            [answer] = [a for a in self.answered.pop(stanza.id or "", []) if isinstance(a, Deliver)]
            assert answer.session == to
            assert answer.stanza == _plain(stanza), f"line {entry.line}"
            self.checked += 1
            return
        if stanza.id in self.answered:
            # The router answered this itself (a self-ping, a second leave): nothing to check.
            return
        original_id = stanza.id
        if stanza.kind == "iq" and stanza.id in self.ids:
            stanza = stanza.replace(id=self.ids[stanza.id])
        actions = self.router.handle(ToAccount(stanza=stanza), now=entry.time)
        if stanza.kind == "iq" and stanza.type in ("get", "set"):
            # A room's request to the account is the server's to answer (fixtures finding 9).
            assert actions == [Continue(stanza=stanza)], f"line {entry.line}"
            return
        delivered = [a for a in actions if isinstance(a, Deliver)]
        if not delivered:
            assert all(isinstance(a, Discard) for a in actions), f"line {entry.line}: {actions}"
            return
        for action in delivered:
            expected = entry.stanza.with_to(action.session)
            if stanza.kind == "iq":
                expected = expected.replace(id=original_id)
            if stanza.type == "chat":
                # Documented difference: a forked PM says carbons must not copy it again.
                expected = expected.replace(children=(*expected.children, NO_COPY))
            assert action.stanza == expected, f"line {entry.line}"
            self.checked += 1


FIXTURES = [
    "a-create-room.txt",
    "b-second-join-groupchat.txt",
    "c-subject.txt",
    "d-nick-change.txt",
    "e-kick-ban.txt",
    "f-destroy.txt",
    "g-leave.txt",
    "h-join-errors.txt",
    "i-self-ping.txt",
    "j-history.txt",
    "k-pm-and-iq.txt",
]


@pytest.mark.parametrize("name", FIXTURES)
def test_transcript_replays_transparently(name: str) -> None:
    """XEP-0045 §7 throughout: with one session the router is invisible to room and client."""
    replay = Replay()
    for entry in load(name):
        if not isinstance(entry, StanzaEntry) or entry.connection != COMPONENT:
            continue
        if entry.direction == "to-server":
            replay.session_sends(entry)
        else:
            replay.room_sends(entry)
    assert replay.checked >= 5
