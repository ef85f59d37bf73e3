"""Answers to the account's earlier joins and leaves (``tests/cases/earlier-*.replay``).

Each replay script ``tests/cases/earlier-*.replay`` starts with comments that describe the
situation, what the router did and what it should do. Each test runs its script through
:func:`minimix_core._replay.replay`, in process, and checks the actions of the steps that
matter; an exception out of the router fails the test.
"""

from __future__ import annotations

import random

from minimix_core import (
    JID,
    Action,
    Config,
    Deliver,
    FromSession,
    Router,
    Send,
    Stanza,
    ToAccount,
    parse_stanza,
)
from minimix_core._replay import restored
from minimix_core.testing._chaos import play, random_ops, story_faults
from test_break_cases import Record, deliver, discard, due, replayed, send

ALICE = "alice@example.org"
PHONE = "alice@example.org/phone"
LAPTOP = "alice@example.org/laptop"
LOUNGE = "lounge@muc.example.net"
GARDEN = "garden@muc.example.net"
USER = "http://jabber.org/protocol/muc#user"


def test_a_join_reusing_the_id_of_a_leave_whose_answer_was_lost_gets_in() -> None:
    """XEP-0045 §7.2.2, §7.2.3, §7.14: the self-presence under the id of the join in flight
    answers that join, even when a leave before it had the same id (devices number their
    stanzas per stream): an available presence is never a leave's answer."""
    steps, deadlines = replayed("earlier-01-join-reusing-the-lost-leave-s-id-never-gets-in")
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
    steps, _ = replayed("earlier-02-leave-in-flight-at-restart-forgotten-ghost")
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
    steps, _ = replayed("earlier-03-restart-during-autojoin-keeps-the-room-it-created")
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


def _lounge_alone_answers(router: Router, actions: list[Action], now: float) -> list[Action]:
    """What the router does while a lounge with nobody but alice in it answers, promptly
    and correctly, everything the router sends it (XEP-0045 §7.2, §7.14, XEP-0410)."""
    seen: list[Action] = []
    queue = list(actions)
    for _ in range(50):
        if not queue:
            return seen
        action = queue.pop(0)
        seen.append(action)
        if not isinstance(action, Send):
            continue
        stanza = action.stanza
        if stanza.to is None or stanza.to.bare != JID.parse(LOUNGE):
            continue
        sid = "" if stanza.id is None else f" id='{stanza.id}'"
        answers: list[str] = []
        if stanza.kind == "iq":
            answers = [f"<iq type='result' from='{LOUNGE}/alice' to='{ALICE}'{sid}/>"]
        elif stanza.kind == "presence" and stanza.type == "unavailable":
            answers = [
                f"<presence type='unavailable' from='{LOUNGE}/alice' to='{ALICE}'{sid}>"
                f"<x xmlns='{USER}'><item affiliation='member' role='none'/>"
                "<status code='110'/></x></presence>"
            ]
        elif stanza.kind == "presence" and stanza.type is None:
            answers = [
                f"<presence from='{LOUNGE}/alice' to='{ALICE}'{sid}><x xmlns='{USER}'>"
                "<item affiliation='member' role='participant'/><status code='110'/></x></presence>",
                f"<message from='{LOUNGE}' to='{ALICE}' type='groupchat'><subject>Topic</subject></message>",
            ]
        for xml in answers:
            queue += router.handle(ToAccount(stanza=parse_stanza(xml)), now=now)
    raise AssertionError("the router and the room never settle")


def _phone_sees(actions: list[Action]) -> set[str]:
    """The occupants of the lounge other than alice that the phone believes are in."""
    shown: set[str] = set()
    for action in actions:
        if not isinstance(action, Deliver) or str(action.session) != PHONE:
            continue
        stanza: Stanza = action.stanza
        sender = stanza.from_
        if stanza.kind != "presence" or sender is None or sender.resource in (None, "alice"):
            continue
        if stanza.type == "unavailable":
            shown.discard(sender.resource)
        elif stanza.type is None:
            shown.add(sender.resource)
    return shown


