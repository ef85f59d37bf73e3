"""The account's one presence in the room, aggregated from its sessions (RFC 6121 §4.7.2.1)."""

from __future__ import annotations

from helpers import LAPTOP, PHONE, Harness, join, self_presence, x
from minimix_core import Deliver, Discard, DiscardReason, Send


def update(show: str | None, extra: str = "") -> str:
    inner = f"<show>{show}</show>" if show else ""
    return f"<presence to='lounge@muc.example.net/alice'>{inner}{extra}</presence>"


def sent(show: str | None) -> Send:
    inner = f"<show>{show}</show>" if show else ""
    return Send(
        stanza=x(
            f"<presence from='alice@example.org' to='lounge@muc.example.net/alice'>{inner}</presence>"
        )
    )


def test_update_that_does_not_change_the_aggregate_sends_nothing() -> None:
    """The laptop goes away while the phone is online: the account is still online."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    away = x(update("away"))
    assert h.session(LAPTOP, away) == [Discard(stanza=away, reason=DiscardReason.PRESENCE_UPDATE)]


def test_most_available_wins_and_the_latest_breaks_ties() -> None:
    """chat > online > dnd > away > xa."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(update("away")))
    assert h.session(PHONE, x(update("xa"))) == [sent("away")]
    assert h.session(LAPTOP, x(update("chat"))) == [sent("chat")]
    assert h.session(PHONE, x(update("dnd"))) == [
        Discard(stanza=x(update("dnd")), reason=DiscardReason.PRESENCE_UPDATE)
    ]


def test_caps_never_reach_the_room() -> None:
    """XEP-0115: disco for the occupant would reach the server, not this client."""
    h = Harness()
    h.joined(PHONE)
    caps = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>"
    assert h.session(PHONE, x(update("dnd", caps))) == [sent("dnd")]


def test_session_leaving_can_change_the_aggregate() -> None:
    """The most available session leaves: the room sees the account's new presence."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(PHONE, x(update("xa")))
    actions = h.session(
        LAPTOP, x("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    )
    assert actions[-1] == sent("xa")
    assert isinstance(actions[0], Deliver)


def test_late_joiner_presence_counts_too() -> None:
    """A session joining 'chat' while the account is away makes the account chatty."""
    h = Harness()
    h.session(
        PHONE,
        x(
            "<presence to='lounge@muc.example.net/alice' id='j1'><show>away</show><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ),
    )
    h.room(self_presence())
    actions = h.session(
        LAPTOP,
        x(
            "<presence to='lounge@muc.example.net/alice' id='j2'><show>chat</show><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ),
    )
    assert actions[-1] == sent("chat")


def test_presence_to_the_room_bare_jid_is_an_update_too() -> None:
    """Prosody treats presence to the room JID from an occupant as an update."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(LAPTOP, x(update("away")))
    assert h.session(
        PHONE, x("<presence to='lounge@muc.example.net'><show>xa</show></presence>")
    ) == [sent("away")]


def test_pending_session_presence_update_is_discarded() -> None:
    """Not in the room yet: nothing to aggregate."""
    h = Harness()
    h.session(PHONE, join())
    early = x(update("away"))
    assert h.session(PHONE, early) == [Discard(stanza=early, reason=DiscardReason.PRESENCE_UPDATE)]


def test_only_the_creator_session_sees_201() -> None:
    """XEP-0045 §10.1.1: the room was created by one join, the first session's."""
    h = Harness()
    h.session(PHONE, join())
    h.session(LAPTOP, join(jid="j2"))
    created = self_presence(codes=(110, 201), role="moderator", affiliation="owner")
    assert h.room(created) == [
        Deliver(session=PHONE, stanza=created.with_to(PHONE)),
        Deliver(
            session=LAPTOP,
            stanza=self_presence(codes=(110,), role="moderator", affiliation="owner")
            .with_to(LAPTOP)
            .replace(id=None),
        ),
    ]


def test_show_is_found_wherever_it_stands() -> None:
    """A status before the show does not hide it."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(
        LAPTOP,
        x(update(None, "<status>busy</status>")).replace(
            children=(*x("<presence><status>busy</status><show>dnd</show></presence>").children,)
        ),
    )
    assert h.session(PHONE, x(update("xa"))) == [
        Send(
            stanza=x(
                "<presence from='alice@example.org' to='lounge@muc.example.net/alice'><status>busy</status><show>dnd</show></presence>"
            )
        )
    ]
