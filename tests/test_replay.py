"""The replay command line: the script format and output of docs/replay.md."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from minimix_core import Config
from minimix_core._cli import main
from minimix_core._replay import ReplayError, _config, _config_value, entries, replay
from minimix_core.testing._chaos import Story

SCRIPT = """\
# two sessions of alice, one room
config max_tracked_ids=8 id_prefix=t- disconnect_grace=0
at 0
from-session alice@example.org/phone
<presence to='lounge@muc.example.net/alice' id='j1'>
  <x xmlns='http://jabber.org/protocol/muc'/>
</presence>

to-account
<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' role='participant'/>
    <status code='110'/>
  </x>
</presence>

at 2.5
from-session alice@example.org/laptop
<presence to='lounge@muc.example.net/alice' type='unavailable'/>

session-closed alice@example.org/phone
timer
shutdown
"""


def run(script: str, *, as_json: bool = True) -> str:
    out = io.StringIO()
    replay(script, out, as_json=as_json)
    return out.getvalue()


PING_AT_900 = {
    "at": 900.0,
    "due": [{"kind": "ping", "account": "alice@example.org", "detail": "lounge@muc.example.net"}],
}


def test_json_lines_one_object_per_action_with_step() -> None:
    """Every action is one JSON object; steps count event entries only; `deadline` follows it."""
    lines = [json.loads(line) for line in run(SCRIPT).splitlines()]
    assert lines == [
        {
            "step": 1,
            "action": "send",
            "xml": '<presence from="alice@example.org" to="lounge@muc.example.net/alice" id="j1">'
            '<x xmlns="http://jabber.org/protocol/muc"/></presence>',
            "deadline": {
                "at": 60.0,
                "due": [
                    {
                        "kind": "join-timeout",
                        "account": "alice@example.org",
                        "detail": "lounge@muc.example.net",
                    }
                ],
            },
        },
        {
            "step": 2,
            "action": "deliver",
            "session": "alice@example.org/phone",
            "xml": '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1">'
            '<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" role="participant"/>'
            '<status code="110"/></x></presence>',
            "deadline": PING_AT_900,
        },
        {
            "step": 3,
            "action": "discard",
            "reason": "not-in-room",
            "xml": '<presence to="lounge@muc.example.net/alice" type="unavailable"/>',
            "deadline": PING_AT_900,
        },
        {
            "step": 4,
            "action": "send",
            "xml": '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="t-1"/>',
            "deadline": {
                "at": 32.5,
                "due": [
                    {
                        "kind": "leave-timeout",
                        "account": "alice@example.org",
                        "detail": "lounge@muc.example.net",
                    }
                ],
            },
        },
    ]


READABLE = """\
[1] at 0: from-session alice@example.org/phone
      <presence to="lounge@muc.example.net/alice" id="j1">
        <x xmlns="http://jabber.org/protocol/muc"/>
      </presence>
   -> send
      <presence from="alice@example.org" to="lounge@muc.example.net/alice" id="j1">
        <x xmlns="http://jabber.org/protocol/muc"/>
      </presence>
   next deadline 60 (in 60 s): join-timeout alice@example.org lounge@muc.example.net
[2] at 0: to-account
      <presence from="lounge@muc.example.net/alice" to="alice@example.org" id="j1">
        <x xmlns="http://jabber.org/protocol/muc#user">
          <item affiliation="member" role="participant"/>
          <status code="110"/>
        </x>
      </presence>
   -> deliver to alice@example.org/phone
      <presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j1">
        <x xmlns="http://jabber.org/protocol/muc#user">
          <item affiliation="member" role="participant"/>
          <status code="110"/>
        </x>
      </presence>
   next deadline 900 (in 900 s): ping alice@example.org lounge@muc.example.net
[3] at 2.5: from-session alice@example.org/laptop
      <presence to="lounge@muc.example.net/alice" type="unavailable"/>
   -> discard (not-in-room)
      <presence to="lounge@muc.example.net/alice" type="unavailable"/>
   next deadline 900 (in 897.5 s): ping alice@example.org lounge@muc.example.net
[4] at 2.5: session-closed alice@example.org/phone
   -> send
      <presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable" id="t-1"/>
   next deadline 32.5 (in 30 s): leave-timeout alice@example.org lounge@muc.example.net
