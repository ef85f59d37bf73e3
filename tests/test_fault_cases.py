"""The fault cases in ``tests/cases/``: situations real networks and clients produce.

Each replay script (format: ``docs/replay.md``) starts with comments that describe the
situation and what the router does about it. Each test runs one script through
:func:`minimix_core._replay.replay`, in process, and checks the exact actions of the steps
that matter (kinds, sessions, reasons, serialized stanzas), and that every stanza from
the network (a ``to-account`` entry) gets at least one action: none is left without a
fate.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from minimix_core import (
    JID,
    Deliver,
    FromSession,
    LocalProtocolError,
    Router,
    ToAccount,
    parse_stanza,
)
from minimix_core._cli import main
from minimix_core._replay import _EVENT_DIRECTIVES, ReplayError, entries, replay

CASES = Path(__file__).parent / "cases"
ALICE = "alice@example.org"
PHONE = "alice@example.org/phone"
LAPTOP = "alice@example.org/laptop"
LOUNGE = "lounge@muc.example.net"
ROOM = "room@muc.example.net"
JOIN = "<presence to='lounge@muc.example.net/alice' id='{}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
EVENTS = _EVENT_DIRECTIVES

Record = dict[str, object]


def script(name: str) -> str:
    return (CASES / f"{name}.replay").read_text(encoding="utf-8")


def event_lines(text: str, directive: str) -> list[tuple[int, int]]:
    """``(step, line)`` of every event entry with ``directive``; steps count events only."""
    found: list[tuple[int, int]] = []
    step = 0
    for entry in entries(text):
        if entry.words[0] in EVENTS:
            step += 1
            if entry.words[0] == directive:
                found.append((step, entry.line))
    return found


def replayed(name: str) -> dict[int, list[Record]]:
    """The script's actions by step, each as its ``--json`` object without step and deadline.

    Fails if a stanza from the network got no action at all.
    """
    text = script(name)
    out = io.StringIO()
    replay(text, out, as_json=True)
    steps: dict[int, list[Record]] = {}
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        record.pop("deadline", None)
        steps.setdefault(record.pop("step"), []).append(record)
    silent = [step for step, _ in event_lines(text, "to-account") if not steps.get(step)]
    assert silent == [], f"stanzas from the network without a fate at steps {silent}"
    return steps


def send(xml: str) -> Record:
    return {"action": "send", "xml": xml}


def deliver(session: str, xml: str) -> Record:
    return {"action": "deliver", "session": session, "xml": xml}


def discard(reason: str, xml: str) -> Record:
    return {"action": "discard", "reason": reason, "xml": xml}


def pass_on(xml: str) -> Record:
    return {"action": "continue", "xml": xml}


def archive(xml: str) -> Record:
    return {"action": "archive", "account": ALICE, "xml": xml}


def unattended(room: str, xml: str, *, mentions: bool) -> Record:
    return {
        "action": "unattended",
        "account": ALICE,
        "room": room,
        "mentions": mentions,
        "xml": xml,
    }


def test_message_refused_as_not_connected_makes_the_account_rejoin_and_retry() -> None:
    """XEP-0410 §1, §3 and XEP-0045 §7.2.14: a room that forgot the account is rejoined.
    The phone's join repeated meanwhile (§7.2.1) waits for the rejoin; the rejoin's deadline
    answers it from the table (§7.2.15 order), as the account tries again later."""
    steps = replayed("01-ghost-occupancy-recovery-swallowed")
    assert steps[6] == [
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="error" id="m1"><error type="cancel" by="lounge@muc.example.net"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">You are not currently connected to this chat</text></error></message>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[7] == [
        deliver(
            PHONE,
            '<iq from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="result" id="ping1"/>',
        ),
    ]
    assert steps.get(8, []) == []  # the repeated join waits for the rejoin
    assert steps[11] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat" id="s1"><subject/></message>',
        ),
    ]
    assert steps[14] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]


def test_autojoin_room_is_rejoined_after_a_shutdown_with_no_session_attached() -> None:
    """XEP-0045 §11.1 (332) with an XEP-0402 autojoin bookmark and no session attached."""
    steps = replayed("02-autojoin-room-lost-on-332-while-unattended")
    assert steps[2] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[3] == [
        discard(
            "no-session",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[4] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[5] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps.get(6, []) == []


def test_keepalive_answer_after_the_leave_is_stale_and_the_leave_goes_on() -> None:
    """XEP-0410 §3 and XEP-0045 §7.14: a ping answered after the leave began is stale."""
    steps = replayed("03-ping-answer-while-leaving-crash")
    assert steps[5] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps[6] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="l1"/>'
        ),
    ]
    assert steps[7] == [
        # The router no longer waits for the ping: a stale answer, not a rejoin.
        discard(
            "stale",
            '<iq from="lounge@muc.example.net/alice" to="alice@example.org" type="error" id="mmx-1"><error type="cancel" by="lounge@muc.example.net"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
        ),
    ]


def test_an_error_answers_only_the_stanza_whose_id_it_carries() -> None:
    """RFC 6120 §8.2.3, XEP-0410 §3, XEP-0045 §7.2.2: the rejoin's answer is matched by id."""
    steps = replayed("04-unrelated-error-taken-as-rejoin-answer-ghost")
    assert steps[5] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps[6] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="away1"><show>away</show></presence>'
        ),
    ]
    assert steps[7] == [
        discard(
            "keepalive",
            '<iq from="lounge@muc.example.net/alice" to="alice@example.org" type="error" id="mmx-1"><error type="cancel" by="lounge@muc.example.net"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2"><show>away</show><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[8] == [
        discard(
            "stale",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="error" id="away1"><error type="cancel" by="lounge@muc.example.net"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">You are not currently connected to this chat</text></error></presence>',
        ),
    ]
    assert steps[9] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="none"/></x></presence>',
        ),
        discard(
            "resync",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[10] == [
        archive(
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b7"><body>welcome back alice</body></message>'
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="b7"><body>welcome back alice</body></message>',
        ),
    ]


def test_status_change_while_waiting_to_rejoin_is_held_and_carried_by_the_rejoin() -> None:
    """XEP-0045 §11.1 (332) and §7.7: the update waits for the rejoin, which carries it."""
    steps = replayed("05-status-change-during-rejoin-gives-up")
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        discard(
            "held",
            '<presence to="lounge@muc.example.net/alice" id="away1"><show>away</show></presence>',
        ),
    ]
    assert steps[7] == [
        discard(
            "stale",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="error" id="away1"><error type="cancel" by="lounge@muc.example.net"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">You are not currently connected to this chat</text></error></presence>',
        ),
    ]
    assert steps[8] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><show>away</show><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]