def test_a_device_back_after_a_rejoin_answered_with_nobody_to_tell_is_not_left_with_a_ghost() -> (
    None
):
    """XEP-0045 §7.2.3, XEP-0410: the rejoin's answer set aside after a restart (nobody
    attached, no bookmark) means the router's table is not what the room has; the phone
    that comes back before the room's turn to be left must not keep bob, whom the room
    no longer has, once the room has answered what the router asks it."""
    router = Router(Config(autojoin_interval=30.0))
    garden, lounge = JID.parse(GARDEN), JID.parse(LOUNGE)

    def session(who: str, xml: str, now: float) -> list[Action]:
        return router.handle(FromSession(session=JID.parse(who), stanza=parse_stanza(xml)), now=now)

    def room(xml: str, now: float) -> list[Action]:
        return router.handle(ToAccount(stanza=parse_stanza(xml)), now=now)

    muc = "<x xmlns='http://jabber.org/protocol/muc'/>"
    me = "<x xmlns='{}'><item affiliation='member' role='participant'/><status code='110'/></x>"
    session(LAPTOP, f"<presence to='{GARDEN}/alice' id='g1'>{muc}</presence>", 0)
    room(f"<presence from='{GARDEN}/alice' to='{ALICE}' id='g1'>{me.format(USER)}</presence>", 0)
    session(PHONE, f"<presence to='{LOUNGE}/alice' id='j1'>{muc}</presence>", 0)
    room(
        f"<presence from='{LOUNGE}/bob' to='{ALICE}'><x xmlns='{USER}'>"
        "<item affiliation='none' role='participant'/></x></presence>",
        0,
    )
    room(f"<presence from='{LOUNGE}/alice' to='{ALICE}' id='j1'>{me.format(USER)}</presence>", 0)
    room(
        f"<message from='{LOUNGE}' to='{ALICE}' type='groupchat'><subject>Topic</subject></message>",
        0,
    )
    pings = router.handle_timer(900)
    assert [a.stanza.id for a in pings if isinstance(a, Send)] == ["mmx-1", "mmx-2"]
    [_, rejoin] = room(
        f"<iq type='error' from='{LOUNGE}/alice' to='{ALICE}' id='mmx-2'><error type='cancel'>"
        "<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        900,
    )
    assert isinstance(rejoin, Send) and rejoin.stanza.id == "mmx-3"
    router = restored(router, 901, sessions=False)
    [leave_garden] = router.handle_timer(901)
    assert isinstance(leave_garden, Send) and leave_garden.stanza.to == garden.with_resource(
        "alice"
    )
    # The lounge, with nobody but alice now, answers the rejoin.
    room(
        f"<presence from='{LOUNGE}/alice' to='{ALICE}' id='mmx-3'>{me.format(USER)}</presence>", 901
    )
    room(
        f"<message from='{LOUNGE}' to='{ALICE}' type='groupchat'><subject>Topic</subject></message>",
        901,
    )
    # The phone comes back before the lounge's turn to be left (931).
    back = session(PHONE, f"<presence to='{LOUNGE}/alice' id='j2'>{muc}</presence>", 905)
    settled = _lounge_alone_answers(router, back, 905)
    settled += _lounge_alone_answers(router, router.handle_timer(931), 931)
    view = router.occupancy(JID.parse(ALICE), lounge)
    assert view is not None and JID.parse(PHONE) in view.attached  # the phone is in
    assert _phone_sees(settled) == set()  # and bob, not in the room, is not with it


