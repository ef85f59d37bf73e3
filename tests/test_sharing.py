"""Memory: what the room sends many local accounts is kept once (the shared payload pool)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import OTHER_ROOM, ROOM, x
from minimix_core import (
    JID,
    Config,
    Deliver,
    Element,
    FromSession,
    Router,
    Stanza,
    ToAccount,
    serialize,
)
from minimix_core._core import Core
from minimix_core._history import key_of
from minimix_core._recent import RecentKeys
from minimix_core._stanza import element_size, payload_size

ACCOUNTS = [JID.parse(f"user{n}@example.org") for n in range(3)]
USER = "http://jabber.org/protocol/muc#user"
MUC = "<x xmlns='http://jabber.org/protocol/muc'/>"


def occupant_to(account: JID, nick: str) -> str:
    role = "moderator" if nick == "carol" else "participant"
    return (
        f"<presence from='{ROOM}/{nick}' to='{account}'><x xmlns='http://jabber.org/protocol/muc#user'>"
        f"<item affiliation='none' role='{role}'/></x></presence>"
    )


def fill(router: Router, nicks: list[str]) -> None:
    for account in ACCOUNTS:
        session = account.with_resource("phone")
        join = x(
            f"<presence to='{ROOM}/{account.local}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        )
        router.handle(FromSession(session=session, stanza=join), now=0.0)
        for nick in nicks:
            router.handle(ToAccount(stanza=x(occupant_to(account, nick))), now=0.0)


def test_equal_presences_for_different_accounts_share_one_payload() -> None:
    """The caches keep each presence without its ``to``: one stanza for every account."""
    router = Router()
    fill(router, ["bob", "carol"])
    caches = [router._core.table.accounts[a].rooms[ROOM].view.occupants for a in ACCOUNTS]
    assert caches[0]["bob"] is caches[1]["bob"] is caches[2]["bob"]
    assert caches[0]["bob"] == x(occupant_to(ACCOUNTS[0], "bob")).replace(to=None)


def test_the_shared_pool_is_bounded() -> None:
    """Beyond the bound the oldest payload leaves the pool; caches keep their values."""
    router = Router(Config(max_shared_payloads=1))
    fill(router, ["bob", "carol"])
    assert len(router._core.payloads) == len(router._core.stanzas) == 1
    cache = router._core.table.accounts[ACCOUNTS[2]].rooms[ROOM].view.occupants
    assert cache["bob"] == x(occupant_to(ACCOUNTS[2], "bob")).replace(to=None)


def test_history_and_subject_are_kept_once_for_all_accounts() -> None:
    """The same room message or subject, received by several local accounts, is stored once."""
    router = Router()
    fill(router, [])
    for account in ACCOUNTS:
        router.handle(
            ToAccount(
                stanza=x(
                    f"<presence from='{ROOM}/{account.local}' to='{account}'><x xmlns='http://jabber.org/protocol/muc#user'>"
                    "<item affiliation='none' role='participant'/><status code='110'/></x></presence>"
                )
            ),
            now=0.0,
        )
        for text in (
            f"<message type='groupchat' from='{ROOM}' to='{account}'><subject>tea</subject></message>",
            f"<message type='groupchat' from='{ROOM}/bob' to='{account}' id='m'><body>hi</body></message>",
        ):
            router.handle(ToAccount(stanza=x(text)), now=0.0)
    rooms = [router._core.table.accounts[a].rooms[ROOM] for a in ACCOUNTS]
    assert rooms[0].view.subject is not None and rooms[1].view.subject is not None
    assert rooms[0].view.subject.children is rooms[1].view.subject.children
    histories = [r.view.history for r in rooms]
    assert histories[0] is not None and histories[2] is not None
    first = histories[0].select(None, 0.0, 1, ROOM)[0]
    third = histories[2].select(None, 0.0, 1, ROOM)[0]
    assert first.children[0] is third.children[0]


def self_presence_to(account: JID) -> str:
    return (
        f"<presence from='{ROOM}/{account.local}' to='{account}'><x xmlns='{USER}'>"
        "<item affiliation='none' role='participant'/><status code='110'/></x></presence>"
    )


def test_a_message_s_payload_stays_shared_after_it_leaves_the_small_message_pool() -> None:
    """The room sends a message to its local accounts in one burst: a pool of one message
    is enough for their histories to hold one payload, kept after the next one's burst
    pushed it out of the pool."""
    router = Router(Config(max_shared_messages=1))
    fill(router, [])
    for account in ACCOUNTS:
        router.handle(ToAccount(stanza=x(self_presence_to(account))), now=0.0)
    for n in (1, 2):
        for account in ACCOUNTS:
            router.handle(ToAccount(stanza=room_message(n, account)), now=0.0)
    assert list(router._core.messages) == ["s2"]
    histories = [router._core.table.accounts[a].rooms[ROOM].view.history for a in ACCOUNTS]
    payloads = [h._entries[0][0].children for h in histories if h is not None]
    assert len(payloads) == 3 and payloads[0] is payloads[1] is payloads[2]
    assert payloads[0] == room_message(1).children


class CountingPool(OrderedDict[tuple[Element, ...], tuple[Element, ...]]):
    """The pool, counting the operations eviction may use."""

    def __init__(self) -> None:
        super().__init__()
        self.pops = 0
        self.scans = 0

    def popitem(self, last: bool = True) -> tuple[tuple[Element, ...], tuple[Element, ...]]:
        self.pops += 1
        return super().popitem(last)

    def __iter__(self) -> Iterator[tuple[Element, ...]]:
        self.scans += 1
        return super().__iter__()


def body(n: int) -> tuple[Element, ...]:
    return (Element("{jabber:client}body", text=f"message {n:06d}"),)


def test_eviction_is_one_pop_per_payload_whatever_the_pool_size() -> None:
    """Evicting the oldest payload never scans the pool: one O(1) pop per new payload."""
    for bound in (10, 10_000):
        core = Core(Config(max_shared_payloads=bound))
        pool = core.payloads = CountingPool()
        for n in range(bound + 5_000):
            core.share(body(n))
        assert (pool.pops, pool.scans) == (5_000, 0)
        assert next(iter(pool.values())) == body(5_000)


class CountingKeys(RecentKeys[Any]):
    """A memory of message keys, counting the operations forgetting the oldest may use."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.scans = 0
        super().__init__(keys.items())
        self.forgotten = self.scans = 0

    def __delitem__(self, key: str) -> None:
        # Forgetting a key, whether forget_oldest does it or the hot path written out.
        self.forgotten += 1
        super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        self.scans += 1
        return super().__iter__()