def test_remote_delay_stamp_beyond_the_clock_does_not_steer_the_rejoin_history() -> None:
    """XEP-0203 and XEP-0045 §7.2.14: ``since`` comes from the router's own clock."""
    steps = replayed("06-forged-delay-stamp-crashes-rejoin")
    assert steps[5] == [
        archive(
            '<message from="lounge@muc.example.net/mallory" to="alice@example.org" type="groupchat" id="x1"><body>hi</body><delay xmlns="urn:xmpp:delay" stamp="9999-12-31T23:59:59-14:00"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net/mallory" to="alice@example.org/phone" type="groupchat" id="x1"><body>hi</body><delay xmlns="urn:xmpp:delay" stamp="9999-12-31T23:59:59-14:00"/></message>',
        ),
    ]
    assert steps[6] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:10Z"/></x></presence>'
        ),
    ]


def test_late_copy_of_the_old_self_presence_is_stale_and_the_rejoin_goes_out() -> None:
    """XEP-0045 §11.1 (332), RFC 6120 §8.2.3: an old join's id answers nothing in flight."""
    steps = replayed("07-duplicate-self-presence-during-rejoin-crash")
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        discard(
            "stale",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]


def test_autojoin_turned_off_while_waiting_to_rejoin_tells_the_session_it_left() -> None:
    """XEP-0402 (autojoin off), XEP-0045 §11.1 and §7.14: the session gets its unavailable."""
    steps = replayed("08-bookmark-off-during-rejoin-delay")
    assert steps[4] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[7] == [
        pass_on(
            '<iq to="lounge@muc.example.net/alice" type="get" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps.get(8, []) == []


def test_lost_rejoin_times_out_and_is_tried_again() -> None:
    """XEP-0045 §11.1 (332) and §7.2: a rejoin has a deadline; a lost one is tried again.
    The phone's repeated join (§7.2.1) in the back-off sends the rejoin at once and waits
    for it; that rejoin's deadline answers it from the table (§7.2.15 order)."""
    steps = replayed("09-lost-rejoin-stuck-rejoining")
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps.get(7, []) == []
    assert steps[8] == [
        deliver(
            PHONE,
            '<iq from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="result" id="ping1"/>',
        ),
    ]
    assert steps[9] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[10] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat" id="s1"><subject/></message>',
        ),
    ]


