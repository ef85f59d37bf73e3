"""Properties of the router under random input, and of the XML and replay edges."""

from __future__ import annotations

import json
import string

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fixture_transcripts import StanzaEntry, load
from minimix_core import (
    Action,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Event,
    FromSession,
    Router,
    Send,
    SessionClosed,
    Stanza,
    StanzaParseError,
    ToAccount,
    parse_stanza,
    serialize,
)
from minimix_core._replay import ReplayError, replay
from minimix_core.testing import events, stories

# Refusals that must leave the table exactly as it was.
REFUSALS = {
    DiscardReason.FORGED_FROM,
    DiscardReason.ERROR_TO_ROOM,
    DiscardReason.NOT_IN_ROOM,
    DiscardReason.MALFORMED,
    DiscardReason.UNEXPECTED,
}


def apply(router: Router, now: float, event: Event | None) -> list[Action]:
    return router.handle_timer(now) if event is None else router.handle(event, now=now)


def check(router: Router, event: Event | None, actions: list[Action]) -> None:
    """Invariants every step must keep."""
    for action in actions:
        if isinstance(action, Deliver):
            assert action.stanza.to == action.session
            if isinstance(event, (FromSession, SessionClosed)):
                assert action.session.bare == event.session.bare
            if isinstance(event, ToAccount):
                assert action.session.bare == event.stanza.to
        if isinstance(action, Send):
            assert action.stanza.from_ is not None and action.stanza.from_.is_bare
            # Nothing the router sends may get the account kicked (fixtures finding 11).
            assert action.stanza.type != "error"
    if isinstance(event, (FromSession, ToAccount)):
        originals = [a for a in actions if isinstance(a, (Continue, Discard))]
        assert len(originals) <= 1
    table = router._core.table
    for account in table.accounts.values():
        for session, rooms in account.sessions.items():
            for room in rooms:
                occ = account.rooms[room]
                assert session in occ.attached or session in occ.pending or session in occ.leaving
        for room, occ in account.rooms.items():
            for group in (occ.attached, occ.pending, occ.leaving):
                for session in group:
                    assert room in account.sessions[session]
            assert len(occ.sent_ids or ()) <= router.config.max_tracked_ids
            assert len(occ.view.occupants) <= router.config.max_occupants_per_room
            assert (
                occ.view.history is None
                or len(occ.view.history) <= router.config.max_history_messages
            )
        assert len(account.pending_iqs) <= router.config.max_pending_iqs


@given(stories())
def test_random_stories_never_raise_and_keep_every_invariant(
    story: list[tuple[float, Event | None]],
) -> None:
    """Any sequence of valid events gives actions, never an exception; refusals change nothing."""
    router = Router()
    now = 0.0
    for step, event in story:
        now += step
        before = json.dumps(router.snapshot(), sort_keys=True)
        actions = apply(router, now, event)
        check(router, event, actions)
        if len(actions) == 1 and isinstance(actions[0], Discard) and actions[0].reason in REFUSALS:
            after = json.loads(json.dumps(router.snapshot()))
            after["now"] = json.loads(before)["now"]
            assert json.dumps(after, sort_keys=True) == before


class SnapshotAnyStep(RuleBasedStateMachine):
    """A snapshot round trip at any step changes nothing that follows."""

    @initialize()
    def start(self) -> None:
        self.original = Router()
        self.copy = Router()
        self.now = 0.0

    @rule(step=st.sampled_from([0.0, 1.0, 61.0, 900.0]), event=st.none() | events())
    def step(self, step: float, event: Event | None) -> None:
        self.now += step
        assert apply(self.copy, self.now, event) == apply(self.original, self.now, event)

    @rule()
    def round_trip(self) -> None:
        text = json.dumps(self.copy.snapshot(), allow_nan=False)
        self.copy = Router.restore(json.loads(text), now=self.now, sessions=True)

    @invariant()
    def same_state(self) -> None:
        assert self.copy.snapshot() == self.original.snapshot()
        assert self.copy.next_deadline() == self.original.next_deadline()


TestSnapshotAnyStep = SnapshotAnyStep.TestCase

# Every stanza of the real transcripts: the seeds of the XML fuzzing below.
CORPUS = [
    serialize(entry.stanza)
    for name in (
        "b-second-join-groupchat.txt",
        "e-kick-ban.txt",
        "j-history.txt",
        "k-pm-and-iq.txt",
    )
    for entry in load(name)
    if isinstance(entry, StanzaEntry)
]
HOSTILE = [
    '<!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><message><body>&b;</body></message>',
    '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><message><body>&x;</body></message>',
    '<?xml version="1.0"?><!DOCTYPE m SYSTEM "http://example.invalid/x.dtd"><message/>',
    "<message>" + "<a>" * 5000 + "</a>" * 5000 + "</message>",
    "<message a='" + "x" * 300_000 + "'/>",
    "<message xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='/etc/passwd'/></message>",
]


def parses_or_refuses(data: str | bytes) -> None:
    try:
        stanza = parse_stanza(data)
    except StanzaParseError:
        return
    assert isinstance(stanza, Stanza)
    assert parse_stanza(serialize(stanza)) == stanza  # what we accept, we can write back


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_the_one_error(data: bytes) -> None:
    """The XML edge: a Stanza or StanzaParseError, nothing else."""
    parses_or_refuses(data)


@given(st.sampled_from(CORPUS + HOSTILE), st.data())
def test_mutated_real_stanzas_parse_or_raise_the_one_error(seed: str, data: st.DataObject) -> None:
    """Real stanzas with bytes cut, doubled or replaced; and the hostile corpus."""
    mutations = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(seed)), st.integers(0, 8), st.text(string.printable, max_size=3)
            ),
            max_size=3,
        )
    )
    text = seed
    for at, cut, insert in mutations:
        text = text[:at] + insert + text[at + cut :]
    parses_or_refuses(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "at 1",
                "timer",
                "shutdown",
                "to-account",
                "<message from='a@b/c' to='x@y'/>",
                "",
                "bogus",
                "config id_prefix=q",
                "session-closed a@b/c",
                "from-session a@b/c",
                "<presence to='r@m/n'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
            ]
        ),
        max_size=12,
    )
)
def test_replay_scripts_run_or_stop_with_a_replay_error(lines: list[str]) -> None:
    """The replay parser on random scripts: output, or one ReplayError naming a line."""
    import io  # noqa: PLC0415 - only this test writes to a buffer

    try:
        replay("\n".join(lines), io.StringIO(), as_json=True)
    except ReplayError as error:
        assert error.line >= 1
