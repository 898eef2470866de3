"""The stored nodes an append reads are named without a dummy pass over the Merkle computation: the
left siblings `append_frontier` names are exactly the nodes `complete_nodes_for_append` asks for."""

from __future__ import annotations

import random

from audit_log.adapters.repository import append_frontier
from vigie_verify import merkle


def _asked(start: int, count: int) -> list[tuple[int, int]]:
    asked: list[tuple[int, int]] = []

    def get(level: int, index: int) -> bytes:
        asked.append((level, index))
        return b"\x00" * 32

    merkle.complete_nodes_for_append(start_size=start, new_leaf_hashes=[b"\x01" * 32] * count, get_node=get)
    return asked


def test_the_frontier_is_what_the_append_reads_for_every_small_start_and_count() -> None:
    for start in range(0, 70):
        for count in range(1, 70):
            assert append_frontier(start, count) == _asked(start, count), (start, count)


def test_the_frontier_is_what_the_append_reads_for_large_logs() -> None:
    rng = random.Random(15)
    for _ in range(300):
        start, count = rng.randrange(0, 1 << 40), rng.randrange(1, 6000)
        assert append_frontier(start, count) == _asked(start, count), (start, count)