def test_nick_change_rewritten_by_the_room_completes_and_the_next_one_times_out() -> None:
    """XEP-0045 §7.6 (the room MAY rewrite the nick) and XEP-0410 §4 (no ping meanwhile)."""
    steps = replayed("10-nick-change-rewritten-by-room-stuck")
    assert steps[5] == [
        send('<presence from="alice@example.org" to="lounge@muc.example.net/Al" id="n1"/>'),
    ]
    assert steps[6] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable" id="n1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" nick="al"/><status code="303"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[7] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/al" to="alice@example.org/phone" id="n1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/><status code="210"/></x></presence>',
        ),
    ]
    assert steps[8] == [
        send('<presence from="alice@example.org" to="lounge@muc.example.net/alicia" id="n2"/>'),
    ]
    assert steps[9] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alicia" to="alice@example.org/phone" type="error" id="n2"><error type="wait"><remote-server-timeout xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
    ]
    assert steps[10] == [
        send(
            '<iq from="alice@example.org" to="lounge@muc.example.net/al" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps.get(11, []) == []


def test_private_message_while_unattended_is_archived_pushed_and_kept_for_the_next_device() -> None:
    """XEP-0045 §7.5 and §7.2.13: the phone that comes next gets the PM it missed."""
    steps = replayed("11-pm-while-unattended-is-lost")
    assert steps[5] == [
        archive(
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="g1"><body>public hello</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>'
        ),
        unattended(
            LOUNGE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="g1"><body>public hello</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>',
            mentions=False,
        ),
    ]
    assert steps[6] == [
        archive(
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="chat" id="pm1"><body>private: the door code is 4711</body><x xmlns="http://jabber.org/protocol/muc#user"/><no-copy xmlns="urn:xmpp:hints"/></message>'
        ),
        unattended(
            LOUNGE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="chat" id="pm1"><body>private: the door code is 4711</body><x xmlns="http://jabber.org/protocol/muc#user"/><no-copy xmlns="urn:xmpp:hints"/></message>',
            mentions=True,
        ),
    ]
    assert steps[7] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="g1"><body>public hello</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:01:40Z"/></message>',
        ),
        # The private message no device got: the first device to come gets it.
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="chat" id="pm1"><body>private: the door code is 4711</body><x xmlns="http://jabber.org/protocol/muc#user"/><no-copy xmlns="urn:xmpp:hints"/><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:01:41Z"/></message>',
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat" id="s1"><subject/></message>',
        ),
    ]


