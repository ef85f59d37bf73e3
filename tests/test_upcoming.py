"""Router.upcoming(): the live deadlines, read-only, for tools that show what the router waits for."""

from __future__ import annotations

from minimix_core import (
    JID,
    Bookmark,
    BookmarksChanged,
    Config,
    FromSession,
    OccupancyState,
    Router,
    SessionClosed,
    ToAccount,
    parse_stanza,
)

ALICE = JID.parse("alice@example.org")
PHONE = ALICE.with_resource("phone")
LOUNGE = JID.parse("lounge@muc.example.net")
GARDEN = JID.parse("garden@muc.example.net")
JOIN = (
    "<presence to='lounge@muc.example.net/alice' id='j1'>"
    "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
)
WELCOME = (
    "<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='member' role='participant'/><status code='110'/></x></presence>"
)
DISCO = (
    "<iq to='lounge@muc.example.net' type='get' id='q1'>"
    "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
)


def test_every_kind_of_deadline_earliest_first() -> None:
    """Autojoin queue (XEP-0402), IQ timeout, disconnect grace, self-ping (XEP-0410 §3)."""
    router = Router()
    assert router.upcoming() == []
    garden = Bookmark(room=GARDEN, autojoin=True)
    router.handle(BookmarksChanged(account=ALICE, bookmarks=(garden,)), now=0.0)
    assert router.upcoming() == [(0.0, "autojoin", ALICE, GARDEN)]
    router.handle(FromSession(session=PHONE, stanza=parse_stanza(JOIN)), now=0.0)
    router.handle(ToAccount(stanza=parse_stanza(WELCOME)), now=1.0)
    router.handle(FromSession(session=PHONE, stanza=parse_stanza(DISCO)), now=2.0)
    router.handle(SessionClosed(session=PHONE), now=3.0)
    assert router.upcoming() == [
        (0.0, "autojoin", ALICE, GARDEN),
        (62.0, "iq", ALICE, "mmx-1"),
        (123.0, "grace", ALICE, LOUNGE),
        (901.0, "ping", ALICE, LOUNGE),
    ]
    assert router.next_deadline() == router.upcoming()[0][0]


def test_reading_it_changes_nothing() -> None:
    """Read-only: the same deadlines before and after, and the timers still fire."""
    router = Router()
    router.handle(FromSession(session=PHONE, stanza=parse_stanza(JOIN)), now=0.0)
    router.handle(ToAccount(stanza=parse_stanza(WELCOME)), now=1.0)
    first = router.upcoming()
    assert router.upcoming() == first == [(901.0, "ping", ALICE, LOUNGE)]
    [ping] = router.handle_timer(901.0)
    assert ping.stanza.find("{urn:xmpp:ping}ping") is not None


def test_a_room_waiting_for_its_autojoin_turn_shows_its_service_s_turn_in_its_view() -> None:
    """After a restart a bookmarked room waits for its turn in its MUC service's line: the
    occupancy's view gives that service's next turn (the room's own when it is first), as
    :meth:`Router.upcoming` does, not ``None`` as if nothing would ever move it on."""
    router = Router(Config(autojoin_interval=2.0))
    mark = Bookmark(room=LOUNGE, autojoin=True, nick="alice")
    router.handle(BookmarksChanged(account=ALICE, bookmarks=(mark,)), now=0.0)
    router.handle_timer(0.0)  # its join goes out, and is on its way at the restart
    restarted = Router.restore(router.snapshot(), now=5.0, config=router.config)
    seen = restarted.occupancy(ALICE, LOUNGE)
    assert seen is not None
    assert (seen.state, seen.next_deadline) == (OccupancyState.REJOIN_WAIT, 5.0)
    assert restarted.upcoming() == [(5.0, "autojoin", ALICE, LOUNGE)]
