"""The complete-subtree nodes an append creates, whatever the batching."""

from __future__ import annotations

import random
import time

import pytest
from vigie_verify.errors import MissingNodeError
from vigie_verify.merkle import (
    InMemoryNodeStore,
    complete_nodes_for_append,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_hash,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


def one_by_one(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    store: dict[tuple[int, int], bytes] = {}
    for size, value in enumerate(hashes):
        created = complete_nodes_for_append(
            start_size=size, new_leaf_hashes=[value], get_node=lambda level, index: store[(level, index)]
        )
        for level, index, node in created:
            assert (level, index) not in store
            store[(level, index)] = node
    return store


@pytest.mark.parametrize("seed", range(20))
def test_random_batch_splits_create_the_same_nodes_as_single_appends(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.randrange(1, 300)
    hashes = leaves(total)
    expected = one_by_one(hashes)
    store = InMemoryNodeStore()
    while store.size < total:
        batch = hashes[store.size : store.size + rng.randrange(1, 40)]
        before = len(store)
        created = store.append(batch)
        assert len(store) == before + len(created)
        assert root_hash(store.size, store.get_node) == root_from_leaf_hashes(hashes[: store.size])
    assert {(level, index): store.get_node(level, index) for level, index in expected} == expected
    assert len(store) == len(expected)


def test_every_stored_node_is_the_hash_of_its_two_children() -> None:
    store = InMemoryNodeStore()
    store.append(leaves(100))
    for level in range(1, 7):
        for index in range(100 >> level):
            assert store.get_node(level, index) == node_hash(
                store.get_node(level - 1, 2 * index), store.get_node(level - 1, 2 * index + 1)
            )
    with pytest.raises(MissingNodeError):
        store.get_node(2, 25)


def test_an_append_reads_at_most_one_pre_existing_node_per_level() -> None:
    store = InMemoryNodeStore()
    store.append(leaves(12345))
    reads: list[tuple[int, int]] = []

    def get_node(level: int, index: int) -> bytes:
        reads.append((level, index))
        return store.get_node(level, index)

    complete_nodes_for_append(start_size=12345, new_leaf_hashes=leaves(20000)[:777], get_node=get_node)
    assert len(reads) == len({level for level, _ in reads})
    assert len(reads) <= (12345 + 777).bit_length()


def test_appending_twenty_thousand_leaves_adds_little_beyond_the_hashing() -> None:
    store = InMemoryNodeStore()
    store.append(leaves(1001))
    batch = leaves(20000)
    started = time.perf_counter()
    created = complete_nodes_for_append(start_size=1001, new_leaf_hashes=batch, get_node=store.get_node)
    elapsed = time.perf_counter() - started
    # About 40,000 nodes, of which about 20,000 need one SHA-256 each; generous for slow CI machines.
    assert len(created) == 20000 + sum((21001 >> level) - (1001 >> level) for level in range(1, 16))
    assert elapsed < 0.5


def test_full_rebuild_hashes_at_least_300000_leaves_per_second() -> None:
    hashes = leaves(300_000)
    started = time.perf_counter()
    root_from_leaf_hashes(hashes)
    # Generous bound (the goal is well under one second) so that shared CI runners do not flake.
    assert time.perf_counter() - started < 3.0
