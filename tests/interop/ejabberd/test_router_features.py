"""``tests/interop/test_router_features.py`` against ejabberd: every scenario runs unchanged."""

from __future__ import annotations

from ..test_router_features import (
    test_keepalive_self_ping_through_the_hosts_timers,
    test_late_joiner_gets_the_history_a_direct_joiner_gets,
    test_private_message_from_bob_reaches_both_sessions,
    test_session_iqs_to_the_room_are_answered_to_each_session,
)

__all__ = [
    "test_keepalive_self_ping_through_the_hosts_timers",
    "test_late_joiner_gets_the_history_a_direct_joiner_gets",
    "test_private_message_from_bob_reaches_both_sessions",
    "test_session_iqs_to_the_room_are_answered_to_each_session",
]
