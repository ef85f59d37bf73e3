"""Room traffic forked to sessions, session groupchat rewritten (XEP-0045 §7.4, §7.2.16)."""

from __future__ import annotations

from unittest.mock import ANY

from helpers import (
    ALICE,
    LAPTOP,
    PHONE,
    ROOM,
    TABLET,
    Harness,
    archived,
    groupchat,
    join,
    occupant,
    subject,
    x,
)
from minimix_core import Archive, Config, Continue, Deliver, Discard, DiscardReason, Router, Send

REFLECTION = """
<message type='groupchat' to='alice@example.org' from='lounge@muc.example.net/bob' id='gc5'
         xml:lang='en'>
  <body>hello from bob</body>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='gJzRRgMec+gGw3NUwStsI6/1XV76rt1r+QSJeFPc+Rw='/>
  <stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='mEOkCQS80Dy4s91CMQqbB_NB'/>
  <delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' stamp='2026-11-24T10:00:00Z'/>
</message>
"""


def test_room_message_is_forked_to_every_attached_session_unchanged() -> None:
    """XEP-0045 §7.2.16: only `to` changes; stanza-id, occupant-id, delay, lang stay."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    message = x(REFLECTION)
    actions = h.room(message)
    assert actions == [
        archived(message),
        Deliver(session=PHONE, stanza=message.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=message.with_to(LAPTOP)),
    ]
    forked = actions[-1]
    assert isinstance(forked, Deliver)
    assert forked.stanza.children is message.children  # shared, not copied


def test_presence_of_others_is_forked_and_cached() -> None:
    """XEP-0045 §7.2.3, §7.14: others come and go; late joiners see who is there now."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    carol = occupant("carol")
    assert h.room(carol) == [Deliver(session=PHONE, stanza=carol.with_to(PHONE))]
    bob_leaves = occupant("bob", unavailable=True, role="none")
    assert h.room(bob_leaves) == [Deliver(session=PHONE, stanza=bob_leaves.with_to(PHONE))]
    occ = h.router._core.table.accounts[ALICE].rooms[ROOM]
    assert list(occ.view.occupants) == ["carol"]
    assert h.session(LAPTOP, join(jid="j2"))[0] == Deliver(
        session=LAPTOP, stanza=occupant("carol", to=LAPTOP)
    )


def test_presence_update_of_an_occupant_replaces_the_cached_one() -> None:
    """XEP-0045 §7.7: an occupant's new presence replaces the old in the late-join list."""
    h = Harness()
    h.joined(PHONE, others=("bob",))
    moderator = occupant("bob", role="moderator")
    h.room(moderator)
    occupants = h.router._core.table.accounts[ALICE].rooms[ROOM].view.occupants
    assert occupants == {"bob": moderator.replace(to=None)}  # kept without its to


def test_subject_change_is_forked_and_remembered() -> None:
    """XEP-0045 §8.1: a new subject reaches every session and later joiners."""
    h = Harness()
    h.joined(PHONE)
    new = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<subject>Tea at five</subject></message>"
    )
    assert h.room(new) == [Deliver(session=PHONE, stanza=new.with_to(PHONE))]
    assert h.session(LAPTOP, join(jid="j2"))[-1] == Deliver(
        session=LAPTOP, stanza=new.with_to(LAPTOP)
    )


def test_message_with_subject_and_body_is_not_a_subject_change() -> None:
    """XEP-0045 §8.1: a subject with a body is an ordinary message."""
    h = Harness()
    h.joined(PHONE)
    both = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<subject>Hi</subject><body>there</body></message>"
    )
    h.room(both)
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.subject == subject().replace(
        to=None
    )


def test_message_with_subject_and_thread_is_not_a_subject_change() -> None:
    """XEP-0045 §8.1: a subject with a thread names the thread; the room's subject stays."""
    h = Harness()
    h.joined(PHONE)
    threaded = x(
        "<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<subject>Plans</subject><thread>t1</thread></message>"
    )
    assert h.room(threaded) == [Deliver(session=PHONE, stanza=threaded.with_to(PHONE))]
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].view.subject == subject().replace(
        to=None
    )