def test_device_positions_survive_a_new_join_of_the_account() -> None:
    """XEP-0045 §7.14 and §7.2.13: a returning device gets exactly what it missed."""
    steps = replayed("12-stale-device-position-after-leave-rejoin")
    assert steps[12] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="lp"/>'
        ),
    ]
    assert steps.get(13, []) == []
    assert steps[14] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable" id="lp"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="j2"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[15] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[16] == [
        discard(
            "duplicate",
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b3"><body>msg 3</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:07Z"/></message>',
        ),
    ]
    assert steps[17] == [
        discard(
            "duplicate",
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b4"><body>msg 4</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:08Z"/></message>',
        ),
    ]
    assert steps[18] == [
        discard(
            "duplicate",
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b5"><body>msg 5</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:09Z"/></message>',
        ),
    ]
    assert steps[19] == [
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat" id="s2"><subject/></message>',
        ),
    ]
    assert steps[20] == [
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="jl2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="b3"><body>msg 3</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:07Z"/></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="b4"><body>msg 4</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:08Z"/></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="b5"><body>msg 5</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:09Z"/></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net" to="alice@example.org/laptop" type="groupchat" id="s2"><subject/></message>',
        ),
    ]


def test_same_stanza_id_twice_is_archived_forked_and_kept_once() -> None:
    """XEP-0359 stanza-id and XEP-0045 §7.2.13: a retransmission is a duplicate."""
    steps = replayed("13-duplicate-stanza-id-archived-twice")
    assert steps[5] == [
        archive(
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b1"><body>lunch?</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="b1"><body>lunch?</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>',
        ),
    ]
    assert steps[6] == [
        discard(
            "duplicate",
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b1"><body>lunch?</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>',
        ),
    ]
    assert steps[7] == [
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/laptop"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="j9"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="b1"><body>lunch?</body><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:10Z"/></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net" to="alice@example.org/laptop" type="groupchat" id="s1"><subject/></message>',
        ),
    ]


def test_leave_while_waiting_to_rejoin_is_answered_at_once() -> None:
    """XEP-0045 §11.1 (332) and §7.14: the leaving session gets its unavailable."""
    steps = replayed("14-leave-during-rejoin-delay-no-fate")
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable" id="l1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps.get(7, []) == []


def test_refused_autojoin_is_discarded_as_join_refused() -> None:
    """XEP-0402 autojoin and XEP-0045 §7.2.5-§7.2.11: the refusal has an explicit fate."""
    steps = replayed("15-autojoin-join-error-no-fate")
    assert steps.get(1, []) == []
    assert steps[2] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[3] == [
        discard(
            "join-refused",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="error" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/><error type="auth"><registration-required xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
    ]


def test_autojoin_bookmark_set_while_leaving_joins_again_when_the_leave_completes() -> None:
    """XEP-0402 autojoin and XEP-0045 §7.14: the bookmark wins once the leave is done."""
    steps = replayed("16-autojoin-bookmark-set-while-leaving-ignored")
    assert steps[5] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="l1"/>'
        ),
    ]
    assert steps.get(6, []) == []
    assert steps[7] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable" id="l1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps.get(8, []) == []
    assert steps.get(9, []) == []


