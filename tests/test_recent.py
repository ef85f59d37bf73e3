"""The memory of message keys forgets the oldest first, as an ordered dict would."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st

from minimix_core._recent import RecentKeys

# ("add", key) adds a key not held (a held one is skipped, as the callers never add one);
# ("move", n) renames the n-th key held, oldest first, to a fresh name, in its place.
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30).map(str)),
        st.tuples(st.just("move"), st.integers(0, 10)),
    ),
    max_size=120,
)


@given(_OPS, st.integers(1, 8))
def test_it_keeps_and_forgets_as_an_ordered_dict_does(
    ops: list[tuple[str, object]], bound: int
) -> None:
    """Same keys, values and order as an ``OrderedDict`` evicted with ``popitem(last=False)``
    whose renamed keys keep their places; the oldest is its first key; the order list
    holds at most twice the keys."""
    keys: RecentKeys[int] = RecentKeys()
    model: OrderedDict[str, int] = OrderedDict()
    for step, (op, arg) in enumerate(ops):
        if op == "add":
            key = str(arg)
            if key in model:
                continue
            keys.add(key, step, bound)
            model[key] = step
            if len(model) > bound:
                model.popitem(last=False)
        elif model:
            old = list(model)[int(str(arg)) % len(model)]
            new = f"moved{step}"
            keys.move(old, new)
            model = OrderedDict((new if k == old else k, v) for k, v in model.items())
        assert list(keys.items()) == list(model.items())
        assert keys.oldest() == next(iter(model), None)
        assert keys.order[keys.head :] == list(model)
        assert len(keys.order) <= 2 * len(model) + 1


def test_a_moved_key_keeps_its_place_and_goes_when_its_turn_comes() -> None:
    """A key renamed (a version 2 hash adopted) is as old as before: it goes first, not
    the keys that came after it."""
    keys: RecentKeys[int] = RecentKeys([("a", 1), ("b", 2), ("c", 3)])
    keys.move("a", "a2")
    assert keys.order == ["a2", "b", "c"]
    assert list(keys.items()) == [("a2", 1), ("b", 2), ("c", 3)]
    assert keys.oldest() == "a2"
    keys.add("d", 4, 3)  # "a2" goes, the oldest
    assert list(keys.items()) == [("b", 2), ("c", 3), ("d", 4)]
    assert keys.oldest() == "b"


def test_an_empty_memory_has_no_oldest_key() -> None:
    keys: RecentKeys[None] = RecentKeys()
    assert keys.oldest() is None
    keys.add("a", None, 1)
    keys.move("a", "b")
    assert keys.oldest() == "b"
    keys.add("c", None, 1)  # "b" goes
    assert keys.oldest() == "c"
    assert RecentKeys([("x", None)]).order == ["x"]
