"""Replay scripts: feed a scripted stanza flow to a fresh Router and print its actions.

The script format and the output are a public contract; see ``docs/replay.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any
from xml.parsers.expat import ExpatError

import attrs

from ._actions import Action, Archive, Continue, Deliver, Discard, Send
from ._config import Config
from ._events import Bookmark, BookmarksChanged, Event, FromSession, SessionClosed, ToAccount
from ._jid import JID, InvalidJID
from ._router import LocalProtocolError, Router
from ._stanza import Element, Stanza
from ._xml import StanzaParseError, parse_stanza, serialize

__all__ = [
    "ReplayError",
    "action_record",
    "deadline_record",
    "entries",
    "replay",
    "restored",
    "written",
]

_EVENT_DIRECTIVES = frozenset(
    {
        "from-session",
        "to-account",
        "session-closed",
        "bookmarks",
        "timer",
        "shutdown",
        "snapshot",
        "restore",
    }
)
_NEEDS_STANZA = frozenset({"from-session", "to-account"})
_TAKES_XML = _NEEDS_STANZA | {"bookmarks"}
_DIRECTIVES = _EVENT_DIRECTIVES | {"config", "at"}
_BOOKMARKS_NS = "urn:xmpp:bookmarks:1"
_WRAPPER = "<message>"
_POSITION = re.compile(r": line \d+, column \d+$")


class ReplayError(Exception):
    """The script is malformed; ``line`` is the 1-based line the problem is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@attrs.frozen
class Entry:
    """One directive with the XML lines that follow it."""

    line: int
    words: tuple[str, ...]
    xml: str
    #: The script line of each line of ``xml`` (comments inside a stanza are skipped).
    xml_lines: tuple[int, ...] = ()


def entries(text: str) -> Iterator[Entry]:
    """Split a script into entries, lazily, in order.

    A stanza runs from the line after its directive to the next blank line. A directive
    that takes no stanza ends with its line, so the next directive may follow at once.
    """
    current: list[str] = []
    numbers: list[int] = []
    for number, raw in enumerate([*text.splitlines(), ""], start=1):
        line = raw.rstrip()
        if line.lstrip().startswith("#"):
            continue
        starts_directive = bool(line.strip()) and not line.lstrip().startswith("<")
        single = bool(current) and len(current) == 1 and current[0].split()[0] not in _TAKES_XML
        if current and (not line.strip() or (single and starts_directive)):
            words = tuple(current[0].split())
            yield Entry(numbers[0], words, "\n".join(current[1:]), tuple(numbers[1:]))
            current, numbers = [], []
        if not line.strip():
            continue
        current.append(line)
        numbers.append(number)


def _config_value(raw: str) -> object:
    if raw in ("true", "false"):
        return raw == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


# What a field's annotation accepts from a script, and how an error message names it.
_CONFIG_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}
_CONFIG_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false"}


def _config_field(entry: Entry, key: str, kind: str, raw: str) -> object:
    """``raw`` read as the field's type; a value of the wrong type names what it takes."""
    value = raw if kind == "str" else _config_value(raw)
    wrong_bool = isinstance(value, bool) and kind != "bool"  # a bool is an int to Python
    if wrong_bool or not isinstance(value, _CONFIG_TYPES.get(kind, (object,))):
        what = _CONFIG_KINDS.get(kind, kind)
        raise ReplayError(entry.line, f"config {key}={raw}: {key} takes {what}")
    return float(value) if kind == "float" and isinstance(value, int) else value


def _config_intervals(entry: Entry, key: str, raw: str) -> dict[str, float]:
    """``DOMAIN:SECONDS,DOMAIN:SECONDS`` (nothing for none), as :func:`config_setting` writes."""
    intervals: dict[str, float] = {}
    for item in raw.split(",") if raw else ():
        domain, colon, seconds = item.rpartition(":")
        value = _config_value(seconds)
        if not colon or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReplayError(entry.line, f"config {key}={raw}: {key} takes DOMAIN:SECONDS,...")
        intervals[domain] = float(value)
    return intervals


def config_setting(name: str, value: object) -> str:
    """``name=value`` as a ``config`` line reads it back (a mapping: ``KEY:VALUE,...``)."""
    if isinstance(value, Mapping):
        return f"{name}=" + ",".join(f"{k}:{v!r}" for k, v in value.items())
    return f"{name}={value}"