[5] at 2.5: timer
   -> (no action)
   next deadline 32.5 (in 30 s): leave-timeout alice@example.org lounge@muc.example.net
[6] at 2.5: shutdown
   -> (no action)
   next deadline: none
"""


def test_readable_output_names_each_entry_action_and_next_deadline() -> None:
    """Without --json: each entry, its actions pretty-printed, then what the router waits for."""
    text = run(SCRIPT, as_json=False)
    assert text == READABLE
    coloured = io.StringIO()
    replay(SCRIPT, coloured, colour=True)
    assert "\x1b[1m[1] at 0" in coloured.getvalue()


def test_continue_action_record() -> None:
    """Not the router's business: `continue` with the original stanza."""
    script = "to-account\n<message from='bob@example.net/x' to='alice@example.org'><body>hi</body></message>\n"
    assert json.loads(run(script)) == {
        "step": 1,
        "action": "continue",
        "xml": '<message from="bob@example.net/x" to="alice@example.org"><body>hi</body></message>',
        "deadline": None,
    }


RESTORED = """\
from-session alice@example.org/phone
<presence to='lounge@muc.example.net/alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>

to-account
<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>
<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/>
<status code='110'/></x></presence>

at 5
restore {how}
to-account
<message from='lounge@muc.example.net/bob' to='alice@example.org' type='groupchat' id='m1'>
<body>hi</body></message>

timer
"""


def test_restore_restarts_the_router_from_its_snapshot_with_or_without_sessions() -> None:
    moved = [json.loads(line) for line in run(RESTORED.format(how="sessions")).splitlines()]
    # Sessions kept: the room's message reaches the phone; the restore (3) and the timer (5)
    # have no action.
    assert [(r["step"], r["action"]) for r in moved] == [
        (1, "send"),
        (2, "deliver"),
        (4, "archive"),
        (4, "deliver"),
    ]
    assert moved[-1]["xml"] == (
        '<message from="lounge@muc.example.net/bob" to="alice@example.org/phone"'
        ' type="groupchat" id="m1"><body>hi</body></message>'
    )
    restarted = [json.loads(line) for line in run(RESTORED.format(how="")).splitlines()]
    # Sessions gone: nobody gets the message (the account is told it was unattended) and,
    # at the autojoin queue's turn, the room no bookmark keeps is left.
    assert [(r["step"], r["action"]) for r in restarted] == [
        (1, "send"),
        (2, "deliver"),
        (4, "archive"),
        (4, "unattended"),
        (5, "send"),
    ]
    assert restarted[-1]["xml"].startswith(
        '<presence from="alice@example.org" to="lounge@muc.example.net/alice" type="unavailable"'
    )
    text = run(RESTORED.format(how=""), as_json=False)
    assert "[3] at 5: restore\n   -> (no action)\n   next deadline 5 (in 0 s): autojoin" in text


DOWNTIME = """\
from-session alice@example.org/phone
<presence to='lounge@muc.example.net/alice' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>

to-account
<presence from='lounge@muc.example.net/alice' to='alice@example.org' id='j1'>
<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/>
<status code='110'/></x></presence>

to-account
<message from='lounge@muc.example.net' to='alice@example.org' type='groupchat'><subject>Hi</subject></message>

snapshot
at 10
to-account
<message from='lounge@muc.example.net/bob' to='alice@example.org' type='groupchat' id='m1'>
<body>after the snapshot</body></message>

at 3600
restore
from-session alice@example.org/phone
<presence to='lounge@muc.example.net/alice' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>
"""


def test_a_snapshot_restored_later_is_a_router_down_meanwhile() -> None:
    records = [json.loads(line) for line in run(DOWNTIME).splitlines()]
    assert [(r["step"], r["action"]) for r in records] == [
        (1, "send"),
        (2, "deliver"),
        (3, "deliver"),
        (5, "archive"),  # the old router still runs after its snapshot (step 4)
        (5, "deliver"),
        # Restored from the snapshot (step 6), down an hour: the message after it is not in
        # the table; the phone is answered from it, and the room is asked at once.
        (7, "deliver"),
        (7, "deliver"),
        (7, "send"),
    ]
    assert records[5]["xml"] == (
        '<presence from="lounge@muc.example.net/alice" to="alice@example.org/phone" id="j2">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member"'
        ' role="participant"/><status code="110"/></x></presence>'
    )
    assert records[7]["xml"] == (
        '<iq from="alice@example.org" to="lounge@muc.example.net/alice" type="get" id="mmx-1">'
        '<ping xmlns="urn:xmpp:ping"/></iq>'
    )


