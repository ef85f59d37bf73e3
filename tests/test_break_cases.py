"""Hostile and racing inputs in ``tests/cases/break-*.replay``: what the router must do.

Each replay script (format: ``docs/replay.md``) starts with comments that describe the
situation, what went wrong and the right behaviour. Each test runs one script through
:func:`minimix_core._replay.replay`, in process, and checks the exact actions of the steps
that matter and the deadlines that follow; an exception out of the router fails the test.
Situations the script format cannot say (a restart from a snapshot) drive the
:class:`~minimix_core.Router` directly.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, cast

import pytest

from minimix_core import (
    JID,
    Archive,
    Deliver,
    FromSession,
    LocalProtocolError,
    Router,
    ToAccount,
    parse_stanza,
)
from minimix_core._replay import replay

CASES = Path(__file__).parent / "cases"
ALICE = "alice@example.org"
PHONE = "alice@example.org/phone"
LOUNGE = "lounge@muc.example.net"

ALICE_JID = JID.parse(ALICE)
PHONE_JID = JID.parse(PHONE)
LAPTOP_JID = JID.parse("alice@example.org/laptop")
LOUNGE_JID = JID.parse(LOUNGE)
JOIN = "<presence to='lounge@muc.example.net/alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
SELF_PRESENCE = (
    "<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='member' role='participant'/><status code='110'/></x></presence>"
)

Record = dict[str, object]


def _to_account(xml: str) -> ToAccount:
    return ToAccount(stanza=parse_stanza(xml))


def replayed(name: str) -> tuple[dict[int, list[Record]], dict[int, object]]:
    """The script's actions by step (without step and deadline) and each step's deadline.

    A step that returns no action has no entry in either.
    """
    text = (CASES / f"{name}.replay").read_text(encoding="utf-8")
    out = io.StringIO()
    replay(text, out, as_json=True)
    steps: dict[int, list[Record]] = {}
    deadlines: dict[int, object] = {}
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        step = record.pop("step")
        deadlines[step] = record.pop("deadline")
        steps.setdefault(step, []).append(record)
    return steps, deadlines


def send(xml: str) -> Record:
    return {"action": "send", "xml": xml}


def deliver(session: str, xml: str) -> Record:
    return {"action": "deliver", "session": session, "xml": xml}


def discard(reason: str, xml: str) -> Record:
    return {"action": "discard", "reason": reason, "xml": xml}


def due(at: float, *items: tuple[str, str]) -> object:
    return {
        "at": at,
        "due": [{"kind": kind, "account": ALICE, "detail": detail} for kind, detail in items],
    }


def test_timer_cancelled_by_an_earlier_timer_of_the_same_call_does_not_run() -> None:
    """XEP-0045 §7.14, XEP-0410 §3: an overdue grace leave stops the overdue ping."""
    steps, deadlines = replayed("break-01-overdue-ping-after-grace-leave")
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="mmx-1"/>'
        ),
    ]
    assert deadlines[4] == due(1030.0, ("leave-timeout", LOUNGE))
    # The leave timed out at 1030 s: said once more and waited for again, and nothing else
    # for the lounge, no ping above all.
    assert steps[5] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="mmx-2"/>'
        ),
    ]
    assert deadlines[5] == due(1130.0, ("leave-timeout", LOUNGE))


def test_queued_autojoin_of_a_room_being_left_is_dropped() -> None:
    """XEP-0045 §7.14, RFC 6120 §8.1.3: a leave without an id is still a leave."""
    steps, deadlines = replayed("break-02-autojoin-due-while-leaving-crash")
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable"/>'
        ),
    ]
    # The bookmark went: its queued join went with it; what is left is the leave's deadline.
    assert deadlines[4] == due(30.0, ("leave-timeout", LOUNGE))
    assert 5 not in steps


def test_ping_answer_from_another_occupant_is_not_the_answer() -> None:
    """RFC 6120 §8.2.3, XEP-0410 §3: only the account's occupant JID answers its self-ping."""
    steps, deadlines = replayed("break-03-occupant-forges-self-ping-answer")
    assert steps[4] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps[5] == [
        discard(
            "unexpected",
            '<iq from="lounge@muc.example.net/bob" to="alice@example.org" type="error" id="mmx-1"><error type="cancel" by="muc.example.net"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
        ),
    ]
    assert deadlines[5] == due(960.0, ("ping", LOUNGE))
    assert steps[6] == [
        discard(
            "keepalive",
            '<iq from="lounge@muc.example.net/alice" to="alice@example.org" type="result" id="mmx-1"/>',
        ),
    ]
    assert deadlines[6] == due(1802.0, ("ping", LOUNGE))


