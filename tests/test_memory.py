"""What the account remembers of a room across occupancies: each message once, each
device's place. XEP-0313 (archive), XEP-0359 (stanza-id), XEP-0045 §7.2.13 (history)."""

from __future__ import annotations

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    TABLET,
    THIRD_ROOM,
    Harness,
    archived,
    bodies,
    delivered,
    groupchat,
    join,
    leave,
    left,
    self_presence,
    subject,
    waiting_while_its_memory_goes,
    x,
)
from minimix_core import (
    Archive,
    Bookmark,
    BookmarksChanged,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    Router,
    Send,
    Unattended,
)


def delayed(body: str, mid: str) -> str:
    return (
        f"<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='{mid}'>"
        f"<body>{body}</body><delay xmlns='urn:xmpp:delay' from='lounge@muc.example.net' "
        "stamp='1970-01-01T00:00:01Z'/></message>"
    )


def test_a_join_history_gives_each_device_only_what_it_lacks() -> None:
    """The phone saw m1 and m2 and left; back with the laptop, the room's join history is
    m1, m2, m3: the phone gets m3 alone, the laptop all three."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.room(groupchat("two", mid="m2"))
    h.session(PHONE, leave())
    h.room(left())
    h.now = 60.0
    h.session(PHONE, join(jid="p2"))
    h.session(LAPTOP, join(jid="l2"))
    h.room(self_presence(pid="p2"))
    m1 = x(delayed("one", "m1"))
    assert h.room(m1) == [Deliver(session=LAPTOP, stanza=m1.with_to(LAPTOP))]
    m3 = x(delayed("three", "m3"))
    assert h.room(m3) == [
        archived(m3),
        Deliver(session=PHONE, stanza=m3.with_to(PHONE)),
        Deliver(session=LAPTOP, stanza=m3.with_to(LAPTOP)),
    ]


def test_a_live_repeat_from_an_earlier_occupancy_is_not_pushed_again() -> None:
    """The account left and joined again (a new occupancy, its history empty); the room
    re-sends m1 live: the account's memory knows it, so no second archive or push."""
    h = Harness()
    marks = (Bookmark(room=ROOM, autojoin=True),)
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=0.0)
    h.timer(0.0)
    h.room(self_presence(pid="mmx-1"))
    h.room(subject())
    first = groupchat("one", mid="m1")
    assert h.room(first) == [
        archived(first),
        Unattended(account=ALICE, room=ROOM, stanza=first, mentions=False),
    ]
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=()), now=0.0)  # leaves
    h.room(left("mmx-2"))
    h.router.handle(BookmarksChanged(account=ALICE, bookmarks=marks), now=0.0)
    h.timer(1.0)
    h.room(self_presence(pid="mmx-3"))
    h.room(subject())
    assert h.room(first) == [Discard(stanza=first, reason=DiscardReason.DUPLICATE)]


def test_a_chat_state_in_private_is_passed_on_not_kept() -> None:
    """XEP-0085 notices are not messages to keep (no body): forwarded, not archived."""
    h = Harness()
    h.joined(PHONE)
    typing = x(
        "<message type='chat' from='lounge@muc.example.net/bob' to='alice@example.org'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
        "<x xmlns='http://jabber.org/protocol/muc#user'/><no-copy xmlns='urn:xmpp:hints'/></message>"
    )
    assert h.room(typing) == [Deliver(session=PHONE, stanza=typing.with_to(PHONE))]


def test_the_memory_of_messages_is_bounded() -> None:
    """Config.max_remembered_messages keys per room (16 characters each); the oldest goes."""
    h = Harness(Router(Config(max_remembered_messages=2, max_history_messages=1)))
    h.joined(PHONE)
    for n in range(3):
        h.room(groupchat(str(n), mid=f"m{n}"))
    memory = h.router._core.table.accounts[ALICE].memory[ROOM]
    assert list(memory.seen.values()) == [2, 3]
    again = groupchat("0", mid="m0")
    assert h.room(again)[0] == archived(again)  # forgotten: it counts as new