def test_forgetting_the_oldest_message_key_is_one_step_whatever_the_bound() -> None:
    """The account's memory of the room and the keys passed on forget their oldest in one
    step per new message, on the hot path and the general path, never by walking the dict:
    a plain dict finds its first key past the slots its deletions left at its front, a
    walk as long as ``max_remembered_messages``. Their order takes at most twice the keys."""
    account = ACCOUNTS[0]
    for bound in (10, 10_000):
        router = Router(Config(max_remembered_messages=bound))
        fill(router, [])
        router.handle(ToAccount(stanza=x(self_presence_to(account))), now=0.0)
        router.handle(ToAccount(stanza=room_message(0)), now=0.0)
        table = router._core.table.accounts[account]
        view, memory = table.rooms[ROOM].view, table.memory[ROOM]
        assert view.passed is not None
        passed = view.passed = CountingKeys(view.passed)
        seen = memory.seen = CountingKeys(memory.seen)
        for n in range(1, bound + 100):
            router.handle(ToAccount(stanza=room_message(n)), now=0.0)  # the hot path
        # No stanza-id: keyed by a hash, on the general path.
        unkeyed = [
            room_message(0).replace(children=(Element("{jabber:client}body", text=f"{n}"),))
            for n in range(100)
        ]
        for message in unkeyed:
            router.handle(ToAccount(stanza=message), now=0.0)
        assert (passed.forgotten, passed.scans, seen.forgotten, seen.scans) == (200, 0, 200, 0)
        keys = [f"s{n}" for n in range(bound + 100)] + [key_of(m, None) for m in unkeyed]
        assert list(passed) == list(seen) == keys[-bound:]
        for kept in (passed, seen):
            assert kept.order[kept.head :] == keys[-bound:]
            assert len(kept.order) <= 2 * bound