@pytest.mark.parametrize(
    ("script", "line", "message"),
    [
        ("dance\n", 1, "unknown directive 'dance'"),
        ("at 1\n\nat 0\n", 3, "time goes back from 1 to 0"),
        ("at soon\n", 1, "at takes one number"),
        ("at true\n", 1, "at takes one number"),
        ("from-session alice@example.org/phone\n", 1, "needs a stanza"),
        ("to-account\n<message><body>x</message>\n", 2, "malformed XML"),
        ("timer\n<message/>\n", 1, "takes no stanza"),
        ("session-closed\n", 1, "wrong number of arguments"),
        ("session-closed a@b/c d\n", 1, "wrong number of arguments"),
        ("session-closed a@@b\n", 1, "bad JID"),
        ("restore all\n", 1, "restore takes nothing, or the word sessions"),
        ("restore sessions now\n", 1, "restore takes nothing, or the word sessions"),
        ("restore\n<message/>\n", 1, "takes no stanza"),
        ("snapshot now\n", 1, "wrong number of arguments for snapshot"),
        ("config nope=1\n", 1, "unknown config setting 'nope=1'"),
        ("config max_tracked_ids\n", 1, "unknown config setting"),
        ("config max_tracked_ids=0\n", 1, "bad config"),
        ("timer\nconfig max_tracked_ids=3\n", 2, "config comes before the first event"),
        (
            "from-session alice@example.org\n<message to='r@m' type='groupchat'/>\n",
            1,
            "not a full JID",
        ),
        (
            "bookmarks alice@example.org\n<conference xmlns='urn:other' jid='r@m'/>\n",
            1,
            "a bookmark is",
        ),
        (
            "bookmarks alice@example.org\n<conference xmlns='urn:xmpp:bookmarks:1'/>\n",
            1,
            "a bookmark is",
        ),
    ],
)
def test_malformed_scripts_stop_with_the_line(script: str, line: int, message: str) -> None:
    """A malformed script stops the replay at the line named."""
    with pytest.raises(ReplayError, match=message) as info:
        run(script)
    assert info.value.line == line


def test_nothing_is_printed_after_the_bad_entry() -> None:
    """Earlier entries' output stays; later entries never run."""
    out = io.StringIO()
    script = "to-account\n<message from='b@x/y' to='a@x'/>\n\nbogus\n\nto-account\n<message from='b@x/y' to='a@x'/>\n"
    with pytest.raises(ReplayError):
        replay(script, out, as_json=True)
    assert [json.loads(line)["step"] for line in out.getvalue().splitlines()] == [1]


def test_entries_split_on_blank_lines_and_single_line_directives() -> None:
    """Comments are skipped; a no-stanza directive ends with its line."""
    parsed = list(entries("# c\nat 1\ntimer\n\nto-account\n<a/>\n  <b/>\n# inside\n"))
    assert [(e.line, e.words, e.xml) for e in parsed] == [
        (2, ("at", "1"), ""),
        (3, ("timer",), ""),
        (5, ("to-account",), "<a/>\n  <b/>"),
    ]


def test_config_values_are_typed() -> None:
    """ints, floats, booleans and strings by their look."""
    assert _config_value("3") == 3
    assert _config_value("2.5") == 2.5
    assert _config_value("true") is True
    assert _config_value("false") is False
    assert _config_value("abc") == "abc"