def test_the_memory_keeps_as_many_rooms_as_the_account_may_be_in() -> None:
    """Config.max_rooms_per_account bounds the rooms remembered too; the least recent goes."""
    h = Harness(Router(Config(max_rooms_per_account=1, disconnect_grace=0)))
    garden = OTHER_ROOM
    h.joined(PHONE)
    h.room(groupchat("one"))
    h.session(PHONE, leave())
    h.room(left())
    h.joined(PHONE, room=garden)
    h.room(groupchat("two", room=garden))
    assert list(h.router._core.table.accounts[ALICE].memory) == [garden]


def test_an_idle_account_is_forgotten_only_if_it_stays_idle() -> None:
    """Config.device_memory after the last room went: if a device came back meanwhile, the
    account is busy again and nothing is dropped."""
    h = Harness(Router(Config(disconnect_grace=0)))
    h.joined(PHONE)
    h.room(groupchat("one"))
    h.session(PHONE, leave())
    h.room(left())
    h.now = 10.0
    h.session(PHONE, join(jid="again"))
    assert h.timer(3600.0)[0] == Deliver(
        session=PHONE,
        stanza=x(
            "<presence type='error' from='lounge@muc.example.net/alice' to='alice@example.org/phone' id='again'>"
            "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
            "</presence>"
        ),
    )
    assert ALICE in h.router._core.table.accounts


def test_a_bounce_for_a_message_the_room_did_not_send_changes_nothing() -> None:
    """An error a session sends to the room never reaches it; one for an unknown message
    leaves the device's place alone. Each message that came back counts (XEP-0198 §5)."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.room(groupchat("two", mid="m2"))
    for mid in ("nope", "m1", "m2"):
        bounce = x(
            f"<message to='lounge@muc.example.net/bob' type='error' id='{mid}'>"
            "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
        assert h.session(PHONE, bounce) == [
            Discard(stanza=bounce, reason=DiscardReason.ERROR_TO_ROOM)
        ]
    attachment = h.router._core.table.accounts[ALICE].rooms[ROOM].attached[PHONE]
    assert attachment.bounced == (1, 2)


def test_a_private_message_while_leaving_reaches_the_leaving_session() -> None:
    """Between the leave and its answer the room still talks to the account (§7.14)."""
    h = Harness()
    h.joined(PHONE)
    h.session(PHONE, leave())
    pm = x(
        "<message type='chat' from='lounge@muc.example.net/bob' to='alice@example.org' id='p'>"
        "<body>wait</body><x xmlns='http://jabber.org/protocol/muc#user'/>"
        "<no-copy xmlns='urn:xmpp:hints'/></message>"
    )
    assert h.room(pm) == [
        Archive(account=ALICE, stanza=pm),
        Deliver(session=PHONE, stanza=pm.with_to(PHONE)),
    ]
    sent = h.session(PHONE, x("<presence to='lounge@muc.example.net/alice' type='probe'/>"))
    assert sent == [
        Discard(
            stanza=x("<presence to='lounge@muc.example.net/alice' type='probe'/>"),
            reason=DiscardReason.NOT_IN_ROOM,
        )
    ]
    assert not any(isinstance(a, Send) for a in sent)


def test_a_message_reaching_a_device_while_its_leave_is_answered_is_not_shown_again() -> None:
    """The phone left the room; before the room answered, a message reached it. Its place
    was taken at the leave, so back again it got that message once more from the history."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    two = groupchat("two", mid="m2")
    assert h.room(two) == [archived(two), Deliver(session=PHONE, stanza=two.with_to(PHONE))]
    h.room(left())
    [rejoin] = h.session(PHONE, join(jid="again"))
    assert isinstance(rejoin, Send)
    h.room(self_presence(pid="again"))
    for mid, body in (("m1", "one"), ("m2", "two")):
        again = groupchat(body, mid=mid, stamp="1970-01-01T00:00:01Z")
        assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]
    three = groupchat("three", mid="m3")
    assert h.room(three) == [archived(three), Deliver(session=PHONE, stanza=three.with_to(PHONE))]


