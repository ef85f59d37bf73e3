"""The Prosody host's Python side: events from mod_account_occupancy in, actions out.

No Prosody and no socket: the bridge's writer is replaced by a list, and the module's
messages are written by hand in the wire format of hosts/prosody/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosts" / "prosody"))

import minimix_prosody
from minimix_prosody import NS, ProsodyBridge

from minimix_core import JID, Config, Router, Send, parse_stanza

ROOM = "lounge@conference.localhost"
JOIN = (
    "<presence xmlns='jabber:client' from='alice@localhost/phone'"
    f" to='{ROOM}/alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
)
WELCOME = (
    f"<presence xmlns='jabber:client' from='{ROOM}/alice' to='alice@localhost' id='j1'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='member' role='participant' jid='alice@localhost'/>"
    "<status code='110'/></x></presence>"
)


class Writer:
    """Stands in for the stream writer: keeps what the bridge wrote."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: bytes) -> None:
        self.written.append(data.decode())


def bridge() -> tuple[ProsodyBridge, Writer]:
    host = ProsodyBridge("minimix.localhost", "secret", router=Router())
    writer = Writer()
    host._writer = writer  # type: ignore[assignment]
    return host, writer


def event(seq: int, kind: str, content: str = "", **attrs: str) -> ET.Element:
    more = "".join(f" {k}='{v}'" for k, v in attrs.items())
    return ET.fromstring(
        "<message xmlns='jabber:component:accept' from='localhost' to='minimix.localhost'>"
        f"<event xmlns='{NS}' seq='{seq}' kind='{kind}'{more}>{content}</event></message>"
    )


def actions(text: str, seq: int = 1) -> str:
    return (
        '<message from="minimix.localhost" to="localhost" type=\'normal\'>'
        f"<actions xmlns='{NS}' for=\"{seq}\">{text}</actions></message>"
    )


def test_a_session_join_is_answered_with_a_send_from_the_bare_jid() -> None:
    host, writer = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    assert writer.written == [
        actions(
            '<send><presence xmlns="jabber:client" from="alice@localhost"'
            f' to="{ROOM}/alice" id="j1"><x xmlns="http://jabber.org/protocol/muc"/>'
            "</presence></send>"
        )
    ]
    assert host.claims == {(JID.parse("alice@localhost"), JID.parse(ROOM))}


def test_room_traffic_is_delivered_to_the_session_and_the_claim_stays() -> None:
    host, writer = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    answer = ET.fromstring(writer.written[-1])[0]
    assert answer.get("for") == "2"
    [deliver] = list(answer)
    assert deliver.tag == f"{{{NS}}}deliver"
    assert deliver.get("session") == "alice@localhost/phone"
    assert parse_stanza(ET.tostring(deliver[0])).to == JID.parse("alice@localhost/phone")
    assert len(host.claims) == 1


def test_the_claim_is_released_once_the_room_confirms_the_leave() -> None:
    host, writer = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    leave = JOIN.replace("id='j1'>", "type='unavailable' id='l1'>").replace(
        "<x xmlns='http://jabber.org/protocol/muc'/>", ""
    )
    host._from_server(event(3, "from-session", leave, session="alice@localhost/phone"))
    assert host.claims  # still leaving: the room's answer must reach the router
    gone = (
        f"<presence xmlns='jabber:client' from='{ROOM}/alice' to='alice@localhost'"
        " type='unavailable' id='l1'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='member' role='none'/><status code='110'/></x></presence>"
    )
    host._from_server(event(4, "to-account", gone))
    assert host.claims == set()
    release = f'<release account="alice@localhost" room="{ROOM}"/>'
    assert release in writer.written[-1]


def test_hello_closes_the_sessions_that_ended_and_claims_the_rooms_again() -> None:
    host, writer = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    host.claims.clear()  # a new connection knows nothing yet
    live = f"<session xmlns='{NS}' jid='bob@localhost/desk'/>"
    host._from_server(event(3, "hello", live))
    snapshot = host.router.snapshot()
    assert snapshot["accounts"][0]["sessions"] == []  # phone is not live: closed
    assert writer.written[-1] == actions(f'<claim account="alice@localhost" room="{ROOM}"/>', 3)


def test_bookmarks_reach_the_router() -> None:
    host, _ = bridge()
    conference = (
        "<conference xmlns='urn:xmpp:bookmarks:1' jid='lounge@conference.localhost'"
        " autojoin='true' name='Lounge'><nick>al</nick></conference>"
    )
    host._from_server(event(1, "bookmarks", conference, account="alice@localhost"))
    [account] = host.router.snapshot()["accounts"]
    assert json.dumps(account["bookmarks"]).count("lounge@conference.localhost") == 1


def test_anything_but_an_event_is_dropped_unanswered() -> None:
    host, writer = bridge()
    host._from_server(
        ET.fromstring(
            "<message xmlns='jabber:component:accept' from='bob@localhost/desk'"
            " to='minimix.localhost'><body>hi</body></message>"
        )
    )
    assert writer.written == []


def test_a_broken_event_is_still_answered_so_the_module_forgets_it() -> None:
    host, writer = bridge()
    host._from_server(event(7, "from-session", JOIN + JOIN, session="alice@localhost/phone"))
    assert writer.written == [actions("", 7)]
    assert len(host.failures) == 1