def test_session_groupchat_goes_out_from_the_bare_jid_with_id_and_origin_id() -> None:
    """XEP-0045 §7.4, XEP-0359: id and origin-id unchanged so the reflection matches."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    said = x(
        """
        <message to='lounge@muc.example.net' type='groupchat' id='gc6'>
          <body>hello from alice</body>
          <origin-id xmlns='urn:xmpp:sid:0' id='origin-220332'/>
        </message>
        """
    )
    assert h.session(LAPTOP, said) == [Send(stanza=said.with_from(ALICE))]
    reflection = x(
        """
        <message type='groupchat' to='alice@example.org' from='lounge@muc.example.net/alice' id='gc6'>
          <body>hello from alice</body>
          <origin-id xmlns='urn:xmpp:sid:0' id='origin-220332'/>
          <stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='UVdS'/>
        </message>
        """
    )
    assert h.room(reflection) == [
        archived(reflection),
        Deliver(session=PHONE, stanza=reflection.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=reflection.with_to(LAPTOP)),
    ]


def test_session_may_write_its_own_or_bare_from() -> None:
    """RFC 6120 §8.1.2.1: a client may stamp its own address; the router accepts both forms."""
    h = Harness()
    h.joined(PHONE)
    own = x(
        "<message from='alice@example.org/phone' to='lounge@muc.example.net' type='groupchat'>"
        "<body>a</body></message>"
    )
    assert h.session(PHONE, own) == [Send(stanza=own.with_from(ALICE))]
    bare = own.replace(from_=ALICE)
    assert h.session(PHONE, bare) == [Send(stanza=own.with_from(ALICE))]


def test_groupchat_from_a_session_that_did_not_join_is_refused_like_the_room() -> None:
    """XEP-0045 §7.4, Prosody (fixture b): not-acceptable from the room, nothing sent."""
    h = Harness()
    h.joined(PHONE)
    said = x(
        "<message to='lounge@muc.example.net' type='groupchat' id='gc7'>"
        "<body>from a full jid</body></message>"
    )
    assert h.session(TABLET, said) == [
        Deliver(
            session=TABLET,
            stanza=x(
                """
                <message type='error' to='alice@example.org/tablet' from='lounge@muc.example.net' id='gc7'>
                  <error type='cancel'>
                    <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                    <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>You are not currently connected to this chat</text>
                  </error>
                </message>
                """
            ),
        )
    ]


def test_groupchat_to_a_room_the_account_is_not_in_continues() -> None:
    """Not a room the account is in (perhaps a MIX channel, XEP-0369): normal routing decides."""
    h = Harness()
    said = x(
        "<message to='garden@muc.example.net' type='groupchat' id='g'><body>hi</body></message>"
    )
    assert h.session(PHONE, said) == [Continue(stanza=said)]


def test_pending_session_groupchat_follows_the_join_to_the_room() -> None:
    """The room handles stanzas in order: the account's join comes first."""
    h = Harness()
    h.session(PHONE, join())
    said = x(
        "<message to='lounge@muc.example.net' type='groupchat' id='early'><body>hi</body></message>"
    )
    assert h.session(PHONE, said) == [Send(stanza=said.with_from(ALICE))]


def test_room_error_for_a_session_message_goes_to_that_session_only() -> None:
    """RFC 6120 §8.3: an error answers its sender; other sessions did not send anything."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    h.session(
        LAPTOP,
        x("<message to='lounge@muc.example.net' type='groupchat' id='v1'><body>x</body></message>"),
    )
    error = x(
        """
        <message type='error' from='lounge@muc.example.net' to='alice@example.org' id='v1'>
          <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>
        </message>
        """
    )
    assert h.room(error) == [Deliver(session=LAPTOP, stanza=error.with_to(LAPTOP))]
    # The id is spent: a second error with it goes to everyone.
    assert len(h.room(error)) == 2


def test_room_error_with_an_unknown_id_goes_to_every_session() -> None:
    """Nothing is dropped: an error nobody claims is shown to all attached sessions."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    error = x(
        "<message type='error' from='lounge@muc.example.net' to='alice@example.org' id='zz'>"
        "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    assert h.room(error) == [
        Deliver(session=PHONE, stanza=error.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=error.with_to(LAPTOP)),
    ]


def test_tracked_ids_are_bounded_oldest_forgotten_first() -> None:
    """Config.max_tracked_ids bounds what the router remembers of sent ids."""
    h = Harness(Router(Config(max_tracked_ids=2)))
    h.joined(PHONE, LAPTOP)
    for mid in ("a", "b", "c", "b"):
        h.session(
            LAPTOP,
            x(
                f"<message to='lounge@muc.example.net' type='groupchat' id='{mid}'><body>x</body></message>"
            ),
        )
    assert list(h.router._core.table.accounts[ALICE].rooms[ROOM].sent_ids or ()) == ["c", "b"]


def test_private_message_from_a_session_gets_the_muc_user_marker() -> None:
    """XEP-0045 §7.5: a PM carries an empty muc#user <x/>; it leaves from the bare JID."""
    h = Harness()
    h.joined(PHONE)
    pm = x(
        "<message to='lounge@muc.example.net/bob' type='chat' id='p1'><body>psst</body></message>"
    )
    assert h.session(PHONE, pm) == [
        Send(
            stanza=x(
                "<message from='alice@example.org' to='lounge@muc.example.net/bob' type='chat' id='p1'>"
                "<body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>"
            )
        )
    ]
    marked = pm.replace(
        children=(
            *pm.children,
            x("<message><x xmlns='http://jabber.org/protocol/muc#user'/></message>").children[0],
        )
    )
    assert h.session(PHONE, marked) == [Send(stanza=marked.with_from(ALICE))]


