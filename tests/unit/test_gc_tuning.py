"""The server exempts its start-up heap from garbage collection, and only that."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from helpline.gc_tuning import YOUNG_THRESHOLD, freeze_long_lived


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_objects_alive_at_start_up_are_frozen_and_later_garbage_is_still_collected() -> None:
    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    long_lived = Node()
    freeze_long_lived()
    assert gc.get_freeze_count() > 0
    assert not gc.is_finalized(long_lived)
    assert all(obj is not long_lived for obj in gc.get_objects())  # no longer walked
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD

    # A reference cycle made after start-up is garbage the collector still finds.
    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
