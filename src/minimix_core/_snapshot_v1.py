"""Version 1 snapshots, read into the version 2 layout."""

from __future__ import annotations

from collections.abc import Mapping

from ._config import Config
from ._history import message_key
from ._jid import JID
from ._snapshot_codec import Json, Reader, array, flag

__all__ = ["upgrade_v1"]

VERSION_2 = 2


def upgrade_v1(snapshot: Mapping[str, Json], config: Config) -> dict[str, Json]:
    """A version 1 snapshot in the version 2 format.

    Version 1 kept the room's view in the occupancy itself, one ``rejoining`` state with
    a ``rejoin_sent`` flag, device positions per occupancy and history entries by
    stanza-id. Positions are dropped (a returning device then gets the default history).
    Its joins, rejoins sent, leaves and nick changes had no deadline, and its leaves
    kept the keep-alive: each in flight waits its ``Config`` timeout from the snapshot's
    time, as one made then would, and a room being left is not pinged.
    """
    upgraded = {k: v for k, v in snapshot.items() if k not in ("last_autojoin", "autojoin_at")}
    upgraded["version"] = VERSION_2
    upgraded["join_queue_at"] = snapshot["autojoin_at"]
    upgraded["join_pace"] = []
    accounts = [{**a, "rooms": array(a["rooms"])} for a in array(snapshot["accounts"])]
    leaving = [
        (a["jid"], o["room"]) for a in accounts for o in a["rooms"] if o["state"] == "leaving"
    ]
    upgraded["timers"] = [
        [when, "state" if kind == "rejoin" else kind, *rest]
        for when, kind, *rest in map(array, array(snapshot["timers"]))
        if kind != "ping" or (rest[0], rest[1]) not in leaving
    ] + [[snapshot["now"] + config.leave_timeout, "state", a, room, True] for a, room in leaving]
    for a in accounts:
        for o in a["rooms"]:
            room = o["room"]
            if o["state"] == "joining" or (o["state"] == "rejoining" and flag(o["rejoin_sent"])):
                deadline = [snapshot["now"] + config.join_timeout, "state", a["jid"], room, True]
                upgraded["timers"].append(deadline)
            if o["nick_change"] is not None:
                deadline = [snapshot["now"] + config.nick_change_timeout, "nick", a["jid"], room]
                upgraded["timers"].append([*deadline, True])
    upgraded["accounts"] = [_account_v1(a) for a in accounts]
    return upgraded


def _account_v1(data: Json) -> Json:
    account = dict(data)
    account["blocked"] = []
    account["memory"] = []
    account["rooms"] = [_occupancy_v1(o) for o in data["rooms"]]
    return account


def _occupancy_v1(o: Json) -> Json:
    room = JID.parse(o["room"])
    state = o["state"]
    if state == "rejoining":
        state = "rejoin-sent" if flag(o["rejoin_sent"]) else "rejoin-wait"
    history = o["history"]
    entries = None
    if history is not None:
        entries = [
            [message, at, message_key(Reader(inline=True).stanza(message), room), size, seq, False]
            for message, at, _, size, seq in map(array, array(array(history)[1]))
        ]
    change = o["nick_change"]
    return {
        "room": o["room"],
        "state": state,
        "join": o["join"],
        "request_id": o["join"][4] if state == "joining" else None,
        "view": {
            "nick": o["nick"],
            "self": o["self"],
            "occupants": o["occupants"],
            "room_presence": o["room_presence"],
            "subject": o["subject"],
            "flags": o["flags"],
            "created": o["created"],
            "history": entries,
            "passed": [] if entries is None else [e[2] for e in entries],
            "last_message_at": o["last_message_at"],
            "joined_at": o["joined_at"],
        },
        "joiner": o["joiner"],
        "attached": o["attached"],
        "pending": o["pending"],
        "leaving": o["leaving"],
        "sent_ids": o["sent_ids"],
        "sent_payload": o["sent_payload"],
        "nick_change": None if change is None else [*change[:3], change[2], change[3]],
        "last_seen": o["last_seen"],
        "ping_id": None if state == "leaving" else o["ping_id"],
        "ping_failures": 0 if state == "leaving" else o["ping_failures"],
        # A leave is said once more when unanswered (attempts 0); version 1 never did.
        "rejoin_attempts": 0 if state == "leaving" else o["rejoin_attempts"],
        "restored": flag(o["leave_due"]) or (state == "rejoin-wait" and not o["attached"]),
        "resync": o["resync"],
    }
