"""``tests/interop/test_join_errors.py`` against ejabberd: every scenario runs unchanged."""

from __future__ import annotations

from ..test_join_errors import (
    test_banned_403_forbidden,
    test_members_only_room_407_registration_required,
    test_nick_taken_409_conflict,
    test_password_protected_room_401_not_authorized,
)

__all__ = [
    "test_banned_403_forbidden",
    "test_members_only_room_407_registration_required",
    "test_nick_taken_409_conflict",
    "test_password_protected_room_401_not_authorized",
]
