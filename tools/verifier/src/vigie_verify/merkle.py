"""RFC 9162 (Certificate Transparency v2) Merkle tree over SHA-256.

Storage model: a log stores only the hashes of *complete* subtrees, addressed ``(level, index)``.
Level 0 index ``i`` is leaf ``i``; level ``L`` index ``i`` covers leaves ``[i * 2**L, (i + 1) * 2**L)``.
Such a node never changes once its last leaf exists, so the table is insert-only. Every root and
proof for any tree size is then a handful of lookups: a non-perfect subtree hash is the right fold
of the perfect subtrees that tile it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from vigie_verify.errors import MissingNodeError, ProofError, TreeRangeError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "GetNode",
    "InMemoryNodeStore",
    "RootAccumulator",
    "compact_range",
    "complete_nodes_for_append",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

GetNode = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """Returns the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Returns the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Returns the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hashes(hashes: Iterable[bytes], *, what: str) -> None:
    """Raises TreeRangeError unless every hash is a 32-byte bytes object."""
    for position, value in enumerate(hashes):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise TreeRangeError(f"{what}[{position}] is not a {HASH_SIZE}-byte hash")


# --- Building: the nodes an append creates ------------------------------------------------------


def _append_levels(
    *, start_size: int, new_leaf_hashes: Sequence[bytes], get_node: GetNode
) -> list[list[bytes]]:
    """Returns, per level, the hashes of the complete nodes created by an append, leftmost first.

    Level ``L`` of the result holds nodes ``[start_size >> L, end_size >> L)``.
    """
    if start_size < 0:
        raise TreeRangeError(f"start_size {start_size} is negative")
    _check_hashes(new_leaf_hashes, what="new_leaf_hashes")
    end_size = start_size + len(new_leaf_hashes)
    levels: list[list[bytes]] = [list(new_leaf_hashes)]
    sha = _sha256
    prefix = _NODE_PREFIX
    level = 0
    while (start_size >> (level + 1)) < (end_size >> (level + 1)):
        children = levels[level]
        first_child = start_size >> level
        # Because an odd first new node pairs with a left sibling completed before this append;
        # that is the only pre-existing node a level ever needs, hence O(log n) lookups in all.
        if first_child & 1:
            children = [get_node(level, first_child - 1), *children]
        # zip drops a trailing unpaired child: its parent is not complete yet.
        levels.append(
            [sha(prefix + a + b).digest() for a, b in zip(children[0::2], children[1::2], strict=False)]
        )
        level += 1
    return levels


def complete_nodes_for_append(
    *, start_size: int, new_leaf_hashes: list[bytes], get_node: GetNode
) -> list[tuple[int, int, bytes]]:
    """Returns every complete-subtree node ``(level, index, hash)`` created by appending the leaves.

    Level-0 entries are the new leaves themselves. ``get_node`` is called at most once per level,
    only for nodes that existed before the append.
    """
    levels = _append_levels(start_size=start_size, new_leaf_hashes=new_leaf_hashes, get_node=get_node)
    nodes: list[tuple[int, int, bytes]] = []
    for level, hashes in enumerate(levels):
        first = start_size >> level
        nodes.extend(zip([level] * len(hashes), range(first, first + len(hashes)), hashes, strict=True))
    return nodes


# --- Reading: roots and proofs from stored complete subtrees ------------------------------------


