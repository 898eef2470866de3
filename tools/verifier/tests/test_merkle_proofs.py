"""Inclusion and consistency proofs: generation, RFC 9162 verification, and mutations that must fail.

The mutations follow transparency-dev/merkle proof/verify_test.go: flipped bits, wrong roots,
truncated and extended paths, and indices or sizes off by one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from vigie_verify.errors import ProofError, TreeRangeError
from vigie_verify.merkle import (
    EMPTY_ROOT,
    InMemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 64
LEAF_HASHES = [leaf_hash(f"leaf {i}".encode()) for i in range(MAX_SIZE)]
STORE = InMemoryNodeStore()
STORE.append(LEAF_HASHES)
ROOTS = [root_from_leaf_hashes(LEAF_HASHES[:n]) for n in range(MAX_SIZE + 1)]

CT_LEAF_HASHES = [
    leaf_hash(bytes.fromhex(h))
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
CT_STORE = InMemoryNodeStore()
CT_STORE.append(CT_LEAF_HASHES)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (0-based leaf index, tree size, audit path) from transparency-dev/merkle testonly (1-based there).
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (first, second, consistency path) from transparency-dev/merkle testonly.
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def flip(value: bytes, bit: int) -> bytes:
    mutated = bytearray(value)
    mutated[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutated)


def corrupted(proof: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """Yields (description, proof) for every mutation of a valid proof that must be rejected."""
    for position in range(len(proof)):
        for bit in (0, 7, 255):
            mutated = list(proof)
            mutated[position] = flip(proof[position], bit)
            yield f"bit {bit} of element {position} flipped", mutated
    if proof:
        yield "last element dropped", proof[:-1]
        yield "first element dropped", proof[1:]
    for extra in (EMPTY_ROOT, bytes(32), *(proof[:1])):
        yield "element appended", [*proof, extra]
        yield "element prepended", [extra, *proof]


def test_every_inclusion_proof_for_sizes_1_to_64_verifies() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, STORE.get_node)
            verify_inclusion(
                leaf_hash=LEAF_HASHES[index], index=index, tree_size=size, proof=proof, root=ROOTS[size]
            )


def test_every_consistency_proof_for_sizes_up_to_64_verifies() -> None:
    for second in range(0, MAX_SIZE + 1):
        for first in range(0, second + 1):
            proof = consistency_proof(first, second, STORE.get_node)
            verify_consistency(
                first=first, second=second, first_root=ROOTS[first], second_root=ROOTS[second], proof=proof
            )


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_equal_the_published_ct_audit_paths(
    index: int, size: int, path: list[bytes]
) -> None:
    assert inclusion_proof(index, size, CT_STORE.get_node) == path
    verify_inclusion(
        leaf_hash=CT_LEAF_HASHES[index],
        index=index,
        tree_size=size,
        proof=path,
        root=root_hash(size, CT_STORE.get_node),
    )


@pytest.mark.parametrize(("first", "second", "path"), CT_CONSISTENCY)
def test_consistency_proofs_equal_the_published_ct_proofs(first: int, second: int, path: list[bytes]) -> None:
    assert consistency_proof(first, second, CT_STORE.get_node) == path
    verify_consistency(
        first=first,
        second=second,
        first_root=root_hash(first, CT_STORE.get_node),
        second_root=root_hash(second, CT_STORE.get_node),
        proof=path,
    )


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def recursive_inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """Returns the root a path implies, following the PATH recursion of RFC 9162 2.1.3.1, or None."""
    if size == 1:
        return leaf if not path and index == 0 else None
    if not path:
        return None
    k = split(size)
    if index < k:
        below = recursive_inclusion_root(index, k, leaf, path[:-1])
        return None if below is None else node_hash(below, path[-1])
    below = recursive_inclusion_root(index - k, size - k, leaf, path[:-1])
    return None if below is None else node_hash(path[-1], below)


def recursive_consistency_roots(
    m: int, n: int, path: list[bytes], whole: bool, first_root: bytes
) -> tuple[bytes, bytes] | None:
    """Returns the (old, new) roots a proof implies, following SUBPROOF of RFC 9162 2.1.4.1, or None."""
    if m == n:
        if whole:
            return (first_root, first_root) if not path else None
        return (path[0], path[0]) if len(path) == 1 else None
    if not path:
        return None
    k = split(n)
    if m <= k:
        below = recursive_consistency_roots(m, k, path[:-1], whole, first_root)
        return None if below is None else (below[0], node_hash(below[1], path[-1]))
    below = recursive_consistency_roots(m - k, n - k, path[:-1], False, first_root)
    return None if below is None else (node_hash(path[-1], below[0]), node_hash(path[-1], below[1]))


def inclusion_oracle_accepts(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: list[bytes], root: bytes
) -> bool:
    if not 0 <= index < tree_size:
        return False
    return recursive_inclusion_root(index, tree_size, leaf_hash, proof) == root


def consistency_oracle_accepts(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    if not 0 < first < second:
        return False
    return recursive_consistency_roots(first, second, proof, True, first_root) == (first_root, second_root)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 16, 31, 64])
def test_mutated_inclusion_proofs_are_rejected(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(index, size, STORE.get_node)
        good = {"leaf_hash": LEAF_HASHES[index], "index": index, "tree_size": size, "root": ROOTS[size]}
        assert inclusion_oracle_accepts(**good, proof=proof)
        for description, mutated in corrupted(proof):
            assert not inclusion_oracle_accepts(**good, proof=mutated), description
            with pytest.raises(ProofError):
                verify_inclusion(**good, proof=mutated)
                pytest.fail(f"accepted with {description}")
        for change in (
            {"root": flip(ROOTS[size], 3)},
            {"root": ROOTS[size - 1]},
            {"leaf_hash": flip(LEAF_HASHES[index], 100)},
            {"index": index + 1},
            {"index": index - 1},
            {"index": size},
            {"tree_size": size * 2},
            {"tree_size": size // 2},
        ):
            with pytest.raises(ProofError):
                verify_inclusion(**{**good, **change}, proof=proof)
                pytest.fail(f"accepted with {change}")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 16, 31, 64])
def test_inclusion_proofs_with_tree_size_off_by_one_are_rejected_unless_rfc_9162_reads_them_alike(
    size: int,
) -> None:
    # Because a path for size n can also be a well-formed path for n +/- 1 whose sibling happens to
    # be the same node (leaf 0 of 3 leaves and of 4 leaves both take 2 hashes), RFC 9162 itself
    # accepts those; the independent recursive reading of PATH decides which ones.
    rejected = 0
    for index in range(size):
        proof = inclusion_proof(index, size, STORE.get_node)
        for tree_size in (size - 1, size + 1):
            arguments = {
                "leaf_hash": LEAF_HASHES[index],
                "index": index,
                "tree_size": tree_size,
                "root": ROOTS[size],
            }
            if inclusion_oracle_accepts(**arguments, proof=proof):
                verify_inclusion(**arguments, proof=proof)
                continue
            rejected += 1
            with pytest.raises(ProofError):
                verify_inclusion(**arguments, proof=proof)
    assert rejected > 0


@pytest.mark.parametrize("second", [2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64])
def test_mutated_consistency_proofs_are_rejected(second: int) -> None:
    for first in range(1, second):
        proof = consistency_proof(first, second, STORE.get_node)
        good = {"first": first, "second": second, "first_root": ROOTS[first], "second_root": ROOTS[second]}
        assert consistency_oracle_accepts(**good, proof=proof)
        for description, mutated in corrupted(proof):
            assert not consistency_oracle_accepts(**good, proof=mutated), description
            with pytest.raises(ProofError):
                verify_consistency(**good, proof=mutated)
                pytest.fail(f"accepted with {description}")
        for change in (
            {"first_root": flip(ROOTS[first], 9)},
            {"second_root": flip(ROOTS[second], 9)},
            {"first_root": ROOTS[second], "second_root": ROOTS[first]},
            {"first": second, "second": first},
            {"first": 0},
        ):
            with pytest.raises(ProofError):
                verify_consistency(**{**good, **change}, proof=proof)
                pytest.fail(f"accepted with {change}")


@pytest.mark.parametrize("second", [2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64])
def test_consistency_proofs_with_a_size_off_by_one_are_rejected_unless_rfc_9162_reads_them_alike(
    second: int,
) -> None:
    rejected = 0
    for first in range(1, second):
        proof = consistency_proof(first, second, STORE.get_node)
        for m, n in ((first - 1, second), (first + 1, second), (first, second - 1), (first, second + 1)):
            arguments = {"first": m, "second": n, "first_root": ROOTS[first], "second_root": ROOTS[second]}
            if m >= 0 and consistency_oracle_accepts(**arguments, proof=proof):
                verify_consistency(**arguments, proof=proof)
                continue
            rejected += 1
            with pytest.raises(ProofError):
                verify_consistency(**arguments, proof=proof)
    assert rejected > 0


def test_inclusion_proof_with_index_at_or_beyond_size_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(leaf_hash=LEAF_HASHES[0], index=4, tree_size=4, proof=[], root=ROOTS[4])
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(leaf_hash=EMPTY_ROOT, index=0, tree_size=0, proof=[], root=EMPTY_ROOT)


def test_inclusion_proof_of_the_wrong_length_names_the_expected_length() -> None:
    proof = inclusion_proof(3, 10, STORE.get_node)
    with pytest.raises(ProofError, match=f"has {len(proof) + 1} hashes, expected {len(proof)}"):
        verify_inclusion(
            leaf_hash=LEAF_HASHES[3], index=3, tree_size=10, proof=[*proof, EMPTY_ROOT], root=ROOTS[10]
        )


def test_consistency_between_equal_sizes_needs_an_empty_proof_and_equal_roots() -> None:
    verify_consistency(first=5, second=5, first_root=ROOTS[5], second_root=ROOTS[5], proof=[])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(first=5, second=5, first_root=ROOTS[5], second_root=ROOTS[5], proof=[ROOTS[5]])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(first=5, second=5, first_root=ROOTS[5], second_root=ROOTS[6], proof=[])


def test_consistency_from_the_empty_tree_needs_an_empty_proof_and_the_empty_root() -> None:
    verify_consistency(first=0, second=9, first_root=EMPTY_ROOT, second_root=ROOTS[9], proof=[])
    with pytest.raises(ProofError):
        verify_consistency(first=0, second=9, first_root=EMPTY_ROOT, second_root=ROOTS[9], proof=[ROOTS[9]])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(first=0, second=9, first_root=ROOTS[1], second_root=ROOTS[9], proof=[])


def test_consistency_with_first_larger_than_second_is_rejected() -> None:
    with pytest.raises(ProofError, match="larger than second"):
        verify_consistency(first=9, second=8, first_root=ROOTS[9], second_root=ROOTS[8], proof=[])


def test_consistency_with_an_empty_proof_between_different_sizes_is_rejected() -> None:
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(first=4, second=8, first_root=ROOTS[4], second_root=ROOTS[8], proof=[])


def test_proof_elements_that_are_not_32_bytes_are_rejected() -> None:
    proof = inclusion_proof(0, 4, STORE.get_node)
    with pytest.raises(ProofError, match="element 1"):
        verify_inclusion(
            leaf_hash=LEAF_HASHES[0], index=0, tree_size=4, proof=[proof[0], proof[1][:31]], root=ROOTS[4]
        )


def test_proofs_are_refused_for_indices_and_sizes_outside_the_tree() -> None:
    with pytest.raises(TreeRangeError):
        inclusion_proof(5, 5, STORE.get_node)
    with pytest.raises(TreeRangeError):
        consistency_proof(6, 5, STORE.get_node)


def test_proofs_for_a_large_tree_read_only_a_logarithmic_number_of_nodes() -> None:
    store = InMemoryNodeStore()
    store.append([leaf_hash(i.to_bytes(4, "big")) for i in range(5000)])
    reads: list[tuple[int, int]] = []

    def counting_get_node(level: int, index: int) -> bytes:
        reads.append((level, index))
        return store.get_node(level, index)

    for index in (0, 1, 2047, 2048, 4095, 4999):
        reads.clear()
        proof = inclusion_proof(index, 4999 + 1, counting_get_node)
        assert len(reads) <= 2 * 13
        verify_inclusion(
            leaf_hash=store.get_node(0, index),
            index=index,
            tree_size=5000,
            proof=proof,
            root=root_hash(5000, store.get_node),
        )
    reads.clear()
    consistency_proof(1234, 4999, counting_get_node)
    assert len(reads) <= 2 * 13