def test_private_message_from_a_session_not_in_the_room_is_refused() -> None:
    """XEP-0045 §7.5: a non-occupant's PM gets not-acceptable from the occupant JID."""
    h = Harness()
    h.joined(PHONE)
    pm = x(
        "<message to='lounge@muc.example.net/bob' type='chat' id='p1'><body>psst</body></message>"
    )
    [action] = h.session(TABLET, pm)
    assert isinstance(action, Deliver)
    assert str(action.stanza.from_) == "lounge@muc.example.net/bob"
    assert action.stanza.type == "error"


def test_other_messages_to_a_joined_room_leave_from_the_bare_jid() -> None:
    """XEP-0045 §7.8.1, §7.13: mediated invitations and voice requests need the occupant."""
    h = Harness()
    h.joined(PHONE)
    invite = x(
        "<message to='lounge@muc.example.net' id='i1'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<invite to='carol@example.org'/></x></message>"
    )
    assert h.session(PHONE, invite) == [Send(stanza=invite.with_from(ALICE))]


def test_non_groupchat_traffic_from_non_members_continues() -> None:
    """Not the router's business: normal routing answers as it would without it."""
    h = Harness()
    h.joined(PHONE)
    invite = x("<message to='lounge@muc.example.net' id='i1'><body>x</body></message>")
    assert h.session(TABLET, invite) == [Continue(stanza=invite)]
    chat = x("<message to='bob@example.net' type='chat'><body>x</body></message>")
    assert h.session(PHONE, chat) == [Continue(stanza=chat)]


def test_room_traffic_with_nobody_attached_is_claimed_not_bounced() -> None:
    """RFC 6121 §8.5.2: a bounce would get the account kicked (fixtures finding 11)."""
    h = Harness()
    h.session(PHONE, join())
    h.closed(PHONE)  # the account is now leaving, nobody waits for the answer
    message = groupchat("late")
    assert h.room(message) == [
        archived(message),
        Discard(stanza=message, reason=DiscardReason.NO_SESSION),
    ]


def test_deliver_equals_only_deliver() -> None:
    """Deliver is a tuple for speed but never equals another action or a plain tuple."""
    stanza = groupchat("x")
    deliver = Deliver(session=PHONE, stanza=stanza)
    assert deliver == Deliver(session=PHONE, stanza=stanza)
    assert deliver != (PHONE, stanza)
    assert deliver != Send(stanza=stanza)
    assert (deliver != Deliver(session=PHONE, stanza=stanza)) is False
    assert hash(deliver) == hash(Deliver(session=PHONE, stanza=stanza))


def test_archive_equals_only_archive() -> None:
    """Archive is a tuple for speed too: it equals neither a Deliver nor a plain tuple."""
    stanza = groupchat("x")
    archive = Archive(account=ALICE, stanza=stanza)
    assert archive == Archive(account=ALICE, stanza=stanza)
    assert archive != (ALICE, stanza)
    assert archive != Deliver(session=ALICE, stanza=stanza)
    assert (archive != Archive(account=ALICE, stanza=stanza)) is False
    assert hash(archive) == hash(Archive(account=ALICE, stanza=stanza))


def test_tuple_actions_let_other_objects_decide_equality() -> None:
    """A matcher such as unittest.mock.ANY equals a Deliver or an Archive, as any action."""
    stanza = groupchat("x")
    for action in (Deliver(session=PHONE, stanza=stanza), Archive(account=ALICE, stanza=stanza)):
        assert action == ANY and [action] == [ANY]
        assert (action != ANY) is False
        assert (action != stanza) is True
        assert (action != "x") is True


def test_the_room_s_stanza_id_is_known_by_its_jid_in_any_spelling() -> None:
    """XEP-0359's ``by`` is a JID: its local and domain parts compare case-insensitively.

    A room that writes its own JID in another case still gives the message's key: the
    message it sends again, even with more in it (a room may tell one recipient more), is
    a duplicate, not archived and shown twice.
    """
    h = Harness()
    h.joined(PHONE)
    sid = "<stanza-id xmlns='urn:xmpp:sid:0' by='Lounge@MUC.example.net' id='s1'/>"
    live = x(
        f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}' id='m1'>"
        f"<body>hi</body>{sid}</message>"
    )
    again = x(
        f"<message type='groupchat' from='{ROOM}/bob' to='{ALICE}' id='m1'><body>hi</body>{sid}"
        "<addresses xmlns='http://jabber.org/protocol/address'>"
        "<address type='ofrom' jid='bob@example.net/pc'/></addresses></message>"
    )
    assert h.room(live) == [archived(live), Deliver(session=PHONE, stanza=live.with_to(PHONE))]
    assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]