def test_cli_replay_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m minimix_core replay SCRIPT [--json]`: 0 on success, 2 on a bad script."""
    good = tmp_path / "good.txt"
    good.write_text(SCRIPT, encoding="utf-8")
    assert main(["replay", str(good), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert main(["replay", str(good)]) == 0
    assert "[1] at 0" in capsys.readouterr().out
    bad = tmp_path / "bad.txt"
    bad.write_text("timer\n\nwhat\n", encoding="utf-8")
    assert main(["replay", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "line 3: unknown directive 'what'" in captured.err
    assert main(["replay", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


BOOKMARKS = """\
config autojoin_interval=1
bookmarks alice@example.org
<conference xmlns='urn:xmpp:bookmarks:1' jid='lounge@muc.example.net' autojoin='true' name='Lounge'>
  <nick>al</nick>
  <password>pw</password>
</conference>

timer
to-account
<presence from='lounge@muc.example.net/al' to='alice@example.org'>
  <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/><status code='110'/></x>
</presence>

to-account
<message type='groupchat' from='lounge@muc.example.net/bob' to='alice@example.org' id='m1'><body>al: hi</body></message>
"""


def test_bookmarks_directive_and_the_archive_and_unattended_records() -> None:
    """The bookmarks directive; `archive` and `unattended` objects as docs/replay.md lists them."""
    lines = [json.loads(line) for line in run(BOOKMARKS).splitlines()]
    assert [line["action"] for line in lines] == ["send", "discard", "archive", "unattended"]
    assert lines[0]["xml"] == (
        '<presence from="alice@example.org" to="lounge@muc.example.net/al" id="mmx-1">'
        '<x xmlns="http://jabber.org/protocol/muc"><password>pw</password></x></presence>'
    )
    assert lines[2]["account"] == "alice@example.org"
    assert lines[3]["room"] == "lounge@muc.example.net"
    assert lines[3]["mentions"] is True
    empty = run("bookmarks alice@example.org\n")
    assert empty == ""


def test_module_entry_point(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`python -m minimix_core` runs main() and exits with its status."""
    import runpy  # noqa: PLC0415 - imported where the module is run

    script = tmp_path / "s.txt"
    script.write_text("timer\n", encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["minimix_core", "replay", str(script), "--json"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("minimix_core", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0


def test_the_documented_example_prints_what_the_page_shows() -> None:
    """docs/replay.md, "Try it": the script's output is exactly the block printed under it."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "replay.md").read_text("utf-8")
    section = page[page.index("## Try it") : page.index("## Script")]
    script, command, output = re.findall(r"```\w*\n(.*?)```", section, re.DOTALL)
    assert command == ".venv/bin/python -m minimix_core replay two-sessions.txt\n"
    assert run(script, as_json=False) == output


INTERVALS = """\
config autojoin_interval=5 autojoin_intervals=MUC.example.net:0.5,chat.example.org:2
bookmarks alice@example.org
<conference xmlns='urn:xmpp:bookmarks:1' jid='lounge@muc.example.net' autojoin='true'/>
<conference xmlns='urn:xmpp:bookmarks:1' jid='garden@muc.example.net' autojoin='true'/>

timer

at 0.5

timer
"""


def test_a_config_line_gives_services_their_own_intervals() -> None:
    """``autojoin_intervals=DOMAIN:SECONDS,...``: the second join to the lounge's service
    goes half a second after the first, not five."""
    lines = [json.loads(line) for line in run(INTERVALS).splitlines()]
    assert [(line["step"], line["action"]) for line in lines] == [(2, "send"), (3, "send")]
    assert "garden@muc.example.net/alice" in lines[1]["xml"]
    [entry] = entries("config autojoin_intervals=\n")
    assert _config(entry) == Config()
    for bad in ("muc.example.net", "muc.example.net:soon", "muc.example.net:true"):
        with pytest.raises(ReplayError, match="autojoin_intervals takes DOMAIN:SECONDS"):
            run(f"config autojoin_intervals={bad}\n")
    with pytest.raises(ReplayError, match="bad config: autojoin_intervals"):
        run("config autojoin_intervals=room@muc.example.net:1\n")


def test_a_chaos_story_s_config_line_with_services_own_intervals_replays() -> None:
    """The config line a story writes reads back as the same Config."""
    config = Config(autojoin_interval=2.0, autojoin_intervals={"MUC.example.net": 0.5})
    story = Story(1, config=config)
    story.apply(("join", 0, 0))
    script = story.script()
    [line] = [text for text in script.splitlines() if text.startswith("config ")]
    assert line == "config autojoin_interval=2.0 autojoin_intervals=muc.example.net:0.5"
    [entry] = entries(line + "\n")
    assert _config(entry) == config
    replay(script, io.StringIO())