def _config(entry: Entry) -> Config:
    kinds = {field.name: str(field.type) for field in attrs.fields(Config)}
    values: dict[str, Any] = {}
    for word in entry.words[1:]:
        key, eq, raw = word.partition("=")
        if not eq or key not in kinds:
            raise ReplayError(entry.line, f"unknown config setting {word!r}")
        if kinds[key].startswith("Mapping"):
            values[key] = _config_intervals(entry, key, raw)
        else:
            values[key] = _config_field(entry, key, kinds[key], raw)
    try:
        return Config(**values)
    except (TypeError, ValueError) as exc:
        # attrs validators put the readable sentence first, then their own internals.
        raise ReplayError(entry.line, f"bad config: {exc.args[0]}") from exc


def _jid(entry: Entry, text: str) -> JID:
    try:
        return JID.parse(text)
    except InvalidJID as exc:
        raise ReplayError(entry.line, f"bad JID {text!r}: {exc}") from exc


def _bookmark(entry: Entry, element: Element) -> Bookmark:
    if element.tag != f"{{{_BOOKMARKS_NS}}}conference" or element.get("jid") is None:
        raise ReplayError(
            entry.line, "a bookmark is a <conference xmlns='urn:xmpp:bookmarks:1' jid=…/>"
        )
    nick = element.find(f"{{{_BOOKMARKS_NS}}}nick")
    password = element.find(f"{{{_BOOKMARKS_NS}}}password")
    return Bookmark(
        room=_jid(entry, element.get("jid", "")),
        autojoin=element.get("autojoin") in ("true", "1"),
        nick=None if nick is None else nick.text,
        password=None if password is None else password.text,
        name=element.get("name"),
    )


def _xml_error(entry: Entry, exc: StanzaParseError) -> ReplayError:
    """The parser's complaint at the script line it is about, not the stanza's own line."""
    cause = exc.__cause__
    if not isinstance(cause, ExpatError):
        return ReplayError(entry.line, str(exc))
    row, column = cause.lineno, cause.offset
    line = entry.xml_lines[min(row, len(entry.xml_lines)) - 1]
    if row == 1 and entry.words[0] == "bookmarks":
        column -= len(_WRAPPER)
    reason = _POSITION.sub("", str(cause))
    message = f"malformed XML: {reason} (column {column + 1})"
    strays = [
        number
        for number, text in zip(entry.xml_lines, entry.xml.splitlines(), strict=True)
        if text.split()[0] in _DIRECTIVES
    ]
    if strays:
        message += f"; a stanza ends at a blank line: is one missing before line {strays[0]}?"
    return ReplayError(line, message)


def _event(entry: Entry) -> Event | str:
    directive, args = entry.words[0], entry.words[1:]
    if directive in _NEEDS_STANZA and not entry.xml:
        raise ReplayError(entry.line, f"{directive} needs a stanza")
    if directive not in _NEEDS_STANZA and directive != "bookmarks" and entry.xml:
        raise ReplayError(entry.line, f"{directive} takes no stanza")
    if directive == "restore":
        if args not in ((), ("sessions",)):
            raise ReplayError(entry.line, "restore takes nothing, or the word sessions")
        return " ".join(entry.words)
    if len(args) != (1 if directive in ("from-session", "session-closed", "bookmarks") else 0):
        raise ReplayError(entry.line, f"wrong number of arguments for {directive}")
    if directive in ("timer", "shutdown", "snapshot"):
        return directive
    if directive == "session-closed":
        return SessionClosed(session=_jid(entry, args[0]))
    try:
        # Bookmark payloads are wrapped so the one XML edge parses them too.
        wrapped = f"{_WRAPPER}{entry.xml}</message>" if directive == "bookmarks" else entry.xml
        stanza = parse_stanza(wrapped)
    except StanzaParseError as exc:
        raise _xml_error(entry, exc) from exc
    if directive == "bookmarks":
        marks = tuple(_bookmark(entry, element) for element in stanza.children)
        return BookmarksChanged(account=_jid(entry, args[0]), bookmarks=marks)
    if directive == "to-account":
        return ToAccount(stanza=stanza)
    return FromSession(session=_jid(entry, args[0]), stanza=stanza)


def written(router: Router) -> dict[str, Any]:
    """``router.snapshot()`` through JSON text, as a host keeps it (a ``snapshot`` entry)."""
    loaded: dict[str, Any] = json.loads(json.dumps(router.snapshot()))
    return loaded


def restored(
    router: Router, now: float, *, sessions: bool, snapshot: dict[str, Any] | None = None
) -> Router:
    """A router restored at ``now`` from ``snapshot``, or from ``router`` written now.

    ``sessions=False`` is a process restart (the sessions are gone), ``True`` a move to
    another process with the sessions still connected (``Router.restore``). The config is
    ``router``'s.
    """
    kept = written(router) if snapshot is None else snapshot
    return Router.restore(kept, now=now, config=router.config, sessions=sessions)


Upcoming = list[tuple[float, str, JID, "JID | str"]]