def test_a_device_gone_again_before_the_room_answers_keeps_its_place() -> None:
    """The phone came back, carrying its place, and went before the room answered the
    account's join: its place was dropped, and the next time it got the history again."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    h.room(left())
    [rejoin] = h.session(PHONE, join(jid="again"))
    assert isinstance(rejoin, Send)
    h.closed(PHONE)
    assert h.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (1, 0.0)}
    h.room(self_presence(pid="again"))  # the join is answered; the account leaves at once
    h.room(left("mmx-1"))
    [join_again] = h.session(PHONE, join(jid="third"))
    assert isinstance(join_again, Send)
    h.room(self_presence(pid="third"))
    one = groupchat("one", mid="m1", stamp="1970-01-01T00:00:01Z")
    assert h.room(one) == [Discard(stanza=one, reason=DiscardReason.DUPLICATE)]


def test_a_late_copy_of_a_message_had_before_hides_nothing_from_a_device_back() -> None:
    """The account left and came back; the room's copy of m2, which the account had in its
    first stay, arrives late, after m5. Back, the phone (gone after m4) gets m5 and m6: the
    copy, kept after newer messages, does not end the walk through the history before m5."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    for mid in ("m1", "m2", "m3"):
        h.room(groupchat(mid, mid=mid))
    h.session(PHONE, leave())
    h.session(LAPTOP, leave())
    h.room(left())
    h.joined(PHONE, LAPTOP)
    h.room(groupchat("m4", mid="m4"))
    h.closed(PHONE)
    h.room(groupchat("m5", mid="m5"))
    late = groupchat("m2", mid="m2")
    assert h.room(late) == [Discard(stanza=late, reason=DiscardReason.DUPLICATE)]
    six = groupchat("m6", mid="m6")
    assert h.room(six) == [archived(six), Deliver(session=LAPTOP, stanza=six.with_to(LAPTOP))]
    assert bodies(h.session(PHONE, join(jid="back"))) == ["m5", "m6"]


def test_a_waiting_device_s_place_does_not_count_in_the_memory_made_again() -> None:
    """The phone comes back carrying its place, and the account's memory of the lounge is
    pushed out meanwhile (``max_rooms_per_account``). A message the room sends before
    answering is numbered in the memory made again, under the number the phone's place
    had in the old one: gone before the answer, the phone kept that place there, and
    back again it never got that message."""
    h = waiting_while_its_memory_goes()
    early = groupchat("early", mid="e1")
    assert h.room(early) == [archived(early)]  # number 1 of the lounge's new memory
    h.closed(PHONE)
    assert h.router._core.table.accounts[ALICE].memory[ROOM].positions == {}
    h.room(self_presence(pid="again"))  # the join is answered; the account leaves at once
    h.room(left("mmx-1"))
    [join_again] = h.session(PHONE, join(jid="third"))
    assert isinstance(join_again, Send)
    h.room(self_presence(pid="third"))
    # What the memory pushed out knew is lost: the phone gets the lounge's history afresh.
    for mid, text, second in (("r0", "lounge", 1), ("e1", "early", 2)):
        again = groupchat(text, mid=mid, stamp=f"1970-01-01T00:00:0{second}Z")
        assert delivered(h.room(again), PHONE) == [again.with_to(PHONE)]