def test_resync_without_a_subject_ends_after_resync_timeout() -> None:
    """XEP-0045 §7.2.15 and §7.7: without a subject the resync still ends in time."""
    steps = replayed("18-lost-subject-resync-never-ends")
    assert steps[5] == [
        discard(
            "rejoining",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/><status code="332"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[7] == [
        discard(
            "resync",
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
    ]
    assert steps[8] == [
        discard(
            "resync",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[9] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/guest1" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
    ]
    # An hour after the rejoin the resync (resync_timeout) is long over: Bob's presence is news.
    assert steps[10] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
    ]


def test_clock_in_milliseconds_stops_the_replay_at_the_first_event() -> None:
    """XEP-0082: a ``now`` beyond year 9999 is refused before anything changes."""
    text = script("19-large-time-raises-valueerror")
    (_, line), *_ = event_lines(text, "from-session")
    out = io.StringIO()
    with pytest.raises(ReplayError) as caught:
        replay(text, out, as_json=True)
    assert caught.value.line == line
    assert "now must be POSIX seconds from 0 to 253402300799 (year 9999)" in str(caught.value)
    assert out.getvalue() == ""


def test_clock_in_milliseconds_exits_with_status_2_naming_the_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """XEP-0082: the command line stops with exit status 2 and the script line."""
    path = CASES / "19-large-time-raises-valueerror.replay"
    (_, line), *_ = event_lines(path.read_text(encoding="utf-8"), "from-session")
    assert main(["replay", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"line {line}: now must be POSIX seconds from 0 to 253402300799" in captured.err


@pytest.mark.parametrize("now", [1e12, 253402300800.0, float("inf")])
def test_router_refuses_a_clock_in_milliseconds_and_changes_nothing(now: float) -> None:
    """XEP-0082: ``handle`` and ``handle_timer`` raise LocalProtocolError, state unchanged."""
    router = Router()
    phone, laptop = JID.parse(PHONE), JID.parse(LAPTOP)
    router.handle(FromSession(session=phone, stanza=parse_stanza(JOIN.format("j1"))), now=10.0)
    before = router.snapshot()
    deadline = router.next_deadline()
    late = FromSession(session=laptop, stanza=parse_stanza(JOIN.format("j2")))
    with pytest.raises(LocalProtocolError):
        router.handle(late, now=now)
    with pytest.raises(LocalProtocolError):
        router.handle_timer(now)
    assert router.snapshot() == before
    assert router.next_deadline() == deadline
    view = router.occupancy(JID.parse(ALICE), JID.parse(LOUNGE))
    assert view is not None
    assert view.pending == (phone,)
    # The clock did not move: the room's answer a second later is taken as usual.
    answer = parse_stanza(
        "<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='participant'/><status code='110'/></x></presence>"
    )
    actions = router.handle(ToAccount(stanza=answer), now=11.0)
    assert len(actions) == 1
    assert isinstance(actions[0], Deliver)
    assert actions[0].session == phone


def test_other_occupant_with_the_requested_nick_is_not_taken_for_the_account() -> None:
    """XEP-0045 §7.2.2, §7.2.3 and §7.2.9: only 110 (or the join's id) marks the account."""
    steps = replayed("20-other-occupant-with-requested-nick-taken-as-self")
    assert steps[2] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" jid="alice@elsewhere.example/pc"/></x></presence>',
        ),
    ]
    assert steps[3] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/Alice W." to="alice@example.org/phone" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" jid="alice@example.org"/><status code="100"/><status code="110"/><status code="210"/></x></presence>',
        ),
    ]
    assert steps[5] == [
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" jid="alice@elsewhere.example/pc"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/Alice W." to="alice@example.org/laptop" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant" jid="alice@example.org"/><status code="100"/><status code="110"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net" to="alice@example.org/laptop" type="groupchat" id="s1"><subject/></message>',
        ),
    ]