def _range_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """Returns MTH of leaves [start, end) for a range aligned as in the RFC 9162 recursion."""
    perfect: list[bytes] = []
    position = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        perfect.append(get_node(level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    result = perfect.pop()
    while perfect:
        result = node_hash(perfect.pop(), result)
    return result


def root_hash(size: int, get_node: GetNode) -> bytes:
    """Returns the root hash of the tree of the first ``size`` leaves."""
    if size < 0:
        raise TreeRangeError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, get_node)


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """Returns the RFC 9162 audit path of leaf ``index`` in the tree of ``size`` leaves, leaf first."""
    if not 0 <= index < size:
        raise TreeRangeError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append(_range_hash(start + k, end, get_node))
            end = start + k
        else:
            siblings.append(_range_hash(start, start + k, get_node))
            start += k
    siblings.reverse()
    return siblings


def consistency_proof(first: int, second: int, get_node: GetNode) -> list[bytes]:
    """Returns the RFC 9162 consistency proof from tree size ``first`` to ``second``."""
    if not 0 <= first <= second:
        raise TreeRangeError(f"cannot prove consistency from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    # Iterative SUBPROOF(m, D[start:end], b) of RFC 9162 section 2.1.4.1.
    siblings: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            siblings.append(_range_hash(start + k, end, get_node))
            end = start + k
        else:
            siblings.append(_range_hash(start, start + k, get_node))
            start += k
            m -= k
            whole = False
    if not whole:
        # Because the verifier already holds the old root only when the old tree is this very node.
        siblings.append(_range_hash(start, end, get_node))
    siblings.reverse()
    return siblings


# --- Full re-verification ------------------------------------------------------------------------


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Returns the root hash of the tree whose leaves have the given hashes."""
    _check_hashes(leaf_hashes, what="leaf_hashes")
    if not leaf_hashes:
        return EMPTY_ROOT
    sha = _sha256
    prefix = _NODE_PREFIX
    level = list(leaf_hashes)
    # Because folding level by level, promoting a lone last node unchanged, builds exactly the
    # RFC 9162 tree (split at the largest power of two), and a comprehension per level keeps
    # the interpreter overhead far below the cost of the SHA-256 calls.
    while len(level) > 1:
        carry = level[-1] if len(level) & 1 else None
        level = [sha(prefix + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if carry is not None:
            level.append(carry)
    return level[0]


def compact_range(start: int, leaf_hashes: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """Returns the maximal complete subtrees over leaves ``[start, start + len(leaf_hashes))`` as
    ``(level, hash)``, left to right: the fewest aligned subtrees that cover the range exactly.

    A verifier that hashes a range of leaves apart (in another process) hands these to
    `RootAccumulator.append_subtree` in order; together they are the range's whole contribution
    to every root that covers it.
    """
    if start < 0:
        raise TreeRangeError(f"start {start} is negative")
    sha = _sha256
    prefix = _NODE_PREFIX
    left: list[tuple[int, bytes]] = []
    right: list[tuple[int, bytes]] = []
    level_hashes = list(leaf_hashes)
    low, high, level = start, start + len(level_hashes), 0
    while low < high:
        # Because a node whose sibling lies outside the range is the root of a maximal subtree:
        # odd on the left edge, even (a left child) on the right edge.
        if low & 1:
            left.append((level, level_hashes[0]))
            level_hashes = level_hashes[1:]
            low += 1
        if high & 1 and low < high:
            right.append((level, level_hashes[-1]))
            level_hashes = level_hashes[:-1]
            high -= 1
        level_hashes = [
            sha(prefix + a + b).digest() for a, b in zip(level_hashes[0::2], level_hashes[1::2], strict=True)
        ]
        low, high, level = low >> 1, high >> 1, level + 1
    return left + right[::-1]


class RootAccumulator:
    """Folds leaf hashes appended in order into the current root, keeping O(log n) hashes.

    It keeps the compact range of the tree: the root of each maximal perfect subtree.
    """

    def __init__(self) -> None:
        self.size = 0
        # Level -> hash of node (level, (size >> level) - 1), present exactly when bit `level` of size is set.
        self._peaks: dict[int, bytes] = {}

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Appends the leaf hashes, in order."""
        if not leaf_hashes:
            return
        start = self.size
        peaks = self._peaks

        def get_peak(level: int, index: int) -> bytes:
            return peaks[level]

        levels = _append_levels(start_size=start, new_leaf_hashes=leaf_hashes, get_node=get_peak)
        end = start + len(leaf_hashes)
        new_peaks: dict[int, bytes] = {}
        for level in range(end.bit_length()):
            if (end >> level) & 1:
                created = levels[level] if level < len(levels) else []
                new_peaks[level] = created[-1] if created else peaks[level]
        self._peaks = new_peaks
        self.size = end

    def append_subtree(self, level: int, subtree_hash: bytes) -> None:
        """Appends the 2**level leaves whose complete subtree has the given hash (the size so far
        must be a multiple of 2**level, as it is for `compact_range`'s subtrees taken in order)."""
        if level < 0 or self.size & ((1 << level) - 1):
            raise TreeRangeError(f"a level-{level} subtree cannot follow {self.size} leaves")
        peaks = self._peaks
        self.size += 1 << level
        carry = subtree_hash
        # Because adding 2**level carries like binary addition: each peak met merges into one higher.
        while level in peaks:
            carry = node_hash(peaks.pop(level), carry)
            level += 1
        peaks[level] = carry

    def root(self) -> bytes:
        """Returns the root hash of the leaves appended so far."""
        if self.size == 0:
            return EMPTY_ROOT
        levels = sorted(self._peaks)
        result = self._peaks[levels[0]]
        for level in levels[1:]:
            result = node_hash(self._peaks[level], result)
        return result


class InMemoryNodeStore:
    """Holds complete-subtree hashes in a dict; a reference node store for tests and tools."""

    def __init__(self) -> None:
        self.size = 0
        self._nodes: dict[tuple[int, int], bytes] = {}

    def get_node(self, level: int, index: int) -> bytes:
        """Returns the hash of complete subtree (level, index) or raises MissingNodeError."""
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise MissingNodeError(f"no complete subtree at level {level}, index {index}") from None

    def put(self, level: int, index: int, value: bytes) -> None:
        """Stores the hash of complete subtree (level, index)."""
        self._nodes[(level, index)] = value

    def append(self, leaf_hashes: list[bytes]) -> list[tuple[int, int, bytes]]:
        """Appends leaves, stores every node this completes, and returns those nodes."""
        nodes = complete_nodes_for_append(
            start_size=self.size, new_leaf_hashes=leaf_hashes, get_node=self.get_node
        )
        for level, index, value in nodes:
            self._nodes[(level, index)] = value
        self.size += len(leaf_hashes)
        return nodes

    def __len__(self) -> int:
        return len(self._nodes)


# --- Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ---------------------------------------


def _check_proof_hashes(proof: Sequence[bytes], **named: bytes) -> None:
    """Raises ProofError unless every proof element and named hash is 32 bytes long."""
    for name, value in named.items():
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte hash")
    for position, value in enumerate(proof):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError(f"proof element {position} is not a {HASH_SIZE}-byte hash")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """Returns (inner, border): the audit-path lengths below and on the tree's right border."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def verify_inclusion(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Checks that leaf ``index`` with hash ``leaf_hash`` is in the tree of ``tree_size`` with ``root``.

    Raises ProofError, saying why, unless the proof is exactly the RFC 9162 audit path.
    """
    if index < 0 or tree_size < 0:
        raise ProofError(f"negative index {index} or tree size {tree_size}")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is not below tree size {tree_size}")
    _check_proof_hashes(proof, leaf_hash=leaf_hash, root=root)
    inner, border = _inclusion_shape(index, tree_size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of size {tree_size} has {len(proof)} hashes, "
            f"expected {inner + border}"
        )
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} leads to root {r.hex()}, not the expected {root.hex()} "
            f"(tree size {tree_size})"
        )


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Checks that the tree of size ``first`` with ``first_root`` is a prefix of the tree of ``second``.

    Raises ProofError, saying why, unless the proof is exactly the RFC 9162 consistency proof.
    An empty first tree must carry the empty root; equal sizes need an empty proof and equal roots.
    """
    if first < 0 or second < 0:
        raise ProofError(f"negative tree size {first} or {second}")
    if first > second:
        raise ProofError(f"first size {first} is larger than second size {second}")
    _check_proof_hashes(proof, first_root=first_root, second_root=second_root)
    if first == second:
        if proof:
            raise ProofError(f"consistency proof between equal sizes {first} must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}")
        return
    if first == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if first_root != EMPTY_ROOT:
            raise ProofError("first root is not the root of the empty tree")
        return
    if not proof:
        raise ProofError(f"consistency proof from size {first} to {second} is empty")

    inner, border = _inclusion_shape(first - 1, second)
    shift = (first & -first).bit_length() - 1
    inner -= shift
    first_is_perfect = first == 1 << shift
    expected = inner + border + (0 if first_is_perfect else 1)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from size {first} to {second} has {len(proof)} hashes, expected {expected}"
        )

    path = [first_root, *proof] if first_is_perfect else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != first_root:
        raise ProofError(f"consistency proof does not reproduce the root of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not reproduce the root of size {second}")