def test_the_snapshot_file_is_written_whole_and_read_back(tmp_path: Path) -> None:
    host, _ = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    state = tmp_path / "state.json"
    minimix_prosody.save_state(state, host.router)
    restored = minimix_prosody.load_state(state, now=1e9)
    assert restored.snapshot()["accounts"] == host.router.snapshot()["accounts"]
    state.write_text("{not json")
    assert minimix_prosody.load_state(state, now=1e9).snapshot()["accounts"] == []
    assert (tmp_path / "state.json.bad").exists()


def test_the_collector_is_paused_while_the_snapshot_is_read_or_written_then_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, _ = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    state = tmp_path / "state.json"
    enabled: list[bool] = []
    snapshot, restore = Router.snapshot, Router.restore

    def snapshot_seen(router: Router) -> dict[str, Any]:
        enabled.append(gc.isenabled())
        return snapshot(router)

    def restore_seen(*args: Any, **kwargs: Any) -> Router:
        enabled.append(gc.isenabled())
        return restore(*args, **kwargs)

    monkeypatch.setattr(Router, "snapshot", snapshot_seen)
    monkeypatch.setattr(Router, "restore", restore_seen)
    assert gc.isenabled()
    try:
        minimix_prosody.save_state(state, host.router)
        minimix_prosody.load_state(state, now=1e9)
        assert enabled == [False, False]
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what the restore built is out of full collections
        gc.unfreeze()
        gc.disable()  # a host that keeps the collector off finds it off afterwards
        minimix_prosody.save_state(state, host.router)
        state.write_text("{not json")
        minimix_prosody.load_state(state, now=1e9)
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0  # nothing restored: nothing to freeze
    finally:
        gc.enable()
        gc.unfreeze()


def message(n: int) -> str:
    return (
        f"<message xmlns='jabber:client' from='{ROOM}/bob' to='alice@localhost'"
        f" type='groupchat' id='m{n}'><body>hi</body>"
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s{n}'/></message>"
    )


def test_the_bridge_s_path_for_an_event_makes_no_reference_cycle() -> None:
    host, writer = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    gc.collect()
    gc.disable()
    try:
        for n in range(200):
            host._from_server(event(3 + n, "to-account", message(n)))
            host._from_server(event(3 + n, "to-account", message(n)))  # a repeat
            host._from_server(event(3 + n, "to-account", JOIN + JOIN))  # broken
        writer.written.clear()
        host.failures.clear()
        assert gc.collect() == 0  # so freezing what stays alive leaks nothing
    finally:
        gc.enable()


def test_what_the_router_keeps_is_frozen_every_thousand_events() -> None:
    host, _ = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    gc.unfreeze()
    try:
        for n in range(minimix_prosody.FREEZE_EVERY - 3):
            host._from_server(event(3 + n, "to-account", message(n)))
        assert gc.get_freeze_count() == 0
        host._from_server(event(0, "to-account", message(-1)))  # the thousandth
        frozen = gc.get_freeze_count()
        assert frozen > 0
        host._from_server(event(0, "to-account", message(-2)))
        assert gc.get_freeze_count() <= frozen  # not again until the next thousand
    finally:
        gc.unfreeze()


def test_config_settings_follow_the_replay_scripts_rules(tmp_path: Path) -> None:
    config = minimix_prosody.parse_config(["keepalive_idle=2", "nick_policy=follow"])
    assert (config.keepalive_idle, config.nick_policy) == (2.0, "follow")
    assert minimix_prosody.parse_config([]) == Config()
    for word, message in (
        ("keepalive=2", "unknown config setting 'keepalive=2'"),
        ("keepalive_idle=soon", "config keepalive_idle=soon: keepalive_idle takes a number"),
        ("max_rooms_per_account=0", "bad config: "),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
            minimix_prosody.parse_config([word])
    state = tmp_path / "state.json"
    minimix_prosody.save_state(state, Router())
    assert minimix_prosody.load_state(None, now=1e9, config=config).config == config
    restored = minimix_prosody.load_state(state, now=1e9, config=config)
    # Restored, its ids take a prefix new to this start: 1e9 s is e8d4a51000 ms in hex.
    assert restored.config == attrs.evolve(config, id_prefix="mmx-e8d4a51000-")


def test_a_restored_router_invents_no_id_the_process_before_it_may_have_used(
    tmp_path: Path,
) -> None:
    """The snapshot is saved every few seconds: the process that wrote it may have sent
    requests after it, under ids the restored counter would make again. A late answer to
    one would pass for the answer to the new request to the same address."""
    host, _ = bridge()
    host._from_server(event(1, "from-session", JOIN, session="alice@localhost/phone"))
    host._from_server(event(2, "to-account", WELCOME))
    state = tmp_path / "state.json"
    minimix_prosody.save_state(state, host.router)
    before = host.router.snapshot()
    restored = minimix_prosody.load_state(state, now=2e9)  # later than the bridge's clock
    assert restored.snapshot()["accounts"] == before["accounts"]
    [ping] = restored.handle_timer(2e9 + 900)
    assert isinstance(ping, Send) and ping.stanza.id == "mmx-1d1a94a2000-1"


def test_the_command_line_sets_the_routers_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Config] = []

    async def serve(args: argparse.Namespace, secret: str) -> None:
        seen.append(args.config)

    monkeypatch.setattr(minimix_prosody, "serve", serve)
    monkeypatch.setenv(minimix_prosody.SECRET_ENV, "secret")
    base = ["--component", "minimix.localhost"]
    minimix_prosody.main([*base, "--config", "max_rooms_per_account=7", "--keepalive-idle", "1.5"])
    assert seen == [Config(max_rooms_per_account=7, keepalive_idle=1.5)]
    with pytest.raises(SystemExit):
        minimix_prosody.main([*base, "--config", "nick_policy"])