def test_iq_answer_from_another_occupant_is_not_the_answer() -> None:
    """RFC 6120 §8.2.3, XEP-0045 §7.7: an IQ to carol is answered by carol, not by bob."""
    steps, deadlines = replayed("break-04-occupant-forges-iq-answer")
    assert steps[5] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/carol" type="get" id="mmx-1"><vCard xmlns="vcard-temp"/></iq>'
        ),
    ]
    assert steps[6] == [
        discard(
            "unexpected",
            '<iq from="lounge@muc.example.net/bob" to="alice@example.org" type="result" id="mmx-1"><vCard xmlns="vcard-temp"><FN>Forged</FN></vCard></iq>',
        ),
    ]
    assert deadlines[6] == due(60.0, ("iq", "mmx-1"))
    assert steps[7] == [
        deliver(
            PHONE,
            '<iq from="lounge@muc.example.net/carol" to="alice@example.org/phone" type="result" id="v1"><vCard xmlns="vcard-temp"><FN>Carol</FN></vCard></iq>',
        ),
    ]


def test_occupant_presence_carrying_the_join_id_is_not_the_self_presence() -> None:
    """XEP-0045 §7.2.2, §7.2.3: without 110, another nick's presence is another occupant's."""
    steps, deadlines = replayed("break-05-occupant-presence-with-join-id-taken-as-self")
    assert steps[2] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert deadlines[3] == due(60.0, ("join-timeout", LOUNGE))
    assert deadlines[4] == due(900.0, ("ping", LOUNGE))
    assert steps[5] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/phone" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]


def test_nick_change_to_a_nick_no_jid_can_carry_is_malformed() -> None:
    """RFC 7622 §3.4, XEP-0045 §7.6: a 303 naming an impossible nick changes nothing."""
    steps, _ = replayed("break-06-nick-change-to-invalid-resource-taken")
    assert [record["action"] for record in steps[3]] == ["discard"]
    assert steps[3][0]["reason"] == "malformed"
    assert steps[4] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]


def test_queued_autojoin_of_a_bookmark_turned_off_keeps_the_disconnect_grace() -> None:
    """XEP-0402 §3, XEP-0045 §7.14: the grace runs its course; only then the account leaves."""
    steps, deadlines = replayed("break-07-stale-autojoin-cuts-disconnect-grace")
    assert 6 not in steps  # the timer at 0 s: the stale queued join is dropped
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="mmx-1"/>'
        ),
    ]
    assert deadlines[7] == due(150.0, ("leave-timeout", LOUNGE))


def test_restored_room_left_by_a_session_without_an_id_is_not_left_twice() -> None:
    """XEP-0045 §7.14, RFC 6120 §8.1.3: after a restart, a room being left is not left again.

    The process restarts (``sessions=False``): the lounge, kept by no bookmark, is queued
    to be left. Before the queue comes to it, the laptop joins (a late join from what the
    router remembers) and leaves with an unavailable that has no id. The queue must then
    find the room being left already, not leave it a second time.
    """
    before = Router()
    before.handle(FromSession(session=PHONE_JID, stanza=parse_stanza(JOIN)), now=0.0)
    before.handle(_to_account(SELF_PRESENCE), now=0.0)
    router = Router.restore(json.loads(json.dumps(before.snapshot())), now=10.0)
    router.handle(FromSession(session=LAPTOP_JID, stanza=parse_stanza(JOIN)), now=10.0)
    leave = parse_stanza("<presence to='lounge@muc.example.net/alice' type='unavailable'/>")
    [left] = router.handle(FromSession(session=LAPTOP_JID, stanza=leave), now=10.0)
    assert left.stanza.type == "unavailable"
    assert router.handle_timer(10.0) == []
    assert router.upcoming() == [(40.0, "leave-timeout", ALICE_JID, LOUNGE_JID)]


def test_delay_stamp_before_the_clock_begins_is_not_believed() -> None:
    """XEP-0203, XEP-0045 §7.2.14: a stamp before 1970 is no clock; the rejoin still goes."""
    steps, deadlines = replayed("break-08-delay-before-year-one-crashes-rejoin")
    past = (
        '<message from="lounge@muc.example.net/bob" to="alice@example.org{to}" type="groupchat" id="b1">'
        '<body>from the past</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" '
        'stamp="0001-01-01T00:00:00+01:00"/></message>'
    )
    assert steps[3] == [
        {"action": "archive", "account": ALICE, "xml": past.format(to="")},
        deliver(PHONE, past.format(to="/phone")),
    ]
    assert steps[4] == [
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="error" id="x1"><error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:01:40Z"/></x></presence>'
        ),
    ]
    assert deadlines[4] == due(160.0, ("rejoin-timeout", LOUNGE))


def test_restore_refuses_a_clock_that_handle_refuses() -> None:
    """A restore at NaN, infinity or milliseconds is host misuse, as at :meth:`Router.handle`.

    Accepted, NaN turned off the check of time going back for good, and infinity or a
    clock in milliseconds (time.time() * 1000) left a router that refused every later call.
    """
    before = Router()
    before.handle(FromSession(session=PHONE_JID, stanza=parse_stanza(JOIN)), now=0.0)
    before.handle(_to_account(SELF_PRESENCE), now=0.0)
    snapshot = json.loads(json.dumps(before.snapshot()))
    for bad in (math.nan, math.inf, 1.7e12, -1.0, True):
        with pytest.raises(LocalProtocolError):
            Router.restore(snapshot, now=bad, sessions=True)
    router = Router.restore(snapshot, now=10, sessions=True)
    message = _to_account(
        "<message from='lounge@muc.example.net/bob' to='alice@example.org' type='groupchat' id='b1'><body>hi</body></message>"
    )
    with pytest.raises(LocalProtocolError):
        router.handle(message, now=5.0)
    assert [type(action).__name__ for action in router.handle(message, now=10.0)] == [
        "Archive",
        "Deliver",
    ]


