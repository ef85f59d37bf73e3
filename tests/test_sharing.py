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