def deadline_record(upcoming: Upcoming) -> dict[str, object] | None:
    """The router's next deadline and what is due then (``deadline`` in ``--json``)."""
    if not upcoming:
        return None
    at = upcoming[0][0]
    due = [
        {"kind": kind, "account": str(account), "detail": str(detail)}
        for when, kind, account, detail in upcoming
        if when == at
    ]
    return {"at": at, "due": due}


def action_record(step: int, action: Action) -> dict[str, object]:
    """The JSON object of one action (``--json`` output)."""
    record: dict[str, object] = {"step": step}
    if isinstance(action, Send):
        record["action"] = "send"
    elif isinstance(action, Deliver):
        record.update(action="deliver", session=str(action.session))
    elif isinstance(action, Continue):
        record["action"] = "continue"
    elif isinstance(action, Discard):
        record.update(action="discard", reason=str(action.reason))
    elif isinstance(action, Archive):
        record.update(action="archive", account=str(action.account))
    else:
        record.update(
            action="unattended",
            account=str(action.account),
            room=str(action.room),
            mentions=action.mentions,
        )
    record["xml"] = serialize(action.stanza)
    return record


class _Printer:
    def __init__(self, out: IO[str], *, as_json: bool, colour: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.colour = colour

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def _stanza(self, stanza: Stanza) -> None:
        for line in serialize(stanza, indent="  ").splitlines():
            self.out.write(f"      {line}\n")

    def entry(self, step: int, entry: Entry, now: float, event: Event | str) -> None:
        if self.as_json:
            return
        title = f"[{step}] at {now:g}: {' '.join(entry.words)}"
        self.out.write(self._paint(title, "1") + "\n")
        if isinstance(event, (FromSession, ToAccount)):
            self._stanza(event.stanza)

    def actions(self, step: int, now: float, actions: list[Action], upcoming: Upcoming) -> None:
        deadline = deadline_record(upcoming)
        for action in actions:
            record = action_record(step, action)
            if self.as_json:
                record["deadline"] = deadline
                self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
                continue
            label = str(record["action"])
            if "session" in record:
                label += f" to {record['session']}"
            if "reason" in record:
                label += f" ({record['reason']})"
            self.out.write("   " + self._paint(f"-> {label}", "36") + "\n")
            self._stanza(action.stanza)
        if self.as_json:
            return
        if not actions:
            self.out.write("   " + self._paint("-> (no action)", "2") + "\n")
        self.out.write("   " + self._paint(_deadline_text(now, deadline), "2") + "\n")


def _deadline_text(now: float, deadline: dict[str, Any] | None) -> str:
    if deadline is None:
        return "next deadline: none"
    due = "; ".join(f"{d['kind']} {d['account']} {d['detail']}" for d in deadline["due"])
    at = deadline["at"]
    return f"next deadline {at:g} (in {at - now:g} s): {due}"


def replay(text: str, out: IO[str], *, as_json: bool = False, colour: bool = False) -> None:
    """Run a replay script, writing each step's actions to ``out`` as it goes.

    Raises :class:`ReplayError` at the first malformed entry; what earlier entries printed
    stays printed and nothing is printed for the entries after it.
    """
    printer = _Printer(out, as_json=as_json, colour=colour)
    router: Router | None = None
    kept: dict[str, Any] | None = None  # the last snapshot entry's
    now = 0.0
    step = 0
    for entry in entries(text):
        directive = entry.words[0]
        if directive == "config":
            if router is not None:
                raise ReplayError(entry.line, "config comes before the first event")
            router = Router(_config(entry))
            continue
        if directive == "at":
            value = _config_value(entry.words[1]) if len(entry.words) == 2 else None
            if entry.xml or not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ReplayError(entry.line, "at takes one number of seconds")
            if value < now:
                raise ReplayError(entry.line, f"time goes back from {now:g} to {value:g}")
            now = float(value)
            continue
        if directive not in _EVENT_DIRECTIVES:
            raise ReplayError(entry.line, f"unknown directive {directive!r}")
        event = _event(entry)
        router = router if router is not None else Router()
        step += 1
        printer.entry(step, entry, now, event)
        try:
            if event == "timer":
                actions = router.handle_timer(now)
            elif event == "shutdown":
                actions = router.shutdown(now)
            elif event == "snapshot":
                kept, actions = written(router), []
            elif isinstance(event, str):
                sessions = event != "restore"
                router = restored(router, now, sessions=sessions, snapshot=kept)
                kept, actions = None, []
            else:
                actions = router.handle(event, now=now)
        except LocalProtocolError as exc:
            raise ReplayError(entry.line, str(exc)) from exc
        printer.actions(step, now, actions, router.upcoming())
