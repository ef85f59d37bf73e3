"""A device's place: what it has of its account's messages in a room, gaps and all.

A device that comes back gets what it lacks, each message once and in order, and nothing
it lacks is skipped (XEP-0045 §7.2.13, a history for the returning device; XEP-0198 §5,
the messages of a stream given up come back to the sender). A place with a gap is the
newest message a device had with all before it, and the later ones it got too.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

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
    groupchat,
    join,
    leave,
    left,
    self_presence,
    x,
)
from minimix_core import (
    JID,
    Action,
    Config,
    Deliver,
    Discard,
    DiscardReason,
    Router,
    Send,
    Stanza,
)
from minimix_core._place import Place, has, with_message, without
from minimix_core._replay import replay

CASES = Path(__file__).parent / "cases"


def bounce(mid: str) -> Stanza:
    """The host hands over a message of a stream given up, back to the room (XEP-0198 §5)."""
    return x(
        f"<message to='lounge@muc.example.net/bob' type='error' id='{mid}'>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>"
    )


def _again(mid: str, second: int) -> Stanza:
    """``mid`` as the room's join history sends it again (its body is its id)."""
    return groupchat(mid, mid=mid, stamp=f"1970-01-01T00:00:0{second}Z")


def _replayed(mid: str) -> Stanza:
    """``mid``, received at 0, as the router replays it from its history (a delay added)."""
    return groupchat(mid, mid=mid, stamp="1970-01-01T00:00:00Z")


def _bodies(actions: list[Action]) -> list[str | None]:
    return [
        body.text
        for a in actions
        if isinstance(a, Deliver) and (body := a.stanza.find("body")) is not None
    ]


def _positions(h: Harness) -> dict[JID, tuple[Place, float]]:
    return dict(h.router._core.table.accounts[ALICE].memory[ROOM].positions)


