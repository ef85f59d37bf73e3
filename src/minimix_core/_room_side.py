"""Stanzas from rooms to an account's bare JID: claimed, matched, forked, and remembered.

An answer is matched to the request it answers by id (RFC 6120 §8.2.3). Where servers
do not reflect ids the fallback is documented at the match: a join's self-presence is
recognised by status 110 (XEP-0045 §7.2.2), a nick change's by the 303 that precedes
it. An answer that matches nothing in flight is a late or duplicated one: ``Discard``
with reason ``stale``, or, for an error, the session whose stanza it answers.
"""

from __future__ import annotations

from ._actions import (
    Action,
    Archive,
    Continue,
    Deliver,
    Discard,
    DiscardReason,
    Send,
    Unattended,
)
from ._core import Core
from ._fork import error_to_sender, fork, note_flags, stale
from ._history import (
    _DELAY_SIZE,
    _DIGEST_CHARS,
    _HEX,
    _IS_BODY,
    _IS_STANZA_ID,
    _IS_STORABLE,
    _IS_THREAD,
    _LONGEST_ID_KEY,
    _NO_ROLE,
    _TAGS,
    History,
    MessageFacts,
    _tag_info,
    key_of,
    scan_message,
)
from ._iq import find_mam_result, iq_to_account, mam_result
from ._jid import JID, names
from ._keepalive import (
    ping_answer,
    rejoin_now,
)
from ._lifecycle import E, S
from ._membership import count_message
from ._muc import (
    NO_COPY,
    STANZA_ID,
    error_condition,
    status_codes,
)
from ._place import has
from ._recent import RecentKeys
from ._room_presence import known, presence
from ._sequence import asked_again, resync_over
from ._sessions import SoleSession
from ._stanza import Element, Stanza, element_size, same_payload
from ._table import Account, Occupancy, adopt_version_2

__all__ = ["room_message", "to_account"]

_new = tuple.__new__

_S = S
_E = E


def to_account(core: Core, account_jid: JID, stanza: Stanza) -> list[Action]:
    """Route one stanza addressed to a local account's bare JID.

    :meth:`Router.handle <minimix_core.Router.handle>` routes most room messages with
    :func:`room_message` before it comes here; from here they take the general path.
    """
    sender = stanza.from_
    if sender is None:
        return [Discard(stanza=stanza, reason=DiscardReason.MALFORMED)]
    account = core.table.accounts.get(account_jid)
    # The sender's bare JID as a plain tuple: equal to it, hashed alike, and made
    # without the cache that JID.bare goes through (a tenth of a room message's cost).
    room = (sender[0], sender[1], None)
    occupancy = None if account is None else account.rooms.get(room)  # type: ignore[call-overload]
    if stanza.kind == "iq":
        ping_id = None if occupancy is None else occupancy.ping_id
        if (
            account is not None
            and occupancy is not None
            and ping_id is not None
            and ping_id == stanza.id
        ):
            if _answers_ping(occupancy, stanza):
                return ping_answer(core, account, occupancy, stanza)
            # The keep-alive's id from someone else: a guess, not the room's answer.
            return [Discard(stanza=stanza, reason=DiscardReason.UNEXPECTED)]
        return iq_to_account(core, account, stanza, sender)
    if (
        account is not None
        and (account.pending_iqs or occupancy is not None)
        and stanza.kind == "message"
        and stanza.type not in ("groupchat", "error")
    ):
        result = find_mam_result(stanza)
        if result is not None:
            return mam_result(account, stanza, result, sender)
    if (
        occupancy is None
        and stanza.kind == "presence"
        and stanza.type is None
        and sender.resource is not None
        and 110 in status_codes(stanza)
    ):
        return _not_in(core, account_jid, stanza, sender)
    if account is None or occupancy is None:
        return [Continue(stanza=stanza)]
    if stanza.type != "error":
        occupancy.last_seen = core.now  # an error is no sign that the room still has us
    if occupancy.resync is not None:
        # The host calls handle_timer at next_deadline(), but a stanza may come first.
        ends = core.timers.when(("resync", account_jid, occupancy.room))
        if ends is not None and ends <= core.now:
            # Over before this stanza: the sessions that waited are answered first.
            answered = resync_over(core, account_jid, occupancy.room)
            if answered:
                return answered + _after_resync(core, account, occupancy, stanza, sender)
    return _after_resync(core, account, occupancy, stanza, sender)


