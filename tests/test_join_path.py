"""The hot path for a session's join acts exactly as the general path.

``session_join``, which ``Router.handle`` calls for each presence a session sends, answers
the join of a room the account is in from the table in one frame, where ``from_session``,
``_presence`` and ``_join`` take three, and hands every other presence to ``from_session``.
Each case below is played through the router as it is and through one whose hot paths are
the general paths (``paths.py``; ``tests/test_hot_path.py`` plays the fault stories so): each
step's actions and the final snapshots must be equal. The cases and the stories together
take the hot path to its end and each of its ways back to the general path.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from helpers import (
    ALICE,
    LAPTOP,
    OTHER_ROOM,
    PHONE,
    ROOM,
    TABLET,
    THIRD_ROOM,
    groupchat,
    join,
    leave,
    occupant,
    self_presence,
    subject,
    x,
)
from minimix_core import JID, Bookmark, BookmarksChanged, Config, Router, SessionClosed, Stanza
from minimix_core import _router as router_module
from minimix_core import _session_side as session_side
from minimix_core._lifecycle import OccupancyState
from minimix_core._muc import MUC_X
from minimix_core.testing._chaos import CONFIG, play, story_faults
from minimix_core.testing._story import KINDS
from paths import (
    Cases,
    Log,
    assert_every_way_taken,
    assert_same,
    built,
    restored,
    room,
    run,
    session,
)

# Why a session's presence left the hot path, in the order the hot path asks.
REASONS = (
    "no account",
    "not available",
    "to no one",
    "forged from",
    "not in the room",
    "no nick",
    "not joined",
    "resync",
    "waiting session",
    "earlier answer",
    "restored",
    "nick change",
    "nobody attached",
    "room full",
    "nick to follow",
    "not a join",
)


def reason(core: Any, session: JID, stanza: Stanza) -> str:
    """Which way the hot path takes ``stanza`` from ``session``: ``"hot"``, or why it leaves."""
    account = core.table.accounts.get(session.bare)
    to = stanza.to
    occupancy = None if account is None or to is None else account.rooms.get(to.bare)
    if occupancy is None:
        checks: tuple[bool, ...] = (
            account is None,
            stanza.type is not None,
            to is None,
            stanza.from_ not in (None, session, session.bare),
            True,
        )
        return next((why for why, met in zip(REASONS, checks, strict=False) if met))
    assert to is not None  # the room was found by it
    attached = occupancy.attached
    renamed = to.resource != occupancy.view.nick
    checks = (
        False,
        stanza.type is not None,
        False,
        stanza.from_ not in (None, session, session.bare),
        False,
        to.resource is None,
        occupancy.state is not OccupancyState.JOINED,
        occupancy.resync is not None,
        bool(occupancy.pending),
        occupancy.interleaved,
        occupancy.restored,
        session in attached and renamed,
        session not in attached and not attached,
        session not in attached and len(attached) >= core.config.max_sessions_per_room,
        renamed and core.config.nick_policy == "follow",
        stanza.find(MUC_X) is None,
    )
    return next((why for why, met in zip(REASONS, checks, strict=True) if met), "hot")


@contextmanager
def counting(ways: Counter[str]) -> Iterator[None]:
    """Count the way each session's presence takes through the hot path."""
    original = session_side.session_join

    def counted(core: Any, session: JID, stanza: Stanza) -> Any:
        ways[reason(core, session, stanza)] += 1
        return original(core, session, stanza)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(router_module, "session_join", counted)
        yield


IN_THE_ROOM: Log = [
    session(PHONE, join()),
    room(occupant("bob")),
    room(self_presence()),
    room(subject()),
]
LAPTOP_IN: Log = [session(LAPTOP, join(jid="j2"))]
DAVE = JID.parse("dave@example.org/phone")
STATUS = x(f"<presence to='{ROOM}/alice'><show>away</show></presence>")
BARE_ROOM_JOIN = x(
    f"<presence to='{ROOM}' id='j3'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
)