def test_to_account_addressed_to_no_jid_is_host_misuse() -> None:
    """A ``to`` that is no JID is "not a bare JID": LocalProtocolError, on either path.

    A string or a plain tuple raised AttributeError from the middle of the checks; once a
    first event had set the clock, from the fast path for room traffic too.
    """
    router = Router()
    good = parse_stanza(
        "<message from='lounge@muc.example.net/bob' to='alice@example.org' type='groupchat'><body>x</body></message>"
    )
    for now in (0.0, 1.0):
        for to in ("alice@example.org", ("alice", "example.org", None)):
            with pytest.raises(LocalProtocolError):
                router.handle(ToAccount(stanza=good._replace(to=cast(Any, to))), now=now)
        assert [type(a).__name__ for a in router.handle(ToAccount(stanza=good), now=now)] == [
            "Continue"
        ]


def test_subject_change_with_a_store_hint_is_the_rooms_subject() -> None:
    """XEP-0045 §8.1, §7.2.15: a subject without body or thread is the subject, hints or not."""
    steps, _ = replayed("break-09-subject-with-store-hint-kept-as-message")
    plans = (
        '<message from="lounge@muc.example.net/bob" to="alice@example.org/{to}" type="groupchat" id="s2">'
        '<subject>Plans</subject><store xmlns="urn:xmpp:hints"/></message>'
    )
    # Neither archived nor pushed: a subject change, forked to the phone.
    assert steps[4] == [deliver(PHONE, plans.format(to="phone"))]
    laptop = "alice@example.org/laptop"
    assert steps[5] == [
        deliver(
            laptop,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(laptop, plans.format(to="laptop")),
    ]


def test_spoofed_stanza_id_in_another_spelling_of_the_account_is_dropped() -> None:
    """XEP-0359 §5, RFC 7622 §3.2-3.3: ``by='Alice@Example.ORG'`` claims alice's own archive."""
    router = Router()
    router.handle(FromSession(session=PHONE_JID, stanza=parse_stanza(JOIN)), now=0.0)
    router.handle(_to_account(SELF_PRESENCE), now=0.0)
    spoofed = parse_stanza(
        "<message from='lounge@muc.example.net/bob' to='alice@example.org' type='groupchat' id='b1'>"
        "<body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='Alice@Example.ORG' id='fake'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org/phone' id='other'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='lounge@muc.example.net' id='r1'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='unsaid'/><stanza-id xmlns='urn:xmpp:sid:0' by='@' id='bad'/>"
        "</message>"
    )
    archive, fork = router.handle(ToAccount(stanza=spoofed), now=1.0)
    assert archive == Archive(
        account=ALICE_JID,
        stanza=spoofed.replace(children=(spoofed.children[0], *spoofed.children[2:])),
    )
    assert fork == Deliver(session=PHONE_JID, stanza=spoofed.with_to(PHONE_JID))


def test_presence_held_while_the_rejoin_is_in_flight_reaches_the_room() -> None:
    """XEP-0045 §7.7, §11.1: the rejoin's join went before the update; the room gets it after."""
    steps, _ = replayed("break4-01-status-held-during-rejoin-in-flight-lost")
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[5] == [
        discard(
            "held",
            '<presence to="lounge@muc.example.net/alice" id="away1"><show>away</show></presence>',
        ),
    ]
    assert steps[6] == [
        discard(
            "resync",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice"><show>away</show></presence>'
        ),
    ]
    assert steps[7] == [
        discard(
            "presence-update",
            '<presence to="lounge@muc.example.net/alice" id="away2"><show>away</show></presence>',
        ),
    ]


def test_rejoin_carries_the_presence_of_the_sessions_still_attached() -> None:
    """XEP-0045 §7.7, §11.1: a session gone while the account waited no longer counts."""
    steps, _ = replayed("break4-02-closed-session-presence-carried-by-rejoin")
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="dnd1"><show>dnd</show></presence>'
        ),
    ]
    assert 6 not in steps  # the phone closed: nothing to say yet, the account is out
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><show>away</show><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]


def test_overdue_keepalive_of_one_room_waits_for_an_earlier_grace_leave() -> None:
    """XEP-0410 §3, XEP-0045 §7.14: each room's keep-alive runs in its deadline's turn."""
    steps, deadlines = replayed("break5-01-overdue-ping-of-room-left-by-earlier-grace")
    assert steps[6] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
        send(
            '<presence from="alice@example.org" to="garden@muc.example.net/alice" type="unavailable" id="mmx-2"/>'
        ),
    ]
    assert deadlines[6] == due(1030.0, ("leave-timeout", "garden@muc.example.net"))