def test_nick_refusal_for_a_closed_session_is_discarded() -> None:
    """XEP-0045 §7.6: the refusal is for the session that asked, which is gone."""
    steps = replayed("22-nick-refusal-delivered-to-closed-session")
    assert steps[6] == [
        send('<presence from="alice@example.org" to="lounge@muc.example.net/bob" id="n1"/>'),
    ]
    assert steps.get(7, []) == []
    assert steps[8] == [
        discard(
            "no-session",
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org" type="error" id="n1"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
    ]


def test_join_history_after_the_grace_is_not_archived_again() -> None:
    """XEP-0045 §7.2.13 and XEP-0359: a message is offered to the archive once."""
    steps = replayed("24-debatable-rejoin-after-grace-rearchives-history")
    assert steps.get(6, []) == []
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="mmx-1"/>'
        ),
    ]
    assert steps[8] == [
        discard(
            "no-session",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[9] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="j2"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[10] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[11] == [
        discard(
            "duplicate",
            '<message from="lounge@muc.example.net/bob" to="alice@example.org" type="groupchat" id="b1"><body>lunch?</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:10Z"/><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="sid-1"/></message>',
        ),
    ]


def test_rejoin_history_repeating_a_message_without_stanza_id_is_recognised() -> None:
    """XEP-0410 §3, XEP-0045 §7.2.14: same id, sender and body is the same message."""
    steps = replayed("r01b-schrodinger-no-stanza-id")
    assert steps[6] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>before the restart</body></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>before the restart</body></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="room@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="m1"><body>before the restart</body></message>',
        ),
    ]
    assert steps[7] == [
        send(
            '<iq from="alice@example.org" to="room@muc.example.net/alice" type="get" id="mmx-1"><ping xmlns="urn:xmpp:ping"/></iq>'
        ),
    ]
    assert steps[8] == [
        discard(
            "keepalive",
            '<iq from="room@muc.example.net/alice" to="alice@example.org" type="error" id="mmx-1"><error type="cancel" by="room@muc.example.net"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
        ),
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"><history since="2027-01-15T08:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[9] == [
        discard(
            "resync",
            '<presence from="room@muc.example.net/bob" to="alice@example.org"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/></x></presence>',
        ),
    ]
    assert steps[10] == [
        discard(
            "resync",
            '<presence from="room@muc.example.net/alice" to="alice@example.org" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[11] == [
        discard(
            "resync",
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>before the restart</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:00:00Z"/></message>',
        ),
    ]
    assert steps[12] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>while you were out</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:10:00Z"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m2"><body>while you were out</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:10:00Z"/></message>',
        ),
        deliver(
            LAPTOP,
            '<message from="room@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="m2"><body>while you were out</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:10:00Z"/></message>',
        ),
    ]
    assert steps[13] == [
        discard(
            "resync",
            '<message from="room@muc.example.net" to="alice@example.org" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]


def test_message_bounced_from_a_lost_session_reaches_the_returning_phone() -> None:
    """XEP-0198 bounce, XEP-0045 §7.2.13: the phone gets m1 and m2 once each."""
    steps = replayed("r07-lost-in-sm-queue-after-reconnect")
    assert steps[5] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>first</body></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>first</body></message>',
        ),
    ]
    assert steps[6] == [
        discard(
            "error-to-room",
            '<message to="room@muc.example.net/bob" type="error" id="m1"><body>first</body><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>',
        ),
    ]
    assert steps.get(7, []) == []
    assert steps[8] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>second</body></message>'
        ),
        unattended(
            ROOM,
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>second</body></message>',
            mentions=False,
        ),
    ]
    assert steps[9] == [
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/bob" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/phone" id="j9"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>first</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="1970-01-01T00:01:00Z"/></message>',
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m2"><body>second</body><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="1970-01-01T00:06:10Z"/></message>',
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]


