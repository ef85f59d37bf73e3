"""A naive port of the original server module's fan-out: the baseline the router must beat.

The module the project started from handles a groupchat message to an account's bare
JID the obvious way: look the room up among the account's rooms, then for each session
deep-copy the stanza and set its ``to``. Ported as is to Python, on an ElementTree element
parsed once (the router gets its stanza parsed once too), with JIDs as strings, as the
module keeps them. It keeps no history and makes no archive copy: it is the least a
router must do, done the simple way.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

__all__ = ["NaiveTable", "naive_fanout"]

NaiveTable = dict[str, dict[str, list[str]]]
"""Account bare JID -> room bare JID -> the full JIDs of the sessions in it."""


def naive_fanout(table: NaiveTable, stanza: ET.Element) -> list[tuple[str, ET.Element]]:
    """``(session, copy)`` for each session of the addressed account in the sending room."""
    to, sender = stanza.get("to"), stanza.get("from")
    if to is None or sender is None:
        return []
    rooms = table.get(to.partition("/")[0])
    if rooms is None:
        return []
    sessions = rooms.get(sender.partition("/")[0])
    if sessions is None:
        return []
    out = []
    for session in sessions:
        fork = copy.deepcopy(stanza)
        fork.set("to", session)
        out.append((session, fork))
    return out