def test_a_device_back_while_its_leave_is_answered_counts_what_reached_it() -> None:
    """The phone leaves, and comes back before the room answered: the room's messages
    still reach it as one that leaves. Gone again, it kept the place it came back with,
    and the next time it got those messages a second time."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    assert h.session(PHONE, join(jid="again")) == []  # it waits for the leave to be answered
    two = groupchat("two", mid="m2")
    assert h.room(two) == [archived(two), Deliver(session=PHONE, stanza=two.with_to(PHONE))]
    assert h.closed(PHONE) == []
    assert h.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (2, 0.0)}
    h.room(left())
    [join_again] = h.session(PHONE, join(jid="third"))
    assert isinstance(join_again, Send)
    h.room(self_presence(pid="third"))
    for mid, text, second in (("m1", "one", 1), ("m2", "two", 2)):
        again = groupchat(text, mid=mid, stamp=f"1970-01-01T00:00:0{second}Z")
        assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]


def test_a_message_bounced_while_the_leave_is_answered_is_shown_again() -> None:
    """A message that reaches a leaving device moves its place on; one that came back
    undelivered (its stream given up) must not: back, the phone never got it."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    two = groupchat("two", mid="m2")
    assert h.room(two) == [archived(two), Deliver(session=PHONE, stanza=two.with_to(PHONE))]
    bounce = x(
        "<message to='lounge@muc.example.net/bob' type='error' id='m2'>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    positions = h.router._core.table.accounts[ALICE].memory[ROOM].positions
    h.session(PHONE, bounce)
    assert positions == {PHONE: (1, 0.0)}
    h.session(PHONE, bounce)  # handed over twice: the place stays before it
    h.session(LAPTOP, bounce)  # not in the room: nothing of the phone's changes
    assert positions == {PHONE: (1, 0.0)}
    h.closed(PHONE)
    h.room(left())
    assert positions == {PHONE: (1, 0.0)}
    [join_again] = h.session(PHONE, join(jid="again"))
    assert isinstance(join_again, Send)
    h.room(self_presence(pid="again"))
    for mid, text, second in (("m1", "one", 1), ("m2", "two", 2)):
        again = groupchat(text, mid=mid, stamp=f"1970-01-01T00:00:0{second}Z")
        if mid == "m1":
            assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]
        else:
            assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]


def test_a_message_bounced_while_back_and_waiting_is_shown_again() -> None:
    """The same for a device that came back while its leave was answered: the bounced
    message does not count in the place it carries."""
    h = Harness()
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    assert h.session(PHONE, join(jid="again")) == []
    two = groupchat("two", mid="m2")
    assert h.room(two) == [archived(two), Deliver(session=PHONE, stanza=two.with_to(PHONE))]
    bounce = x(
        "<message to='lounge@muc.example.net/bob' type='error' id='m2'>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    h.session(PHONE, bounce)
    h.closed(PHONE)
    assert h.router._core.table.accounts[ALICE].memory[ROOM].positions == {PHONE: (1, 0.0)}


def test_a_device_back_while_its_leave_is_answered_after_its_place_expired_has_none() -> None:
    """Back after ``device_memory``, the phone carries no place: a message reaching it
    while the leave is answered gives it none, and it gets the room's history afresh."""
    h = Harness(Router(Config(device_memory=5.0)))
    h.joined(PHONE)
    h.room(groupchat("one", mid="m1"))
    h.session(PHONE, leave())
    h.now = 10.0
    assert h.session(PHONE, join(jid="again")) == []
    two = groupchat("two", mid="m2")
    assert h.room(two) == [archived(two), Deliver(session=PHONE, stanza=two.with_to(PHONE))]
    h.closed(PHONE)
    assert h.router._core.table.accounts[ALICE].memory[ROOM].positions == {}


def in_the_lounge_while_its_memory_goes() -> Harness:
    """Phone and laptop in the lounge (``r0``); the tablet's garden and third room push the
    lounge's memory out (``max_rooms_per_account=2``) while the account is still in it."""
    h = Harness(Router(Config(max_rooms_per_account=2)))
    h.joined(PHONE, LAPTOP)
    h.room(groupchat("r0", mid="r0"))
    for room, mid in ((OTHER_ROOM, "g0"), (THIRD_ROOM, "t0")):
        h.joined(TABLET, room=room)
        h.room(groupchat(mid, mid=mid, room=room))
        h.session(TABLET, leave(room=room))
        h.room(left(room=room))
    assert ROOM not in h.router._core.table.accounts[ALICE].memory
    return h


def test_a_device_back_in_a_room_whose_memory_went_gets_only_what_it_missed() -> None:
    """The phone leaves the lounge after its memory went: its place is numbered in the
    memory made again. Back, it gets ``r1``, which came while it was away, and not ``r0``,
    which it had: the history's older entries are numbered in the memory pushed out."""
    h = in_the_lounge_while_its_memory_goes()
    h.session(PHONE, leave())
    r1 = groupchat("r1", mid="r1")
    assert h.room(r1) == [archived(r1), Deliver(session=LAPTOP, stanza=r1.with_to(LAPTOP))]
    assert bodies(h.session(PHONE, join(jid="back"))) == ["r1"]
