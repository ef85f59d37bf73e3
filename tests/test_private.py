"""Private messages across devices (XEP-0045 §7.5, XEP-0280 carbons, XEP-0334 hints)."""

from __future__ import annotations

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    TABLET,
    Harness,
    join,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import (
    Archive,
    Bookmark,
    BookmarksChanged,
    Deliver,
    Discard,
    DiscardReason,
    Send,
)

SENT = "<message to='lounge@muc.example.net/bob' type='chat' id='p1'><body>psst</body></message>"


def test_sent_pm_leaves_from_the_account_and_other_sessions_get_a_sent_carbon() -> None:
    """XEP-0280 §6: every other attached session sees the PM it did not send itself."""
    h = Harness()
    h.joined(PHONE, LAPTOP, TABLET)
    assert h.session(PHONE, x(SENT)) == [
        Send(
            stanza=x(
                "<message from='alice@example.org' to='lounge@muc.example.net/bob' type='chat' id='p1'>"
                "<body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>"
            )
        ),
        *[
            Deliver(
                session=other,
                stanza=x(
                    f"""
                    <message from='alice@example.org' to='{other}' type='chat'>
                      <sent xmlns='urn:xmpp:carbons:2'>
                        <forwarded xmlns='urn:xmpp:forward:0'>
                          <message xmlns='jabber:client' from='alice@example.org/phone'
                                   to='lounge@muc.example.net/bob' type='chat' id='p1'>
                            <body>psst</body>
                            <x xmlns='http://jabber.org/protocol/muc#user'/>
                          </message>
                        </forwarded>
                      </sent>
                    </message>
                    """
                ),
            )
            for other in (LAPTOP, TABLET)
        ],
    ]


def test_incoming_pm_reaches_every_session_once_marked_no_copy() -> None:
    """Fixture k, XEP-0334: each session gets it from the router; carbons must not add more."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    pm = x(
        """
        <message type='chat' to='alice@example.org' from='lounge@muc.example.net/bob' id='pm1' xml:lang='en'>
          <body>psst alice</body>
          <x xmlns='http://jabber.org/protocol/muc#user'/>
        </message>
        """
    )
    marked = x(
        """
        <message type='chat' to='alice@example.org' from='lounge@muc.example.net/bob' id='pm1' xml:lang='en'>
          <body>psst alice</body>
          <x xmlns='http://jabber.org/protocol/muc#user'/>
          <no-copy xmlns='urn:xmpp:hints'/>
        </message>
        """
    )
    # Kept and archived once like a room message; the same message again is a duplicate.
    assert h.room(pm) == [
        Archive(account=ALICE, stanza=marked),
        Deliver(session=PHONE, stanza=marked.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=marked.with_to(LAPTOP)),
    ]
    assert h.room(marked) == [Discard(stanza=marked, reason=DiscardReason.DUPLICATE)]


def test_pm_error_goes_back_to_the_sender_only() -> None:
    """XEP-0045 §7.5: unknown nick is item-not-found; only the sending session sees it."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(SENT))
    error = x(
        "<message type='error' from='lounge@muc.example.net/bob' to='alice@example.org' id='p1'>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    assert h.room(error) == [Deliver(session=LAPTOP, stanza=error.with_to(LAPTOP))]


def test_sent_carbon_of_a_pm_without_id_has_no_id_either() -> None:
    """The forwarded copy is the original as sent: no invented attributes."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    actions = h.session(
        PHONE, x("<message to='lounge@muc.example.net/bob' type='chat'><body>hi</body></message>")
    )
    carbon = actions[1]
    assert isinstance(carbon, Deliver)
    inner = carbon.stanza.children[0].children[0].children[0]
    assert inner.attrs == (
        ("from", "alice@example.org/phone"),
        ("to", "lounge@muc.example.net/bob"),
        ("type", "chat"),
    )


def test_pm_marked_private_or_no_copy_gets_no_sent_carbon() -> None:
    """XEP-0280 §7, XEP-0334: the sender asked that its other devices get no copy."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    for hint in ("<private xmlns='urn:xmpp:carbons:2'/>", "<no-copy xmlns='urn:xmpp:hints'/>"):
        pm = x(
            f"<message to='lounge@muc.example.net/bob' type='chat' id='p1'><body>psst</body>{hint}</message>"
        )
        assert h.session(PHONE, pm) == [
            Send(
                stanza=x(
                    "<message from='alice@example.org' to='lounge@muc.example.net/bob' type='chat' id='p1'>"
                    f"<body>psst</body>{hint}<x xmlns='http://jabber.org/protocol/muc#user'/></message>"
                )
            )
        ]


def test_a_pm_before_an_autojoin_is_answered_is_kept_for_the_next_device() -> None:
    """XEP-0045 §7.5: a room's history never replays private messages. One that comes
    while a bookmark's join waits for the room's answer, with no device there, is kept
    for the next device to come, as once the account is in."""
    h = Harness()
    marks = (Bookmark(room=ROOM, autojoin=True, nick="alice"),)
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=h.now)
    h.timer(h.now)
    pm = x(
        f"<message from='{ROOM}/bob' to='{ALICE}' type='chat' id='p1'><body>psst</body>"
        "<no-copy xmlns='urn:xmpp:hints'/></message>"
    )
    assert h.room(pm) == [
        Archive(account=ALICE, stanza=pm),
        Discard(stanza=pm, reason=DiscardReason.NO_SESSION),
    ]
    h.room(occupant("bob"))
    h.room(self_presence())
    h.room(subject())
    late = [a.stanza for a in h.session(PHONE, join()) if isinstance(a, Deliver)]
    assert [s.id for s in late if s.kind == "message"] == ["p1", None]