def test_a_bounced_message_is_sent_again_alone_not_the_later_ones_that_reached() -> None:
    """XEP-0198 §5: m2 came back undelivered, m3 reached the phone. Back, the phone gets
    m2, and only m2: its place is m1 with m3 after the gap, where it was m1 alone and the
    phone got m3 a second time."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    for mid in ("m1", "m2", "m3"):
        h.room(groupchat(mid, mid=mid))
    h.session(PHONE, bounce("m2"))
    h.closed(PHONE)
    assert _positions(h) == {PHONE: ((1, 3), 0.0)}
    back = h.session(PHONE, join(jid="back"))
    assert [a for a in back if isinstance(a, Deliver) and a.stanza.find("body") is not None] == [
        Deliver(session=PHONE, stanza=_replayed("m2").with_to(PHONE))
    ]


def test_bounces_out_of_order_each_count_and_the_rest_is_had() -> None:
    """m4 came back first, then m2; m3 and m5 reached the phone. Back, it gets m2 and m4,
    in order, each once."""
    h = Harness()
    h.joined(PHONE, LAPTOP)
    for mid in ("m1", "m2", "m3", "m4", "m5"):
        h.room(groupchat(mid, mid=mid))
    for mid in ("m4", "m2", "m4"):
        h.session(PHONE, bounce(mid))
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].attached[PHONE].bounced == (2, 4)
    h.closed(PHONE)
    assert _positions(h) == {PHONE: ((1, 3, 5), 0.0)}
    back = h.session(PHONE, join(jid="back"))
    assert _bodies(back) == ["m2", "m4"]


def test_messages_got_while_its_leave_is_answered_after_a_gap_are_not_shown_again() -> None:
    """XEP-0045 §7.14: the phone leaves, its place m1 with m3 after the gap of the bounced
    m2; m4 reaches it while the room has yet to answer the leave. Back, the room's history
    gives it m2 alone: m3 and m4 are repeats."""
    h = Harness()
    h.joined(PHONE)
    for mid in ("m1", "m2", "m3"):
        h.room(groupchat(mid, mid=mid))
    h.session(PHONE, bounce("m2"))
    h.session(PHONE, leave())
    four = groupchat("m4", mid="m4")
    assert h.room(four) == [archived(four), Deliver(session=PHONE, stanza=four.with_to(PHONE))]
    assert _positions(h) == {PHONE: ((1, 3, 4), 0.0)}
    h.room(left())
    [rejoin] = h.session(PHONE, join(jid="again"))
    assert isinstance(rejoin, Send)
    h.room(self_presence(pid="again"))
    for second, mid in enumerate(("m1", "m2", "m3", "m4"), start=1):
        again = _again(mid, second)
        if mid == "m2":
            assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]
        else:
            assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]


def test_a_message_got_while_waiting_to_get_back_in_past_a_gap_counts() -> None:
    """XEP-0045 §7.2.13: the phone left at m1; the laptop got m2, then left, and the
    account with it. The phone comes back and, waiting for the room's answer, gets m3 as
    it comes (no archive to keep it for later): it lacks m2 and has m3. Gone again before
    the answer, it keeps that place, and the next time the room's history gives it m2
    alone, where it gave m3 a second time."""
    h = Harness(Router(Config(archive=False)))
    h.joined(PHONE, LAPTOP)
    h.room(groupchat("m1", mid="m1"))
    h.session(PHONE, leave())
    h.room(groupchat("m2", mid="m2"))
    h.session(LAPTOP, leave())
    h.room(left())
    [rejoin] = h.session(PHONE, join(jid="again"))
    assert isinstance(rejoin, Send)
    three = groupchat("m3", mid="m3")
    assert h.room(three) == [Deliver(session=PHONE, stanza=three.with_to(PHONE))]
    h.closed(PHONE)
    assert _positions(h)[PHONE] == ((1, 3), 0.0)
    h.room(self_presence(pid="again"))  # the join is answered; the account leaves at once
    h.room(left("mmx-1"))
    [join_again] = h.session(PHONE, join(jid="third"))
    assert isinstance(join_again, Send)
    h.room(self_presence(pid="third"))
    for second, mid in enumerate(("m1", "m2", "m3"), start=1):
        again = _again(mid, second)
        if mid == "m2":
            assert h.room(again) == [Deliver(session=PHONE, stanza=again.with_to(PHONE))]
        else:
            assert h.room(again) == [Discard(stanza=again, reason=DiscardReason.DUPLICATE)]


def test_a_device_back_and_waiting_while_the_leave_is_answered_keeps_its_gap() -> None:
    """The phone leaves with the bounced m2 missing, comes back before the room answered
    the leave, and gets m4 as one that leaves: it carries m1 with m3 and m4 after the gap."""
    h = Harness()
    h.joined(PHONE)
    for mid in ("m1", "m2", "m3"):
        h.room(groupchat(mid, mid=mid))
    h.session(PHONE, bounce("m2"))
    h.session(PHONE, leave())
    assert h.session(PHONE, join(jid="again")) == []
    h.room(groupchat("m4", mid="m4"))
    assert h.router._core.table.accounts[ALICE].rooms[ROOM].pending[PHONE].position == (1, 3, 4)
    h.session(PHONE, bounce("m4"))  # and m4 came back after all
    h.closed(PHONE)
    assert _positions(h) == {PHONE: ((1, 3), 0.0)}


def test_the_replay_script_of_a_bounce_gives_the_phone_the_bounced_message_once() -> None:
    """XEP-0198 §5 as a replay script (tests/cases/place-01-*): back, the phone gets m2,
    the message that came back, and not m3, which reached it."""
    text = (CASES / "place-01-bounce-then-later-reached.replay").read_text(encoding="utf-8")
    out = io.StringIO()
    replay(text, out, as_json=True)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    last = max(r["step"] for r in records)
    shown = [
        r["xml"]
        for r in records
        if r["step"] == last and r["action"] == "deliver" and "<body>" in r["xml"]
    ]
    assert shown == [
        '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone"'
        ' type="groupchat" id="m2"><body>two</body><delay xmlns="urn:xmpp:delay"'
        ' from="lounge@muc.example.net" stamp="1970-01-01T00:00:02Z"/></message>'
    ]


def test_a_place_s_later_numbers_are_bounded_erring_towards_sending_again() -> None:
    """At most ``max_history_messages`` later numbers are kept, the newest: an older one
    let go is sent again, never taken for had; what lies before the gap stays had."""
    place = without(10, (2,), 3)
    assert place == (1, 8, 9, 10)  # 3 to 7 let go: sent again if the history holds them
    assert not has(place, 2) and not has(place, 5) and has(place, 1) and has(place, 9)
    assert with_message(place, 2, 3) == (2, 8, 9, 10)
    assert with_message(1, 2, 3) == 2
    assert with_message((1, 3), 2, 3) == 3
    assert with_message((1, 3), 3, 3) == (1, 3)
    assert with_message(5, 3, 3) == 5
    assert without(5, (7,), 3) == 5


def test_a_bounce_for_a_leaving_device_whose_place_went_with_the_memory_changes_nothing() -> None:
    """XEP-0198 §5: the phone left the lounge; the account's memory of the lounge is pushed
    out (``max_rooms_per_account``) while the room has yet to answer. A bounce then has no
    place to take the message from."""
    h = Harness(Router(Config(max_rooms_per_account=2)))
    h.joined(PHONE)
    h.room(groupchat("m1", mid="m1"))
    h.joined(LAPTOP, room=OTHER_ROOM)
    h.room(groupchat("g0", mid="g0", room=OTHER_ROOM))
    h.session(PHONE, leave())
    h.session(LAPTOP, leave(room=OTHER_ROOM))
    h.room(left(room=OTHER_ROOM))
    h.joined(TABLET, room=THIRD_ROOM)
    h.room(groupchat("t0", mid="t0", room=THIRD_ROOM))
    account = h.router._core.table.accounts[ALICE]
    assert ROOM not in account.memory and PHONE in account.rooms[ROOM].leaving
    assert h.session(PHONE, bounce("m1")) == [
        Discard(stanza=bounce("m1"), reason=DiscardReason.ERROR_TO_ROOM)
    ]
    assert ROOM not in account.memory
