"""Roots of the RFC 9162 tree against pymerkle, a naive MTH and the CT reference vectors."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree
from vigie_verify.merkle import (
    EMPTY_ROOT,
    InMemoryNodeStore,
    RootAccumulator,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_hash,
)

# The eight leaves and prefix roots of google/certificate-transparency merkle_tree_test.cc, as reused
# by transparency-dev/merkle testonly: literals independent of the code under test.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def naive_mth(leaves: list[bytes]) -> bytes:
    """Returns MTH(D[n]) by the recursive definition of RFC 9162 section 2.1.1."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def sample_leaves(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def stored_tree(leaves: list[bytes]) -> InMemoryNodeStore:
    store = InMemoryNodeStore()
    store.append([leaf_hash(d) for d in leaves])
    return store


def test_hash_prefixes_are_the_rfc_9162_domain_separators() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_pymerkle_uses_the_rfc_9162_prefixes_so_it_is_a_valid_oracle() -> None:
    tree = InmemoryTree(algorithm="sha256")
    assert tree.leaf_prefix == b"\x00"
    assert tree.node_prefix == b"\x01"
    assert tree.hash_empty() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(0, 65))
def test_roots_for_sizes_0_to_64_equal_pymerkle_and_the_naive_definition(size: int) -> None:
    data = sample_leaves(size)
    oracle = InmemoryTree(algorithm="sha256")
    for item in data:
        oracle.append_entry(item)
    expected = oracle.get_root(size)
    assert expected == naive_mth(data)
    hashes = [leaf_hash(d) for d in data]
    assert root_from_leaf_hashes(hashes) == expected
    assert root_hash(size, stored_tree(data).get_node) == expected
    accumulator = RootAccumulator()
    accumulator.extend(hashes)
    assert accumulator.root() == expected


def test_prefix_roots_of_a_stored_tree_match_the_naive_definition_for_every_size() -> None:
    data = sample_leaves(64)
    store = stored_tree(data)
    for size in range(0, 65):
        assert root_hash(size, store.get_node) == naive_mth(data[:size])


@pytest.mark.parametrize("size", range(0, 9))
def test_roots_of_the_certificate_transparency_test_leaves_are_the_published_ones(size: int) -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES[:size]]
    assert root_from_leaf_hashes(hashes) == CT_ROOTS[size]
    assert root_hash(size, stored_tree(CT_LEAVES).get_node) == CT_ROOTS[size]


def test_the_well_known_root_of_the_eight_leaf_tree_is_reproduced() -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES]
    assert root_from_leaf_hashes(hashes).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def test_accumulator_gives_the_same_root_whatever_the_batch_sizes() -> None:
    hashes = [leaf_hash(d) for d in sample_leaves(300)]
    for batch in (1, 2, 3, 7, 64, 100, 300):
        accumulator = RootAccumulator()
        for start in range(0, len(hashes), batch):
            accumulator.extend(hashes[start : start + batch])
            assert accumulator.root() == root_from_leaf_hashes(hashes[: start + batch])
        assert accumulator.size == 300


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 9, 31, 100])
def test_ranges_hashed_apart_and_folded_in_order_give_the_root(size: int) -> None:
    import random

    from vigie_verify.merkle import compact_range

    leaves = [leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
    chooser = random.Random(size)
    for _ in range(20):
        cuts = sorted({0, size, *chooser.sample(range(size + 1), min(size + 1, chooser.randint(0, 6)))})
        accumulator = RootAccumulator()
        for low, high in zip(cuts, cuts[1:], strict=False):
            subtrees = compact_range(low, leaves[low:high])
            # The fewest aligned subtrees: at most two per level.
            assert len(subtrees) <= 2 * max(1, (high - low).bit_length())
            for level, subtree in subtrees:
                accumulator.append_subtree(level, subtree)
        assert accumulator.size == size
        assert accumulator.root() == root_from_leaf_hashes(leaves)


def test_a_subtree_that_does_not_start_on_its_own_boundary_is_refused() -> None:
    from vigie_verify.errors import TreeRangeError

    accumulator = RootAccumulator()
    accumulator.append_subtree(0, leaf_hash(b"a"))
    with pytest.raises(TreeRangeError):
        accumulator.append_subtree(1, node_hash(leaf_hash(b"b"), leaf_hash(b"c")))
