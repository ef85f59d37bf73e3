"""Memory: what the room sends many local accounts is kept once (Config.max_shared_payloads)."""

from __future__ import annotations

from helpers import ROOM, x
from minimix_core import JID, Config, FromSession, Router, ToAccount

ACCOUNTS = [JID.parse(f"user{n}@example.org") for n in range(3)]


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
    """Each account's cache holds its own stanza, all pointing at one payload."""
    router = Router()
    fill(router, ["bob", "carol"])
    caches = [router._core.table.accounts[a].rooms[ROOM].occupants for a in ACCOUNTS]
    assert caches[0]["bob"].children is caches[1]["bob"].children is caches[2]["bob"].children
    assert caches[0]["bob"].to == ACCOUNTS[0]


def test_the_shared_pool_is_bounded() -> None:
    """Beyond the bound the oldest payload leaves the pool; caches keep their values."""
    router = Router(Config(max_shared_payloads=1))
    fill(router, ["bob", "carol"])
    assert len(router._core.payloads) == 1
    cache = router._core.table.accounts[ACCOUNTS[2]].rooms[ROOM].occupants
    assert cache["bob"] == x(occupant_to(ACCOUNTS[2], "bob"))


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
    assert rooms[0].subject is not None and rooms[1].subject is not None
    assert rooms[0].subject.children is rooms[1].subject.children
    histories = [r.history for r in rooms]
    assert histories[0] is not None and histories[2] is not None
    first = histories[0].select(None, 0.0, 1, ROOM)[0]
    third = histories[2].select(None, 0.0, 1, ROOM)[0]
    assert first.children[0] is third.children[0]