class CountingIds(OrderedDict[str, JID]):
    """An occupancy's tracked ids, counting the operations forgetting the oldest may use."""

    def __init__(self, ids: dict[str, JID]) -> None:
        self.scans = 0
        super().__init__(ids)
        self.pops = 0

    def popitem(self, last: bool = True) -> tuple[str, JID]:
        self.pops += 1
        return super().popitem(last)

    def __iter__(self) -> Iterator[str]:
        self.scans += 1
        return super().__iter__()


def test_forgetting_the_oldest_tracked_id_is_one_step_whatever_the_bound() -> None:
    """The ids of stanzas the sessions sent forget their oldest with one O(1) pop per new
    one, never by walking the dict: that walk is as long as ``max_tracked_ids``."""
    account = ACCOUNTS[0]
    phone = account.with_resource("phone")

    def said(n: int) -> FromSession:
        message = f"<message type='groupchat' to='{ROOM}' id='a{n}'><body>{n}</body></message>"
        return FromSession(session=phone, stanza=x(message))

    for bound in (10, 10_000):
        router = Router(Config(max_tracked_ids=bound))
        fill(router, [])
        router.handle(ToAccount(stanza=x(self_presence_to(account))), now=0.0)
        router.handle(said(0), now=0.0)
        occupancy = router._core.table.accounts[account].rooms[ROOM]
        assert occupancy.sent_ids is not None
        sent = occupancy.sent_ids = CountingIds(occupancy.sent_ids)
        for n in range(1, bound + 200):
            router.handle(said(n), now=0.0)
        assert (sent.pops, sent.scans) == (200, 0)
        assert list(sent) == [f"a{n}" for n in range(200, bound + 200)]


def test_the_message_pool_drops_in_steps_per_message_whatever_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past ``max_shared_messages`` the pool keeps its newest half at once: the entries
    walked to drop and keep them come to about two per message, at a bound of 16 as of
    4,096, and the pool never holds more than the bound."""
    walked = [0]
    trim = Core.trim_messages

    def counting(core: Core) -> None:
        walked[0] += len(core.messages)
        trim(core)

    monkeypatch.setattr(Core, "trim_messages", counting)
    message = room_message(1)
    for bound in (16, 4096):
        walked[0] = 0
        core = Core(Config(max_shared_messages=bound))
        most = 0
        for n in range(40_000):
            core.share_message(str(ROOM), f"s{n}", message, 100)
            most = max(most, len(core.messages))
        assert most == bound
        assert 1.8 <= walked[0] / 40_000 <= 2.1
        assert list(core.messages)[-1] == "s39999"


def test_the_pool_is_bounded_by_characters() -> None:
    """``max_shared_payload_bytes``: the oldest go until the new payload fits."""
    size = payload_size(body(0))
    core = Core(Config(max_shared_payload_bytes=3 * size))
    for n in range(5):
        core.share(body(n))
    assert list(core.payloads) == [body(2), body(3), body(4)]
    assert core.payload_bytes == 3 * size
    big = (Element("{jabber:client}body", text="x" * (3 * size)),)
    assert core.share(big) is big  # larger than the whole bound: not pooled
    assert list(core.payloads) == [body(2), body(3), body(4)]
    again = body(3)
    assert core.share(again) is not again  # the pooled copy
    assert core.share(again) == again


def test_payload_size_counts_namespace_declarations_once() -> None:
    """The size is the XML's length as the edge writes it, less escapes and prefixes."""
    stanza = x(
        "<message><x xmlns='urn:a' k='v'><y>1</y><z xmlns='urn:b'>t</z></x>tail<body>b</body></message>"
    )
    expected = len(serialize(stanza)) - len("<message></message>")
    assert payload_size(stanza.children) == expected
    inside_x = expected - len("<body>b</body>") - len(' xmlns="urn:a"')
    assert element_size(stanza.children[0], "urn:a") == inside_x


def test_sizes_of_elements_without_namespace_and_of_mixed_trees() -> None:
    """A tag without namespace declares ``xmlns=""`` under any other; memos of parsed children count."""
    plain = Element("b", text="x")
    assert element_size(plain, "") == 2 + 5 + 1
    assert element_size(plain) == 2 + 5 + 1 + 9
    parsed = x("<message><q xmlns='urn:q' k='v'/></message>").children[0]
    built = Element("{urn:q}wrap", children=(parsed, plain))
    assert element_size(built, "urn:q") == 2 * 4 + 5 + element_size(parsed, "urn:q") + 17


