"""Break 35: the router's handling of answers to earlier joins (``findings/*.replay``).

Each replay script in ``findings/`` starts with comments that describe the situation,
what the router does and what it should do. Each test runs its script through
:func:`minimix_core._replay.replay`, in process, and checks the actions of the steps that
matter; an exception out of the router fails the test.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from minimix_core import JID
from minimix_core._replay import replay
from minimix_core.testing._chaos import play, random_ops, story_faults

FINDINGS = Path(__file__).parent.parent / "findings"
ALICE = "alice@example.org"
PHONE = "alice@example.org/phone"
LAPTOP = "alice@example.org/laptop"
LOUNGE = "lounge@muc.example.net"
GARDEN = "garden@muc.example.net"
USER = "http://jabber.org/protocol/muc#user"

Record = dict[str, object]


def replayed(name: str) -> tuple[dict[int, list[Record]], dict[int, object]]:
    """The script's actions by step (without step and deadline) and each step's deadline.

    A step that returns no action has no entry in either.
    """
    text = (FINDINGS / f"{name}.replay").read_text(encoding="utf-8")
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


def test_a_join_reusing_the_id_of_a_leave_whose_answer_was_lost_gets_in() -> None:
    """XEP-0045 §7.2.2, §7.2.3, §7.14: the self-presence under the id of the join in flight
    answers that join, even when a leave before it had the same id (devices number their
    stanzas per stream): an available presence is never a leave's answer."""
    steps, deadlines = replayed("01-join-reusing-the-lost-leave-s-id-never-gets-in")
    assert steps[7] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" type="unavailable" id="4"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>',
        ),
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="4"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
        ),
    ]
    assert steps[9] == [
        deliver(
            LAPTOP,
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org/laptop" id="4"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert deadlines[9] == due(940.0, ("ping", LOUNGE))
    assert steps[10] == [
        deliver(
            LAPTOP,
            '<message from="lounge@muc.example.net" to="alice@example.org/laptop" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]
    assert 11 not in steps  # no remote-server-timeout, no leave: the laptop is in


def test_the_answer_to_a_leave_in_flight_at_a_restart_ends_the_room_s_sequence_before_it() -> None:
    """XEP-0045 §7.1, §7.2.3, §7.14: dave's presence, sent before the room took the leave,
    is not part of the restart's rejoin sequence; the rejoin's answer does not name him,
    so the phone coming back is not shown him."""
    steps, _ = replayed("02-leave-in-flight-at-restart-forgotten-ghost")
    assert steps[8] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[14] == [
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
            '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]


def test_chaos_seed_300943_a_leave_in_flight_at_a_restart_leaves_no_ghost() -> None:
    """The chaos story that found finding 02 (``python -m minimix_core.testing._chaos
    --seed 300943 --stories 1 --steps 80``): the autojoin created the garden, the router
    was leaving it when the process restarted, the phone joined it; dave, named before the
    leave was taken, stayed with the phone after the room was made anew (201)."""
    rng = random.Random(300943)
    faults = story_faults(rng)
    story, failure = play(random_ops(rng, 80), 300943, faults)
    assert failure is None, story.script(failure)


def test_the_answer_to_a_join_in_flight_at_a_restart_that_created_the_room_is_left() -> None:
    """XEP-0045 §10.1.1: a room the autojoin created is locked until someone configures
    it; nobody will, so the account leaves it, after a restart as without one. Its answer
    is the restored room's own join's, told apart by its id (``Occupancy.earlier``)."""
    steps, _ = replayed("03-restart-during-autojoin-keeps-the-room-it-created")
    created = (
        '<presence from="garden@muc.example.net/alice" to="alice@example.org" id="mmx-1">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><status code="201"/>'
        '<item affiliation="owner" role="moderator"/><status code="110"/></x></presence>'
    )
    assert steps[4] == [
        discard("no-session", created),
        send(
            '<presence from="alice@example.org" to="garden@muc.example.net/alice" type="unavailable" id="mmx-2"/>'
        ),
    ]
    # The autojoin turn of the restored room: nothing to join again.
    assert all(record["action"] != "send" for record in steps.get(6, []))