def _with_caps_and_show(show: str, jid: str) -> Stanza:
    """A join with a show, caps (not for the room) and the MUC <x/> last."""
    return x(
        f"<presence to='{ROOM}/alice' id='{jid}'><show>{show}</show>"
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>"
        "<x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )


def refused(join_id: str) -> Stanza:
    """The third room's refusal of a join for good (a ``cancel`` error, RFC 6120 §8.3.2)."""
    return x(
        f"<presence type='error' from='{THIRD_ROOM}/alice' to='{ALICE}' id='{join_id}'>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></presence>"
    )


def not_joined(ping: str) -> Stanza:
    """The room's answer to the keep-alive's ``ping``: the account is not in (XEP-0410)."""
    return x(
        f"<iq type='error' from='{ROOM}/alice' to='{ALICE}' id='{ping}'><error type='cancel'>"
        "<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )


RESYNCING: Log = [
    *IN_THE_ROOM,
    room(groupchat("seen", mid="m1")),
    (900.0, None),  # the keep-alive's ping (mmx-1): the room forgot the account
    room(not_joined("mmx-1"), at=900.0),  # the rejoin (mmx-2)
    room(occupant("bob"), at=900.0),
    room(self_presence(pid="mmx-2"), at=900.0),
]
"""The account rejoins: the room's self-presence came, its history and subject not yet."""
LAPTOP_WAITS: Log = [*RESYNCING, session(LAPTOP, join(jid="j2"), at=900.0)]


def _resync_lost(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` with the rejoin's join sequence over but its waiting session kept (a
    snapshot a host wrote by hand, or damaged: the router answers waiting sessions then)."""
    del snapshot["accounts"][0]["rooms"][0]["rs"]
    return snapshot


CASES: Cases = {
    "a late join, a resync, a join from a full JID or the bare one as from": (
        Router,
        [
            *IN_THE_ROOM,
            *LAPTOP_IN,
            session(LAPTOP, join(jid="j3")),
            session(TABLET, join(jid="j4")._replace(from_=TABLET)),
            session(PHONE, join(jid="j5")._replace(from_=ALICE)),
        ],
    ),
    "joins with a show, caps and another nick the room does not follow": (
        Router,
        [
            *IN_THE_ROOM,
            session(LAPTOP, _with_caps_and_show("dnd", "j2")),
            session(TABLET, join(nick="other", jid="j3")),
            session(LAPTOP, _with_caps_and_show("chat", "j4")),
        ],
    ),
    "a device back after leaving, and history to replay": (
        Router,
        [
            *IN_THE_ROOM,
            *LAPTOP_IN,
            room(groupchat("one", mid="m1")),
            session(LAPTOP, leave()),
            room(groupchat("two", mid="m2")),
            session(LAPTOP, join(jid="j3"), at=10.0),
            session(TABLET, join(jid="j4", inner="<history maxstanzas='1'/>"), at=10.0),
        ],
    ),
    "a late join with a memory of another room only, and a bookmark refused": (
        Router,
        [
            *IN_THE_ROOM,
            session(LAPTOP, join(room=OTHER_ROOM, jid="g1")),
            room(self_presence(room=OTHER_ROOM, pid="g1")),
            room(groupchat("elsewhere", mid="g2", room=OTHER_ROOM)),
            session(TABLET, join(jid="j3")),
            (
                0.0,
                BookmarksChanged(
                    account=ALICE, bookmarks=(Bookmark(room=THIRD_ROOM, autojoin=True),)
                ),
            ),
            (0.0, None),  # the autojoin (mmx-1)
            room(refused("mmx-1")),
            session(TABLET, join(jid="j4")),
        ],
    ),
    "presences that are not joins": (
        Router,
        [
            session(PHONE, join()),  # no account yet
            room(self_presence()),
            room(subject()),
            session(PHONE, STATUS),
            session(PHONE, x("<presence/>")),  # to no one: the initial presence
            session(PHONE, x(f"<presence to='{ROOM}/alice' type='probe'/>")),
            session(PHONE, join(jid="j9")._replace(from_=DAVE)),
            session(PHONE, join(room=OTHER_ROOM)),
            session(LAPTOP, BARE_ROOM_JOIN),
            session(PHONE, join(nick="renamed", jid="j8")),
            session(PHONE, leave()),
        ],
    ),
    "a join while joining, a rejoin under way, or a session waiting": (
        partial(Router, CONFIG),
        [
            session(PHONE, join()),
            session(LAPTOP, join(jid="j2")),
            room(self_presence()),
            room(subject()),
            (0.0, SessionClosed(session=PHONE)),
            (0.0, SessionClosed(session=LAPTOP)),
            session(LAPTOP, join(jid="j3")),
        ],
    ),
    "a room full of the account's sessions": (
        partial(Router, Config(max_sessions_per_room=2)),
        [*IN_THE_ROOM, *LAPTOP_IN, session(TABLET, join(jid="j3"))],
    ),
    "the nick a session asks for, followed": (
        partial(Router, Config(nick_policy="follow")),
        [*IN_THE_ROOM, session(LAPTOP, join(nick="other", jid="j2"))],
    ),
    "a join during a rejoin's join sequence": (
        Router,
        [*LAPTOP_WAITS, session(TABLET, join(jid="j3"), at=900.0), room(subject(), at=900.0)],
    ),
    "a join while a session waits for a join sequence that is over": (
        restored(_resync_lost(built(LAPTOP_WAITS))),
        [session(TABLET, join(jid="j3"), at=900.0)],
    ),
    "a join after a restart, an earlier join's answer set aside": (
        partial(Router, Config(autojoin_interval=30.0)),
        [
            session(LAPTOP, join(room=OTHER_ROOM, jid="g1")),
            room(self_presence(room=OTHER_ROOM, pid="g1")),
            *IN_THE_ROOM,
            (900.0, None),  # the keep-alive's pings: mmx-1 to the garden, mmx-2 here
            room(not_joined("mmx-2"), at=900.0),  # the rejoin (mmx-3)
            (901.0, "restore"),
            (901.0, None),  # the garden is left
            room(self_presence(pid="mmx-3"), at=901.0),
            room(subject(), at=901.0),
            session(PHONE, join(jid="j2"), at=905.0),
        ],
    ),
    "a join after a restart": (
        restored(built(IN_THE_ROOM), sessions=False),
        [session(PHONE, join(jid="j2"))],
    ),
    "a join after a restore, sessions kept": (
        restored(built([*IN_THE_ROOM, *LAPTOP_IN])),
        [session(TABLET, join(jid="j3")), session(TABLET, join(jid="j4"))],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_each_way_off_the_join_hot_path_acts_as_the_general_path(name: str) -> None:
    make, log = CASES[name]
    assert_same(log, make)


def test_the_cases_and_the_fault_stories_take_the_join_hot_path_and_every_way_off_it() -> None:
    """The stories act as on the general paths (``test_hot_path.py`` plays them both ways)."""
    assert_every_way_taken(counting, CASES, REASONS)


JOIN_HEAVY = ("join",) * 6 + KINDS
"""Story steps with joins seven times as likely as in the fault stories: there, a second
device rarely joins a room its account is in."""


@functools.cache
def join_heavy_stories(count: int = 40) -> tuple[Log, ...]:
    """Seeded stories of :data:`JOIN_HEAVY` steps, every other one on a faulty network."""
    logs = []
    for seed in range(count):
        rng = random.Random(seed)
        ops = [(rng.choice(JOIN_HEAVY), rng.randrange(6), rng.randrange(2)) for _ in range(60)]
        faults = story_faults(rng) if seed % 2 else None
        story, failure = play(ops, seed, faults, config=CONFIG)
        assert failure is None, f"seed {seed}: {failure}"
        logs.append(story.log)
    return tuple(logs)


def test_stories_rich_in_joins_act_on_the_join_hot_path_as_on_the_general_path() -> None:
    """Calm and faulty, the stories' devices agree with the room, and the hot path takes
    joins of their own (not only the cases'): each step acts as on the general paths."""
    ways: Counter[str] = Counter()
    with counting(ways):
        for log in join_heavy_stories():
            run(log, Router(CONFIG))
    assert ways["hot"] >= 20, ways
    for log in join_heavy_stories():
        assert_same(log, partial(Router, CONFIG))