def join_with_self(account: JID, nick: str, codes: str = "<status code='110'/>") -> Router:
    """The router after ``account`` joined ``ROOM`` and the room sent its self-presence."""
    router = Router()
    enter(router, account, nick, codes)
    return router


def enter(router: Router, account: JID, nick: str, codes: str = "<status code='110'/>") -> None:
    session = account.with_resource("phone")
    join = x(
        f"<presence to='{ROOM}/{nick}' id='j'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
    router.handle(FromSession(session=session, stanza=join), now=0.0)
    router.handle(
        ToAccount(
            stanza=x(
                f"<presence from='{ROOM}/{nick}' to='{account}'><x xmlns='{USER}'>"
                f"<item affiliation='member' role='participant'/>{codes}</x></presence>"
            )
        ),
        now=0.0,
    )


def test_self_presences_joins_and_room_flags_of_different_accounts_share_one_value() -> None:
    """The accounts' self-presences and joins are kept without their addresses: one value."""
    router = Router()
    codes = "<status code='110'/><status code='100'/><status code='170'/>"
    for account in ACCOUNTS:
        enter(router, account, "same", codes)
    occupancies = [router._core.table.accounts[a].rooms[ROOM] for a in ACCOUNTS]
    presences = [o.view.self_presence for o in occupancies]
    assert all(p is not None for p in presences)
    first = occupancies[0]
    for other in occupancies[1:]:
        presence, expected = other.view.self_presence, first.view.self_presence
        assert presence is not None and expected is not None
        assert presence is expected  # kept without its to: one value for every account
        assert presence.to is None
        assert other.join_template is first.join_template
        assert other.view.flags is first.view.flags == frozenset({100, 170})


def presence_from(nick: str, text: str = "") -> Stanza:
    return x(f"<presence from='{ROOM}/{nick}'><status>{text}</status></presence>")


def test_the_stanza_pool_is_bounded_by_entries_and_characters() -> None:
    """``share_stanza`` pools whole stanzas under the payload pool's two bounds, separately."""
    core = Core(Config(max_shared_payloads=2))
    first = presence_from("a")
    assert core.share_stanza(first) is first
    assert core.share_stanza(presence_from("a")) is first
    core.share_stanza(presence_from("b"))
    core.share_stanza(presence_from("c"))
    assert list(core.stanzas) == [presence_from("b"), presence_from("c")]
    assert core.stanza_bytes == 2 * payload_size(first.children)
    size = payload_size(first.children)
    core = Core(Config(max_shared_payload_bytes=2 * size))
    for nick in "abc":
        core.share_stanza(presence_from(nick))
    assert list(core.stanzas) == [presence_from("b"), presence_from("c")]
    big = presence_from("d", "x" * 3 * size)
    assert core.share_stanza(big) is big  # larger than the whole bound: not pooled
    assert big not in core.stanzas and core.stanza_bytes == 2 * size


def test_the_stanza_pool_shares_a_pooled_payload_and_adds_none() -> None:
    """A stanza's payload already pooled is shared; a new one stays out of that pool."""
    core = Core(Config())
    pooled = core.share(presence_from("a").children)
    kept = core.share_stanza(presence_from("a"))
    assert kept.children is pooled
    core.share_stanza(presence_from("b"))
    assert list(core.payloads) == [pooled]


def test_a_quiet_occupancy_makes_no_message_memory_and_no_id_tracking() -> None:
    """Remembered message keys and tracked ids are made by the first message, not the join."""
    router = join_with_self(ACCOUNTS[0], "quiet")
    occupancy = router._core.table.accounts[ACCOUNTS[0]].rooms[ROOM]
    assert occupancy.view.passed is None
    assert occupancy.sent_ids is None
    assert occupancy.pending == {}
    assert list(occupancy.attached) == [ACCOUNTS[0].with_resource("phone")]


def test_moved_and_cancelled_deadlines_do_not_pile_up() -> None:
    """Stale heap entries are dropped once they pass a quarter of the live ones: the heap
    stays within 5/4 of the live deadlines (plus a constant), whatever the number of moves."""
    core = Core(Config())
    timers = core.timers
    room = JID.parse("room@muc.example.net")
    for n in range(10_000):
        timers.schedule(("ping", ACCOUNTS[0], room), float(n))
        timers.schedule(("state", ACCOUNTS[n % 3], room), 5.0)
        timers.cancel(("state", ACCOUNTS[n % 3], room))
        assert len(timers._heap) <= len(timers._when) * 5 // 4 + 17
    assert timers.items() == [(9999.0, ("ping", ACCOUNTS[0], room))]
    assert timers.pop_due(10_000.0) == ("ping", ACCOUNTS[0], room)
    assert timers.pop_due(10_000.0) is None
    assert timers.next_deadline() is None


def room_message(n: int, to: JID = ACCOUNTS[0], room: JID = ROOM) -> Stanza:
    return x(
        f"<message type='groupchat' from='{room}/bob' to='{to}' id='m{n}'><body>message {n}</body>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{room}' id='s{n}'/></message>"
    )


def test_history_messages_are_pooled_by_key_under_both_bounds() -> None:
    """``share_message``: found by the room's stanza-id, not by hashing the payload again.

    Each account's copy is parsed apart; the histories keep the first one's payload. Past
    ``max_shared_messages`` messages the pool keeps its newest half (and the newest one,
    always); past ``max_shared_payload_bytes`` characters, the newest that fit in half of
    them; a message larger than that bound is not pooled.
    """
    core = Core(Config(max_shared_messages=4))
    first = room_message(1)
    assert core.share_message(str(ROOM), "s1", first, 100) is first
    other = room_message(1, ACCOUNTS[1])
    kept = core.share_message(str(ROOM), "s1", other, 100)
    assert kept.children is first.children and kept.to == ACCOUNTS[1]
    again = room_message(1)
    assert core.share_message(str(ROOM), "s1", first, 100) is first  # the pooled payload itself
    for n in (2, 3, 4):
        core.share_message(str(ROOM), f"s{n}", room_message(n), 100)
    assert list(core.messages) == ["s1", "s2", "s3", "s4"]
    assert core.message_bytes == 400
    core.share_message(str(ROOM), "s5", room_message(5), 100)
    assert list(core.messages) == ["s4", "s5"]
    assert core.message_bytes == 200
    assert core.share_message(str(ROOM), "s1", again, 100) is again  # dropped: pooled anew
    assert list(core.messages) == ["s4", "s5", "s1"]
    one = Core(Config(max_shared_messages=1))
    for n in (1, 2):
        one.share_message(str(ROOM), f"s{n}", room_message(n), 100)
    assert list(one.messages) == ["s2"]
    small = Core(Config(max_shared_payload_bytes=350))
    for n, size in ((1, 100), (2, 100), (3, 100), (4, 100)):
        small.share_message(str(ROOM), f"s{n}", room_message(n), size)
    assert list(small.messages) == ["s4"]  # 400 > 350: the newest within 175
    assert small.message_bytes == 100
    big = Core(Config(max_shared_payload_bytes=350))
    big.share_message(str(ROOM), "s1", room_message(1), 100)
    big.share_message(str(ROOM), "s2", room_message(2), 300)
    assert list(big.messages) == ["s2"]  # over half alone, and kept: the newest
    assert big.message_bytes == 300
    huge = room_message(3)
    assert big.share_message(str(ROOM), "s3", huge, 351) is huge
    assert list(big.messages) == ["s2"]


def test_a_key_another_room_uses_too_shares_no_payload() -> None:
    """Two rooms may give their messages the same stanza-id (XEP-0359 makes it unique in
    the room only): the pool is keyed by it alone, and the payload, which names the room
    in the stanza-id's ``by``, tells them apart. Neither history takes the other's."""
    core = Core(Config())
    ours = room_message(1)
    assert core.share_message(str(ROOM), "s1", ours, 100) is ours
    theirs = room_message(1, room=OTHER_ROOM)
    assert core.share_message(str(OTHER_ROOM), "s1", theirs, 100) is theirs
    assert core.messages["s1"][0] is ours.children


def test_a_message_key_shares_only_an_equal_payload() -> None:
    """The room tells one account more under the same stanza-id: not another's history.

    A moderator's copy names the sender's real JID (XEP-0033 ``ofrom``); the other
    account's copy does not. The second account's late-joining device gets its own copy.
    """
    router = Router()
    sid = f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s1'/>"
    ofrom = (
        "<addresses xmlns='http://jabber.org/protocol/address'>"
        "<address type='ofrom' jid='bob@secret.example/pc'/></addresses>"
    )
    moderator, other = ACCOUNTS[0], ACCOUNTS[1]
    for account in (moderator, other):
        router.handle(
            FromSession(
                session=account.with_resource("phone"),
                stanza=x(f"<presence to='{ROOM}/{account.local}'>{MUC}</presence>"),
            ),
            now=0.0,
        )
        router.handle(
            ToAccount(
                stanza=x(
                    f"<presence from='{ROOM}/{account.local}' to='{account}'><x xmlns='{USER}'>"
                    "<item affiliation='none' role='participant'/><status code='110'/></x></presence>"
                )
            ),
            now=0.0,
        )
    extra = {moderator: ofrom, other: ""}
    for account in (moderator, other):
        message = x(
            f"<message type='groupchat' from='{ROOM}/bob' to='{account}' id='m1'>"
            f"<body>hi</body>{sid}{extra[account]}</message>"
        )
        router.handle(ToAccount(stanza=message), now=5.0)
    laptop = other.with_resource("laptop")
    late = router.handle(
        FromSession(
            session=laptop,
            stanza=x(f"<presence to='{ROOM}/{other.local}' id='j2'>{MUC}</presence>"),
        ),
        now=6.0,
    )
    assert late == [
        Deliver(
            session=laptop,
            stanza=x(
                f"<presence from='{ROOM}/{other.local}' to='{laptop}' id='j2'><x xmlns='{USER}'>"
                "<item affiliation='none' role='participant'/><status code='110'/></x></presence>"
            ),
        ),
        Deliver(
            session=laptop,
            stanza=x(
                f"<message type='groupchat' from='{ROOM}/bob' to='{laptop}' id='m1'>"
                f"<body>hi</body>{sid}"
                f"<delay xmlns='urn:xmpp:delay' from='{ROOM}' stamp='1970-01-01T00:00:05Z'/>"
                "</message>"
            ),
        ),
    ]


@pytest.mark.parametrize("delayed", [False, True])
def test_a_key_another_room_used_first_still_shares_this_room_s_burst(delayed: bool) -> None:
    """Two rooms number their stanza-ids alike: the other room's message came first under
    the key. This room's burst to its local accounts still keeps one payload for their
    histories, on the hot path as on the general one (a delayed message)."""
    router = Router()
    elsewhere = ACCOUNTS[:2]  # the pool serves the other room: two local accounts are in it
    for other in elsewhere:
        join = x(f"<presence to='{OTHER_ROOM}/{other.local}'>{MUC}</presence>")
        router.handle(FromSession(session=other.with_resource("pad"), stanza=join), now=0.0)
        self_presence = (
            f"<presence from='{OTHER_ROOM}/{other.local}' to='{other}'><x xmlns='{USER}'>"
            "<item affiliation='none' role='participant'/><status code='110'/></x></presence>"
        )
        router.handle(ToAccount(stanza=x(self_presence)), now=0.0)
    for other in elsewhere:
        router.handle(ToAccount(stanza=room_message(1, other, OTHER_ROOM)), now=0.0)
    assert list(router._core.messages) == ["s1"]
    fill(router, [])
    for account in ACCOUNTS:
        router.handle(ToAccount(stanza=x(self_presence_to(account))), now=0.0)
    delay = "<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>" if delayed else ""
    for account in ACCOUNTS:
        message = (
            f"<message type='groupchat' from='{ROOM}/bob' to='{account}' id='m1'>"
            f"<body>message 1</body>{delay}"
            f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s1'/></message>"
        )
        router.handle(ToAccount(stanza=x(message)), now=0.0)
    histories = [router._core.table.accounts[a].rooms[ROOM].view.history for a in ACCOUNTS]
    payloads = [h._entries[-1][0].children for h in histories if h is not None]
    assert len(payloads) == 3 and payloads[0] is payloads[1] is payloads[2]
    assert payloads[0][-1].get("by") == str(ROOM)
    assert list(router._core.messages) == ["s1", (str(ROOM), "s1")]
    for other in elsewhere:
        mine = router._core.table.accounts[other].rooms[OTHER_ROOM].view.history
        assert mine is not None
        assert mine._entries[-1][0].children == room_message(1, other, OTHER_ROOM).children


def _enter(router: Router, account: JID) -> None:
    """``account``'s phone joins ROOM under the account's localpart and gets in."""
    join = x(f"<presence to='{ROOM}/{account.local}' id='j-{account.local}'>{MUC}</presence>")
    router.handle(FromSession(session=account.with_resource("phone"), stanza=join), now=0.0)
    router.handle(ToAccount(stanza=x(self_presence_to(account))), now=0.0)


def _leave(router: Router, account: JID) -> None:
    """``account``'s phone leaves ROOM and the room answers (XEP-0045 §7.14)."""
    bye = x(f"<presence to='{ROOM}/{account.local}' type='unavailable' id='bye'/>")
    router.handle(FromSession(session=account.with_resource("phone"), stanza=bye), now=0.0)
    gone = x(
        f"<presence type='unavailable' from='{ROOM}/{account.local}' to='{account}' id='bye'>"
        f"<x xmlns='{USER}'><item affiliation='none' role='none'/><status code='110'/></x>"
        "</presence>"
    )
    router.handle(ToAccount(stanza=gone), now=0.0)


def _unkeyed(n: int, to: JID) -> Stanza:
    """A message with no stanza-id: keyed by a hash of its payload, on the general path."""
    return x(
        f"<message type='groupchat' from='{ROOM}/bob' to='{to}' id='u{n}'>"
        f"<body>plain {n}</body></message>"
    )


def test_a_room_s_messages_are_pooled_only_while_another_local_account_is_in_it() -> None:
    """The pool serves a room's other local accounts: an account alone in its room keeps
    its messages without it, on the hot path and the general path, and the pool is used
    from the moment a second account is in the room until one of them leaves."""
    alice, bob = ACCOUNTS[0], ACCOUNTS[1]
    router = Router()
    core = router._core
    _enter(router, alice)
    assert core.table.occupied == {str(ROOM): 1}
    router.handle(ToAccount(stanza=room_message(1, alice)), now=0.0)
    router.handle(ToAccount(stanza=_unkeyed(1, alice)), now=0.0)
    assert core.messages == {} and core.message_bytes == 0

    _enter(router, bob)
    assert core.table.occupied == {str(ROOM): 2}
    for account in (alice, bob):
        router.handle(ToAccount(stanza=room_message(2, account)), now=0.0)
        router.handle(ToAccount(stanza=_unkeyed(2, account)), now=0.0)
    unkeyed = key_of(_unkeyed(2, alice), None)
    assert list(core.messages) == ["s2", unkeyed]
    histories = [core.table.accounts[a].rooms[ROOM].view.history for a in (alice, bob)]
    alices, bobs = [[entry[0].children for entry in h._entries] for h in histories if h]
    assert alices[-2] is bobs[-2] and alices[-1] is bobs[-1]  # one payload for both

    _leave(router, bob)
    assert core.table.occupied == {str(ROOM): 1}
    router.handle(ToAccount(stanza=room_message(3, alice)), now=0.0)
    router.handle(ToAccount(stanza=_unkeyed(3, alice)), now=0.0)
    assert list(core.messages) == ["s2", unkeyed]
    _leave(router, alice)
    assert core.table.occupied == {}
    assert [a.rooms for a in core.table.accounts.values()] == [{}, {}]


def test_the_count_of_accounts_per_room_follows_snapshots_adoption_and_forgetting() -> None:
    """Restored, adopted or forgotten, an account's occupancies count in ``occupied``."""
    alice, bob = ACCOUNTS[0], ACCOUNTS[1]
    router = Router()
    for account in (alice, bob):
        _enter(router, account)
    restored = Router.restore(router.snapshot(), now=1.0, sessions=True)
    assert restored._core.table.occupied == {str(ROOM): 2}
    other = Router()
    _enter(other, ACCOUNTS[2])
    assert other.adopt(router.snapshot([bob]), now=1.0) == [bob]
    assert other._core.table.occupied == {str(ROOM): 2}
    router.forget([bob, ACCOUNTS[2]])  # one held, one not
    assert router._core.table.occupied == {str(ROOM): 1}
    other.forget([bob])
    assert other._core.table.occupied == {str(ROOM): 1}