def test_a_rejoin_answered_with_the_id_of_the_join_that_let_the_account_in_is_its_answer() -> None:
    """XEP-0045 §7.2.1, §7.2.2: the join that let the account in was answered before the
    restart; a self-presence under its id (the stored presence's, as the room re-sends it)
    is no earlier join's late answer, and answers the rejoin in flight."""
    steps, deadlines = replayed("earlier-05-rejoin-answered-with-the-stored-presence-id-is-stale")
    assert steps[7] == [
        send(
            '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[9] == [
        discard(
            "resync",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        ),
    ]
    assert steps[10] == [
        discard(
            "resync",
            '<message from="lounge@muc.example.net" to="alice@example.org" type="groupchat"><subject>Topic</subject></message>',
        ),
    ]
    assert deadlines[10] == due(1000.0, ("ping", LOUNGE))  # in: no rejoin waited for
    assert 11 not in steps


def test_a_join_answered_after_an_earlier_join_s_answer_gets_its_history_and_subject() -> None:
    """XEP-0045 §7.1, §7.2.15: after its self-presence, the phone gets the history its join
    asked for, then the subject that ends its join, even though the account had them from
    an earlier join's answer set aside (and asks the room again for itself)."""
    steps, _ = replayed(
        "earlier-06-join-answered-after-an-earlier-answer-gets-no-history-nor-subject"
    )
    to_phone = [
        str(record["xml"])
        for step in range(11, 17)
        for record in steps.get(step, [])
        if record["action"] == "deliver" and record["session"] == PHONE
    ]
    assert to_phone == [
        '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>earlier</body><delay xmlns="urn:xmpp:delay" from="lounge@muc.example.net" stamp="1970-01-01T00:00:00Z"/><stanza-id xmlns="urn:xmpp:sid:0" by="lounge@muc.example.net" id="s1"/></message>',
        '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject>Topic</subject></message>',
    ]
    # The history with its self-presence (the account had it from the answer set aside, so
    # the room's copy that follows is a duplicate), then the subject that ends its join.
    assert steps[11][-1] == deliver(PHONE, to_phone[1])
    assert steps[12][-1]["reason"] == "duplicate"
    assert steps[13][0] == deliver(PHONE, to_phone[2])


def test_a_rejoin_answered_by_a_room_made_anew_leaves_nobody_from_before() -> None:
    """XEP-0045 §10.1.1: a room created by the account's rejoin (201) has nobody else in
    it; dave, named while the rejoin was on its way, was of the room before."""
    steps, _ = replayed("earlier-07-rejoin-answered-by-a-room-made-anew-keeps-a-ghost")
    assert steps[8] == [
        send(
            '<presence from="alice@example.org" to="garden@muc.example.net/alice" id="mmx-1"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:00:00Z"/></x></presence>'
        ),
    ]
    assert steps[12] == [
        deliver(
            PHONE,
            '<presence from="garden@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="owner" role="moderator"/><status code="110"/></x></presence>',
        ),
        deliver(
            PHONE,
            '<message from="garden@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject/></message>',
        ),
    ]


_J2_IN = '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>'
_ASKED_AGAIN = '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="mmx-2"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T00:01:32Z"/></x></presence>'
_CAROL_GONE = '<presence from="lounge@muc.example.net/carol" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="none"/></x></presence>'
_SUBJECT = '<message from="lounge@muc.example.net" to="alice@example.org/phone" type="groupchat"><subject>Topic</subject></message>'


def test_a_join_after_a_leave_that_timed_out_tells_the_answer_to_the_join_before_apart() -> None:
    """XEP-0045 §7.1, §7.2.2, §7.14: the leave and the join it followed are both unanswered
    when the next join goes out; the first join's late answer is an earlier one's, and the
    account asks again after the next join's sequence, so carol, gone meanwhile, goes."""
    steps, deadlines = replayed(
        "earlier-08-join-after-a-lost-leave-takes-the-earlier-join-s-answer-ghost"
    )
    assert steps[7] == [
        discard(
            "stale",
            '<presence from="lounge@muc.example.net/alice" to="alice@example.org" id="j1"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>',
        )
    ]
    assert steps[8] == [
        discard(
            "stale",
            '<message from="lounge@muc.example.net" to="alice@example.org" type="groupchat"><subject>Topic</subject></message>',
        )
    ]
    assert steps[10] == [deliver(PHONE, _J2_IN)]
    assert deadlines[10] == due(152.0, ("resync", LOUNGE))
    assert steps[11] == [deliver(PHONE, _SUBJECT), send(_ASKED_AGAIN)]
    assert deadlines[11] == due(152.0, ("rejoin-timeout", LOUNGE))  # the resync's is gone
    assert steps[13][0] == deliver(PHONE, _CAROL_GONE)
    assert [a["action"] for a in steps[12] + steps[13][1:] + steps[14]] == ["discard"] * 3


def test_a_join_sequence_whose_subject_never_comes_ends_at_the_resync_s_deadline() -> None:
    """XEP-0045 §7.2.15: the subject ends a join sequence; without one, the sequence an
    earlier join's answer came into ends at ``Config.resync_timeout``, and the account asks
    the room again then; the phone gets its subject from that answer."""
    steps, deadlines = replayed("earlier-09-join-sequence-without-subject-never-asks-again-ghost")
    assert steps[10] == [deliver(PHONE, _J2_IN)]
    assert deadlines[10] == due(152.0, ("resync", LOUNGE))
    assert steps[11] == [send(_ASKED_AGAIN)]
    assert steps[13][0] == deliver(PHONE, _CAROL_GONE)
    assert steps[14] == [deliver(PHONE, _SUBJECT)]
    assert deadlines[14] == due(1052.0, ("ping", LOUNGE))


def _gone(nick: str) -> Record:
    return deliver(
        PHONE,
        f'<presence from="lounge@muc.example.net/{nick}" to="alice@example.org/phone" type="unavailable"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="none"/></x></presence>',
    )


def _self_out(leave_id: str) -> str:
    return f'<presence from="lounge@muc.example.net/alice" to="alice@example.org" type="unavailable" id="{leave_id}"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="none"/><status code="110"/></x></presence>'


def _self_in(join_id: str, nick: str = "alice") -> str:
    return f'<presence from="lounge@muc.example.net/{nick}" to="alice@example.org/phone" id="{join_id}"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/><status code="110"/></x></presence>'


def _ask(join_id: str, since: str, nick: str = "alice") -> Record:
    return send(
        f'<presence from="alice@example.org" to="lounge@muc.example.net/{nick}" id="{join_id}"><x xmlns="http://jabber.org/protocol/muc"><history since="1970-01-01T{since}Z"/></x></presence>'
    )


def test_the_answer_to_the_first_of_two_leaves_ends_the_room_s_sequence_before_the_join() -> None:
    """XEP-0045 §7.1, §7.14: a leave said twice has two ids whose answers may come; the
    first one's ends what the room sent before the join, carol included."""
    steps, deadlines = replayed("break38-01-leave-said-twice-forgets-the-first-leave-ghost")
    assert steps[10] == [discard("stale", _self_out("l1")), _gone("carol")]
    assert steps[12] == [deliver(PHONE, _self_in("j2"))]
    assert deadlines[12] == due(970.0, ("ping", LOUNGE))


def test_the_answer_to_the_first_leave_keeps_the_ids_sent_after_it() -> None:
    """XEP-0045 §7.1, §7.2.3: the room answers in order; the first leave's answer settles it
    and what came before, not the join and leave sent after it."""
    steps, _ = replayed("break38-02-answer-to-the-first-leave-forgets-the-later-join-ghost")
    assert steps[12] == [discard("stale", _self_out("mmx-1")), _gone("carol"), _gone("bob")]
    assert steps[15][0]["reason"] == "stale"  # j2's answer is an earlier join's
    assert steps[18] == [deliver(PHONE, _self_in("j3"))]
    assert steps[19] == [deliver(PHONE, _SUBJECT), _ask("mmx-3", "00:03:00")]
    assert steps[21][0] == _gone("carol")
    assert [a["action"] for a in steps[20] + steps[21][1:] + steps[22]] == ["discard"] * 3


def test_the_ask_at_the_resync_deadline_waits_for_a_nick_change_s_answer() -> None:
    """XEP-0045 §7.6, XEP-0410 §4: no join between a nick change and its answer, which would
    be taken for the join's; the account asks once the change is made, under the new nick."""
    steps, deadlines = replayed("break38-03-resync-deadline-rejoin-during-a-nick-change-drops-bob")
    assert 12 not in steps
    assert deadlines[11] == due(152.0, ("resync", LOUNGE))
    assert steps[14] == [
        deliver(PHONE, _self_in("n1", "alice2")),
        _ask("mmx-2", "00:01:32", "alice2"),
    ]
    assert not any(r == _gone("bob") for records in steps.values() for r in records)


def test_a_nick_change_unanswered_lets_the_put_off_ask_go_at_its_deadline() -> None:
    """XEP-0045 §7.6: the change's deadline bounds the wait of the ask it put off."""
    steps, _ = replayed("earlier-10-a-nick-change-unanswered-puts-off-the-ask-to-its-deadline")
    assert 12 not in steps
    assert steps[13][1:] == [_ask("mmx-2", "00:01:32")]
    assert '<remote-server-timeout xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>' in str(
        steps[13][0]
    )


def test_a_nick_change_refused_lets_the_put_off_ask_go() -> None:
    """XEP-0045 §7.6.3: a refusal ends the change; the ask it put off goes then."""
    steps, deadlines = replayed("earlier-11-a-nick-change-refused-lets-the-put-off-ask-go")
    assert steps[13] == [
        deliver(
            PHONE,
            '<presence from="lounge@muc.example.net/alice2" to="alice@example.org/phone" type="error" id="n1"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>',
        ),
        _ask("mmx-2", "00:01:32"),
    ]
    assert deadlines[13] == due(212.0, ("rejoin-timeout", LOUNGE))


def test_a_nick_change_made_during_the_join_sequence_leaves_the_ask_to_its_end() -> None:
    """XEP-0045 §7.2.15, §7.6: a change over before the sequence's end asks nothing; the
    resync deadline asks, under the new nick."""
    steps, deadlines = replayed(
        "earlier-12-a-nick-change-made-during-the-join-sequence-asks-at-its-end"
    )
    assert steps[13] == [deliver(PHONE, _self_in("n1", "alice2"))]
    assert deadlines[13] == due(152.0, ("resync", LOUNGE))
    assert steps[14] == [_ask("mmx-2", "00:01:32", "alice2")]