def test_device_back_after_a_long_absence_gets_what_it_missed_and_no_more() -> None:
    """XEP-0045 §7.2.13: no gap, no repeat; the archive is offered only the new messages."""
    steps = replayed("r09-history-gap-after-long-absence")
    assert steps.get(7, []) == []
    assert steps[8] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" type="unavailable" id="mmx-1"/>'
        ),
    ]
    assert steps[9] == [
        discard(
            "no-session",
            '<presence from="room@muc.example.net/alice" to="alice@example.org" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[10] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="back"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[11] == [
        deliver(
            LAPTOP,
            '<presence from="room@muc.example.net/bob" to="alice@example.org/laptop"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/></x></presence>',
        ),
    ]
    assert steps[12] == [
        deliver(
            LAPTOP,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/laptop" id="back"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[13] == [
        discard(
            "duplicate",
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>one</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s1"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:00:00Z"/></message>',
        ),
    ]
    assert steps[14] == [
        discard(
            "duplicate",
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>two</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s2"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:00:10Z"/></message>',
        ),
    ]
    assert steps[15] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m3"><body>three</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s3"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:05:00Z"/></message>'
        ),
        deliver(
            LAPTOP,
            '<message from="room@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="m3"><body>three</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s3"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:05:00Z"/></message>',
        ),
    ]
    assert steps[16] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m4"><body>four</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s4"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:06:00Z"/></message>'
        ),
        deliver(
            LAPTOP,
            '<message from="room@muc.example.net/bob" to="alice@example.org/laptop" type="groupchat" id="m4"><body>four</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s4"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:06:00Z"/></message>',
        ),
    ]
    assert steps[17] == [
        deliver(
            LAPTOP,
            '<message from="room@muc.example.net" to="alice@example.org/laptop" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]


def test_join_history_repeating_archived_messages_is_not_archived_again() -> None:
    """XEP-0045 §7.2.13 and XEP-0359: m1 and m2 are not offered to the archive twice."""
    steps = replayed("r10-archive-duplicates-on-rejoin")
    assert steps[5] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>one</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s1"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>one</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s1"/></message>',
        ),
    ]
    assert steps[6] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>two</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s2"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m2"><body>two</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s2"/></message>',
        ),
    ]
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" type="unavailable"/>'
        ),
    ]
    assert steps[8] == [
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[9] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="back"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[10] == [
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/phone" id="back"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[11] == [
        discard(
            "duplicate",
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m1"><body>one</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s1"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:00:00Z"/></message>',
        ),
    ]
    assert steps[12] == [
        discard(
            "duplicate",
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m2"><body>two</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s2"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:00:10Z"/></message>',
        ),
    ]
    assert steps[13] == [
        archive(
            '<message from="room@muc.example.net/bob" to="alice@example.org" type="groupchat" id="m3"><body>three</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s3"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:03:00Z"/></message>'
        ),
        deliver(
            PHONE,
            '<message from="room@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m3"><body>three</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.net" id="s3"/><delay xmlns="urn:xmpp:delay" from="room@muc.example.net" stamp="2027-01-15T08:03:00Z"/></message>',
        ),
    ]
    assert steps[14] == [
        deliver(
            PHONE,
            '<message from="room@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]


def test_unanswered_leave_times_out_and_the_waiting_join_gets_an_answer() -> None:
    """XEP-0045 §7.14 and §7.2, RFC 6120 §8.3.3.17: no request waits for ever."""
    steps = replayed("r11-unanswered-leave-blocks-rejoin")
    assert steps[5] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" type="unavailable"/>'
        ),
    ]
    assert steps.get(6, []) == []
    assert steps[7] == [
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="again"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[8] == [
        deliver(
            PHONE,
            '<presence from="room@muc.example.net/alice" to="alice@example.org/phone" type="error" id="again"><error type="wait"><remote-server-timeout xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" type="unavailable" id="mmx-1"/>'
        ),
    ]
    # Nobody answers the leave either: it is said once more and waited for again. The
    # phone, out of the room, is told so when it speaks, as the room would tell it.
    assert steps[9] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" type="unavailable" id="mmx-2"/>'
        ),
    ]
    assert steps[10] == [
        deliver(
            PHONE,
            '<message from="room@muc.example.net" to="alice@example.org/phone" type="error" id="g1"><error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">You are not currently connected to this chat</text></error></message>',
        ),
    ]