def _after_resync(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    if stanza.kind == "presence":
        return presence(core, account, occupancy, stanza, sender)
    return _message(core, account, occupancy, stanza, sender)


def _not_in(core: Core, account_jid: JID, stanza: Stanza, sender: JID) -> list[Action]:
    """The account's own presence (110) from a room it has no occupancy in: a late answer.

    Only the router joins from the bare JID, so the room answers a join the router no
    longer waits for (one forgotten by a restart, given up, or overtaken by a leave the
    room took first): it holds the account with nobody to know it. The account leaves
    (XEP-0045 §7.14), or it stays a ghost for as long as the room lasts. The room's answer
    to that leave is passed on, as any unavailable presence for no occupancy: the server
    gives it to every session of the account (RFC 6121 §8.5.2.1.2), which tells a device
    the router does not know of (one from after a snapshot restored late) that it is out.
    """
    leave = Stanza("presence", type="unavailable", from_=account_jid, to=sender, id=core.next_id())
    return [Send(stanza=leave), *stale(stanza)]


def _answers_ping(occupancy: Occupancy, stanza: Stanza) -> bool:
    """The keep-alive's id on an answer from the occupant JID it went to (RFC 6120 §8.2.3)."""
    return stanza.type in ("result", "error") and stanza.from_ == occupancy.room.with_resource(
        occupancy.current_nick
    )


def room_message(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, nick: str
) -> list[Action]:
    """An occupant's groupchat message while the account is in the room, with no resync.

    The router's hot path: once per room message for each local account in the room. A
    new message with a body, the room's stanza-id (short) and no delay, subject or storage
    hint, to attached sessions, in a room whose memory, history and messages passed on
    exist: what :func:`_historic` would do, in one frame, with :func:`scan_message`,
    :func:`key_of`, :meth:`Core.share_message`, :meth:`History.add` and
    :meth:`History.drop_oldest` written out for that message (their calls took a sixth of
    its time). ``nick`` is the sender's
    resource. Anything else takes :func:`_message`, the general path.
    ``tests/test_hot_path.py`` holds the two paths to the same actions and state.
    """
    room = occupancy.room
    room_text = occupancy.room_text
    kind, type_, from_, _, id_, attrs, children = stanza
    # _envelope(stanza), from what the checks found: a groupchat message from an occupant
    # of the room (` from="room/nick"`) to the account's bare JID (` to="account"`).
    envelope = account.envelope + len(room_text) + len(nick)
    if id_ is not None:
        envelope += len(id_) + 8
    # scan_message, for the usual message: what it finds for one with no delay, subject
    # or no-store hint, and no stanza-id but the room's, spelt as the room's JID is.
    size = envelope
    keep = False
    usual = True
    stanza_id = None
    tags = _TAGS
    for child in children:
        tag = child.tag
        info = tags.get(tag)
        if info is None:
            info = _tag_info(tag)
        extra, role = info
        child_size = child._size
        size += element_size(child) if child_size < 0 else child_size + extra
        if role == _NO_ROLE:
            continue
        if role == _IS_BODY:
            keep = True
        elif role == _IS_STANZA_ID:
            found_by = found_id = None
            for name, value in child.attrs:
                if name == "by":
                    found_by = value
                elif name == "id":
                    found_id = value
            if found_by != room_text or found_id is None:
                usual = False
            elif stanza_id is None:
                stanza_id = found_id
        elif role == _IS_STORABLE:
            keep = True
        elif role != _IS_THREAD:
            usual = False  # a delay, a subject or a no-store hint
    # key_of(stanza, stanza_id): a short stanza-id not shaped like a digest is the key.
    if (
        not (usual and keep and stanza_id is not None)
        or len(stanza_id) > _LONGEST_ID_KEY
        or (len(stanza_id) == _DIGEST_CHARS and _HEX.issuperset(stanza_id))
    ):
        assert from_ is not None  # the room's occupant: Router.handle found it
        return _message(core, account, occupancy, stanza, from_)
    key = stanza_id
    view = occupancy.view
    passed = view.passed
    history = view.history
    memories = account.memory
    memory = memories.get(room)
    attached = occupancy.attached
    if (
        not attached
        or passed is None
        or history is None
        or memory is None
        or memory.legacy
        or key in passed
        or key in memory.seen
    ):
        facts = (True, False, stanza_id, None, size, False)
        return _historic(core, account, occupancy, stanza, facts, room_text, key, private=False)
    config = core.config
    bound = config.max_remembered_messages
    # RecentKeys.add, for a key they lack.
    passed[key] = None
    passed.order.append(key)
    if len(passed) > bound:
        passed.forget_oldest()
    # Account.remember and RoomMemory.note, for a memory that exists and a key it lacks.
    if next(reversed(memories.values())) is not memory:
        del memories[room]
        memories[room] = memory
    number = memory.last = memory.last + 1
    seen = memory.seen
    seen[key] = number
    seen.order.append(key)
    if len(seen) > bound:
        seen.forget_oldest()
    now = core.now
    kept = stanza
    # Core.share_message(room_text, key, stanza, size), when another local account is in
    # the room: the pool serves no account alone (it cost one a sixteenth of the message).
    if core.table.occupied.get(room_text, 0) > 1:
        pool = core.messages
        found = pool.get(key)
        if found is not None:
            shared = found[0]
            if shared is not children:
                if shared == children:
                    kept = stanza.with_children(shared)
                else:  # another room's message under this key
                    kept = core.share_aside(room_text, key, stanza, size)
        elif size <= config.max_shared_payload_bytes:
            pool[key] = (children, size)
            core.message_bytes += size
            if (
                len(pool) > config.max_shared_messages
                or core.message_bytes > config.max_shared_payload_bytes
            ):
                core.trim_messages()
    # History.add(kept, room_text, now, config, key, number, None, size, False).
    size += _DELAY_SIZE + len(room_text)
    entries = history._entries
    if number < history._newest and entries:
        history._descents += 1
    history._newest = number
    entries.append((kept, now, key, size, number, False))
    history._bytes += size
    while len(entries) > config.max_history_messages or history._bytes > config.max_history_bytes:
        # History.drop_oldest().
        old = entries.popleft()
        _, _, _, old_size, old_number, private = old
        history._bytes -= old_size
        history._private -= private
        if history._descents and entries and entries[0][4] < old_number:
            history._descents -= 1
        if history._replays:
            history._replays.pop(id(old), None)
    if view.last_message_at is None or now > view.last_message_at:
        view.last_message_at = now
    actions: list[Action] = [_new(Archive, (account.jid, stanza))] if config.archive else []
    # fork(), for the attached sessions.
    if type(attached) is SoleSession:
        s = attached.session
        copy = _new(Stanza, (kind, type_, from_, s, id_, attrs, children))
        actions.append(_new(Deliver, (s, copy)))
        return actions
    for s in attached:
        copy = _new(Stanza, (kind, type_, from_, s, id_, attrs, children))
        actions.append(_new(Deliver, (s, copy)))
    return actions


def _message(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    kind = stanza.type
    if kind == "groupchat":
        if sender.resource is None:
            note_flags(occupancy, stanza)
        room = str(occupancy.room)
        facts = scan_message(stanza, room)
        if facts[0]:
            key = key_of(stanza, facts[2])
            return _historic(core, account, occupancy, stanza, facts, room, key, private=False)
        if facts[1] and occupancy.state is _S.JOINING:
            # Before the account's self-presence: an earlier join sequence's (§7.2.15),
            # one left since; this join's subject follows its self-presence.
            return stale(stanza)
        if facts[1] and (occupancy.state is not _S.LEAVING or occupancy.resync is not None):
            # Leaving during a rejoin's sequence: its subject ends it as in the room.
            return _subject(core, account, occupancy, stanza)
        return fork(occupancy, stanza)
    if kind == "error":
        return _message_error(core, account, occupancy, stanza, sender)
    if kind == "chat" and sender.resource is not None:
        if stanza.find(NO_COPY) is None:
            # A private message (§7.5) reaches every session here, once each: tell the
            # host's carbons (XEP-0280, XEP-0334) not to copy it again.
            stanza = stanza.replace(children=(*stanza.children, Element(NO_COPY)))
        room = str(occupancy.room)
        facts = scan_message(stanza, room)
        if facts[0]:
            key = key_of(stanza, facts[2])
            return _historic(core, account, occupancy, stanza, facts, room, key, private=True)
    return fork(occupancy, stanza)


def _message_error(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, sender: JID
) -> list[Action]:
    """A message refused by the room.

    ``not-acceptable`` from the room itself means the room does not count the account
    as an occupant (Prosody: "You are not currently connected to this chat"): the
    sender learns of it, and the account joins again.
    """
    actions = error_to_sender(occupancy, stanza)
    condition, _ = error_condition(stanza)
    if condition == "not-acceptable" and sender.resource is None and occupancy.state is _S.JOINED:
        actions += rejoin_now(core, account, occupancy)
    return actions


def _unattended(
    account: Account, occupancy: Occupancy, stanza: Stanza, *, mentions: bool
) -> Action:
    return Unattended(account=account.jid, room=occupancy.room, stanza=stanza, mentions=mentions)


def _mentions(stanza: Stanza, nick: str | None) -> bool:
    body = stanza.find("body")
    return nick is not None and body is not None and nick.casefold() in (body.text or "").casefold()


def _subject(core: Core, account: Account, occupancy: Occupancy, stanza: Stanza) -> list[Action]:
    view = occupancy.view
    previous = view.subject
    view.subject = core.share_stanza(stanza.replace(to=None))  # the same for every account
    if occupancy.resync is not None:
        shown: list[Action]
        if previous is not None and same_payload(previous.children, stanza.children):
            shown = known(occupancy, stanza)
        else:
            shown = fork(occupancy, stanza)
        if occupancy.state is _S.REJOIN_SENT:
            # Before the rejoin's self-presence: an earlier sequence's, or a change. The
            # rejoin's own comes after its self-presence (§7.1), and it names who is in.
            return shown
        # The subject ends the room's join sequence (§7.2.15): the resync is over. The
        # sessions that joined meanwhile get their answer after the others' subject.
        return shown + resync_over(core, account.jid, occupancy.room)
    return fork(occupancy, stanza) + asked_again(core, account, occupancy)


def _historic(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    facts: MessageFacts,
    room_text: str,
    key: str,
    *,
    private: bool,
) -> list[Action]:
    """A message worth keeping: once in the history, once in the archive, once pushed.

    A private message (§7.5) goes into the history only while no device is there to get
    it: the next device to come gets it then. One that devices got live is for the
    account's archive, where the devices that were away find it, as with any chat.
    ``facts`` is what :func:`scan_message` found: the payload is not walked again;
    ``room_text`` the room's bare JID as text, ``key`` the message's :func:`key_of`.
    """
    _, _, _, delay, size, foreign_ids = facts
    room = occupancy.room
    view = occupancy.view
    config = core.config
    if private and occupancy.audience():
        memory = account.remember(room, config.max_rooms_per_account)
        number = memory.note(key, config.max_remembered_messages)
        if number is None:
            return [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
        archived: list[Action] = [_archive(account, stanza, foreign_ids)] if config.archive else []
        count_message(core, account, occupancy, occupancy.audience(), number)
        return archived + fork(occupancy, stanza)
    if occupancy.state is _S.JOINING and not private and config.archive:
        # The room's history brings a groupchat message again, never a private one, and
        # the archive keeps it should the join ask for no history.
        return _early(core, account, occupancy, stanza, facts[5], key)
    passed = view.passed
    memory = account.remember(room, config.max_rooms_per_account)
    if passed is None:
        passed = view.passed = RecentKeys()
    elif key in passed or (memory.legacy and adopt_version_2(passed, key)):
        # Sent again (a retransmission, a rejoin's history): the sessions have it.
        reason = DiscardReason.RESYNC if occupancy.resync is not None else DiscardReason.DUPLICATE
        return [Discard(stanza=stanza, reason=reason)]
    passed.add(key, None, config.max_remembered_messages)
    history = view.history
    if history is None:
        history = view.history = History()
    if memory.legacy and key not in memory.seen:
        memory.outlive(passed.oldest())
    number = memory.note(key, config.max_remembered_messages)
    # Every local account in the room keeps the same messages: one payload for all of them
    # (a private message is for this account alone, and so is every message of a room no
    # other local account is in).
    if private or not core.table.shared(room_text):
        kept = stanza
    else:
        kept = core.share_message(room_text, key, stanza, size)
    seq = memory.seen.get(key, memory.last) if number is None else number
    sent_at = history.add(kept, room_text, core.now, config, key, seq, delay, size, private)
    if view.last_message_at is None or sent_at > view.last_message_at:
        view.last_message_at = sent_at
    actions: list[Action] = []
    if number is not None and config.archive:
        actions.append(_archive(account, stanza, foreign_ids))
    if (
        delay is None
        and not occupancy.attached
        and not occupancy.pending  # joined during a resync: its answer brings it
        and occupancy.state is _S.JOINED
    ):
        if number is not None:
            mentions = private or _mentions(stanza, view.nick)
            actions.append(_unattended(account, occupancy, stanza, mentions=mentions))
        return actions or [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
    if number is not None:
        if occupancy.state is not _S.JOINED:
            count_message(core, account, occupancy, occupancy.audience(), number)
        elif delay is None and not occupancy.attached:
            # Waiting sessions' answer brings it (answer_held); unannounced meanwhile.
            mentions = private or _mentions(stanza, view.nick)
            withheld = (*occupancy.withheld, (number, mentions))
            occupancy.withheld = withheld[-config.max_history_messages :]
        return actions + fork(occupancy, stanza)  # new: nobody has it yet
    return _fork_unseen(core, account, occupancy, stanza, seq)


def _early(
    core: Core,
    account: Account,
    occupancy: Occupancy,
    stanza: Stanza,
    foreign_ids: bool,
    key: str,
) -> list[Action]:
    """A room message before the room answered the account's join: archived, not forked.

    A room sends its messages after the self-presence and the history (XEP-0045 §7.2.2,
    §7.2.15); this one comes from an occupancy the room still counts (a leave it never
    got) or overtook the answer. Forked now, it would reach the waiting sessions before
    older messages of the history. It is numbered and archived, and the waiting sessions
    count it as before their time: the room's history, which follows the self-presence,
    brings it to them in order and into the occupancy's history; a join that asks for no
    history finds it in the account's archive. Without an archive it is forked as it
    comes: out of order is better than lost.
    """
    config = core.config
    memory = account.remember(occupancy.room, config.max_rooms_per_account)
    number = memory.note(key, config.max_remembered_messages)
    if number is None:
        return [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
    for attachment in occupancy.pending.values():
        attachment.since = number
    return [_archive(account, stanza, foreign_ids)]


def _fork_unseen(
    core: Core, account: Account, occupancy: Occupancy, stanza: Stanza, seq: int
) -> list[Action]:
    """A message the account had already (a join's history, a repeat): to who lacks it.

    A session has every message that came after it did (``since``), and, for a device
    that left and came back, what it had then (its place). What it has is not shown to it
    twice; a place a device carries counts what reaches it.
    """
    audience = occupancy.audience()
    unseen = [
        s
        for s, a in audience.items()
        if seq <= a.since and (a.position is None or not has(a.position, seq))
    ]
    count_message(core, account, occupancy, unseen, seq)
    if len(unseen) == len(audience):
        return fork(occupancy, stanza)
    if not unseen:
        return [Discard(stanza=stanza, reason=DiscardReason.DUPLICATE)]
    return [Deliver(session=s, stanza=stanza.with_to(s)) for s in unseen]


def _archive(account: Account, stanza: Stanza, foreign_ids: bool) -> Action:
    """``stanza`` for the account's archive (``foreign_ids``: stanza-ids not by the room)."""
    jid = account.jid
    if foreign_ids:
        stanza = _for_archive(stanza, jid)
    return _new(Archive, (jid, stanza))  # once per room message: the tuple, built directly


def _for_archive(stanza: Stanza, account: JID) -> Stanza:
    """XEP-0359 §5: a stanza-id claiming to be the archive's own is a spoof; drop it.

    ``by`` names the archive however it is written: JIDs compare case-insensitively in
    their local and domain parts (RFC 7622), and so do the clients that read the claim.
    """
    spoof = [c for c in stanza.children if c.tag == STANZA_ID and names(c.get("by"), account)]
    if not spoof:
        return stanza
    return stanza.replace(children=tuple(c for c in stanza.children if c not in spoof))
