"""The replay command's errors and edges: script lines, config values, stdin, --help, pipes."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from minimix_core._cli import main
from minimix_core._replay import _DIRECTIVES, ReplayError, replay


def error(script: str) -> tuple[int, str]:
    with pytest.raises(ReplayError) as info:
        replay(script, io.StringIO(), as_json=True)
    return info.value.line, str(info.value)


def test_malformed_xml_names_the_script_line_not_the_stanza_line() -> None:
    """The fourth line of the file, even with a comment inside the stanza."""
    script = (
        "at 0\n"
        "from-session alice@example.org/phone\n"
        "<message to='lounge@muc.example.net' type='groupchat'>\n"
        "# a comment inside the stanza\n"
        "  <body>hi</bod>\n"
        "</message>\n"
    )
    assert error(script) == (
        5,
        "line 5: malformed XML: mismatched tag (column 13)",
    )  # the "b" of </bod>


def test_unclosed_stanza_points_at_its_last_line() -> None:
    """Running out of XML is reported just past the end of the stanza's last line."""
    script = "to-account\n<message from='r@m/x' to='a@b'>\n  <body>hi</body>\n"
    assert error(script) == (3, "line 3: malformed XML: no element found (column 18)")


def test_a_directive_inside_a_stanza_hints_at_the_missing_blank_line() -> None:
    """A stanza runs to the next blank line; forgetting one swallows the next directive."""
    script = (
        "to-account\n<message from='lounge@muc.example.net/bob' to='alice@example.org'/>\ntimer\n"
    )
    assert error(script) == (
        3,
        "line 3: malformed XML: junk after document element (column 1); "
        "a stanza ends at a blank line: is one missing before line 3?",
    )


def test_bookmark_columns_count_from_the_script() -> None:
    """The wrapper the bookmarks payload is parsed in does not shift the column."""
    script = "bookmarks alice@example.org\n<conference xmlns='urn:xmpp:bookmarks:1' jid='r@m'>\n"
    line, message = error(script)
    assert line == 2
    assert message.startswith("line 2: malformed XML: ")
    script = (
        "bookmarks alice@example.org\n<conference xmlns='urn:xmpp:bookmarks:1' jid='r@m'></x>\n"
    )
    assert error(script) == (
        2,
        "line 2: malformed XML: mismatched tag (column 54)",
    )  # the "x" of </x>


def test_a_stanza_error_that_is_not_a_syntax_error_names_the_directive() -> None:
    """A well-formed root that is no stanza: the entry's line."""
    script = "at 0\n\nto-account\n<stream/>\n"
    assert error(script) == (3, "line 3: root element 'stream' is not a stanza")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("max_tracked_ids=abc", "config max_tracked_ids=abc: max_tracked_ids takes a whole number"),
        ("max_tracked_ids=2.5", "config max_tracked_ids=2.5: max_tracked_ids takes a whole number"),
        (
            "max_tracked_ids=true",
            "config max_tracked_ids=true: max_tracked_ids takes a whole number",
        ),
        ("iq_timeout=soon", "config iq_timeout=soon: iq_timeout takes a number"),
        ("archive=1", "config archive=1: archive takes true or false"),
        ("max_tracked_ids=0", "bad config: 'max_tracked_ids' must be >= 1: 0"),
        (
            "nick_policy=nope",
            "bad config: 'nick_policy' must be in ('account', 'follow') (got 'nope')",
        ),
        *(
            (
                f"autojoin_intervals={raw}",
                f"config autojoin_intervals={raw}: autojoin_intervals takes DOMAIN:SECONDS,...",
            )
            for raw in ("muc.example", "muc.example:soon", "muc.example:true")
        ),
        (
            "autojoin_intervals=room@muc.example:1",
            "bad config: autojoin_intervals: 'room@muc.example' is not a domain",
        ),
    ],
)
def test_a_bad_config_value_is_one_clear_line(setting: str, message: str) -> None:
    """What the field takes, or the bound it breaks; never attrs' internals."""
    assert error(f"config {setting}\ntimer\n") == (1, f"line 1: {message}")


def test_config_values_are_read_as_their_field_type() -> None:
    """A digit string is a string for a string field, an int is a float for a float field."""
    out = io.StringIO()
    replay("config id_prefix=7 iq_timeout=5 archive=false\ntimer\n", out)
    assert out.getvalue() == "[1] at 0: timer\n   -> (no action)\n   next deadline: none\n"


def test_dash_reads_the_script_from_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replay -`: the script comes from standard input, and errors say so."""
    monkeypatch.setattr("sys.stdin", io.StringIO("timer\n"))
    assert main(["replay", "-"]) == 0
    assert capsys.readouterr().out == "[1] at 0: timer\n   -> (no action)\n   next deadline: none\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("dance\n"))
    assert main(["replay", "-", "--json"]) == 2
    assert capsys.readouterr().err == "replay: standard input: line 1: unknown directive 'dance'\n"


def test_an_unreadable_script_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not UTF-8: exit status 2 and the reason, no traceback."""
    script = tmp_path / "latin1.txt"
    script.write_bytes(b"# caf\xe9\ntimer\n")
    assert main(["replay", str(script)]) == 2
    assert capsys.readouterr().err.startswith(f"replay: cannot read {script}: 'utf-8' codec")


def test_help_is_plain_text_and_describes_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    """No reST markup in --help; the replay help lists the directives and points to the reference."""
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top
    assert "replay    feed a replay script to a fresh Router and print its actions" in top
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text
    assert "  from-session FULLJID     + stanza: a local client session sent it\n" in text
    # Every directive of the format is listed.
    listed = {
        line.split()[0]
        for line in text.splitlines()
        if line.startswith("  ") and line[2:3].isalpha()
    }
    assert listed >= _DIRECTIVES, _DIRECTIVES - listed
    assert "docs/replay.md" in text
    assert "('-': standard input)" in text


def test_a_closed_pipe_ends_quietly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`replay SCRIPT | head`: the reader went away; no BrokenPipeError traceback, status 1."""
    script = tmp_path / "s.txt"
    script.write_text("timer\n", encoding="utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", encoding="utf-8") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(["replay", str(script)]) == 1
        closed.write("after\n")
        closed.flush()  # stdout now goes to /dev/null: the interpreter's last flush succeeds