def test_autojoin_that_failed_transiently_is_retried_with_back_off() -> None:
    """XEP-0402 autojoin, RFC 6120 §8.3.3.17 (wait): the join is tried again."""
    steps = replayed("r15-autojoin-transient-failure-no-retry")
    assert steps.get(1, []) == []
    assert steps[2] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[3] == [
        discard(
            "join-refused",
            '<presence from="room@muc.example.net/alice" to="alice@example.org" type="error" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"/><error type="wait"><remote-server-timeout xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
    ]
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps.get(5, []) == []
    assert steps[6] == [
        send(
            '<presence from="alice@example.org" to="room@muc.example.net/alice" id="mmx-3"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]


def test_a_join_answered_after_the_router_forgot_it_is_left_not_kept_as_a_ghost() -> None:
    """XEP-0045 §7.14: a join on its way when the process restarted is kept; when nothing
    wants the room any more, the account leaves it at once, which the room may have
    admitted it to. What the room sends before its answer to the leave is nobody's."""
    steps = replayed("found-08-join-answered-after-restart-forgot-it-ghost")
    assert steps[4] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="mmx-2"/>'
        ),
    ]
    assert steps[5] == [
        discard(
            "no-session",
            '<presence from="lounge@muc.example.net/carol" to="alice@example.org"><x xmlns="http://jabber.org/protocol/muc#user"><item role="participant" affiliation="none"/></x></presence>',
        ),
    ]
    assert steps[6] == [
        discard(
            "stale",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc#user"><item role="participant" affiliation="none" jid="alice@example.org"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[7] == [
        discard(
            "no-session",
            '<message from="lounge@muc.example.net" to="alice@example.org" type="groupchat"><subject>Lounge talk</subject></message>',
        ),
    ]
    assert steps[8] == [
        discard(
            "no-session",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc#user"><item role="none" affiliation="none" jid="alice@example.org"/><status code="110"/></x></presence>',
        ),
    ]


def test_a_join_during_a_rejoin_s_sequence_gets_the_missed_history_before_the_subject() -> None:
    """XEP-0045 §7.2.15: the laptop joins between the rejoin's self-presence and its
    subject; it waits, and the subject answers it in order, the missed message in its
    history before the subject, then live traffic."""
    steps = replayed("25-join-during-rejoin-gets-history-after-subject")
    assert 10 not in steps  # the laptop's join waits
    m1 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m1"><body>seen</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:05Z"/></message>'
    m2 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m2"><body>missed</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:12Z"/></message>'
    subject = '<message from="lounge@muc.example.net" to="{}" type="groupchat"><subject>Welcome</subject></message>'
    assert steps[11] == [discard("resync", m1.format(ALICE))]
    assert steps[12] == [archive(m2.format(ALICE)), deliver(PHONE, m2.format(PHONE))]
    assert steps[13] == [
        discard("resync", subject.format(ALICE)),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/laptop"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(LAPTOP, m1.format(LAPTOP)),
        deliver(LAPTOP, m2.format(LAPTOP)),
        deliver(LAPTOP, subject.format(LAPTOP)),
    ]
    m3 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m3"><body>live</body></message>'
    assert steps[14] == [
        archive(m3.format(ALICE)),
        deliver(PHONE, m3.format(PHONE)),
        deliver(LAPTOP, m3.format(LAPTOP)),
    ]


def test_a_join_while_waiting_to_rejoin_rejoins_now_and_gets_the_missed_history_first() -> None:
    """XEP-0045 §11.1, §7.2.15: after a 332 the laptop joins while the account waits to
    rejoin; its join sends the rejoin at once (not after the back-off) and waits for it;
    the rejoin's subject answers it, the missed message before the subject, then live
    traffic."""
    steps = replayed("26-join-during-rejoin-wait-gets-history-after-subject")
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:05Z"/></x></presence>'
        ),
    ]
    m1 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m1"><body>seen</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:05Z"/></message>'
    m2 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m2"><body>missed</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:11Z"/></message>'
    subject = '<message from="lounge@muc.example.net" to="{}" type="groupchat"><subject>Old topic</subject></message>'
    assert steps[10] == [discard("resync", m1.format(ALICE))]
    assert steps[11] == [archive(m2.format(ALICE)), deliver(PHONE, m2.format(PHONE))]
    assert steps[12] == [
        discard("resync", subject.format(ALICE)),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/bob" to="alice@example.org/laptop"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x></presence>',
        ),
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
        deliver(LAPTOP, m1.format(LAPTOP)),
        deliver(LAPTOP, m2.format(LAPTOP)),
        deliver(LAPTOP, subject.format(LAPTOP)),
    ]
    m3 = '<message from="lounge@muc.example.net/bob" to="{}" type="groupchat" id="m3"><body>live</body></message>'
    assert steps[13] == [
        archive(m3.format(ALICE)),
        deliver(PHONE, m3.format(PHONE)),
        deliver(LAPTOP, m3.format(LAPTOP)),
    ]
