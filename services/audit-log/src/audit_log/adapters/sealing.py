"""Batch-wide sealing of appended entries: each event sealed under its subject's key, the entry's
canonical bytes and its leaf hash, for a whole group commit at once, spread over the cores.

The single writer assigns the indices and the keys; this module only computes, so that any process
can run a slice of a batch and the writer receives the results in order.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from json.encoder import encode_basestring_ascii as _string
from multiprocessing import get_context

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from shared.envelope_crypto import KEY_BYTES

#: (index, event id, type, source, subject pseudonym, actor, event time as ISO text, raw event, data key)
ToSeal = tuple[int, str, str, str, str, str, str, bytes, bytes]
#: (sealed event, canonical bytes, leaf hash)
Sealed = tuple[bytes, bytes, bytes]

#: Below this many entries a batch is sealed in the writer's process (a round trip to a worker costs more).
PARALLEL_FROM = 1024
#: Entries the writer seals between two hand-overs to the COPY that streams them to the database.
STREAM_SLICE = 256
_pool: ProcessPoolExecutor | None = None


#: The version byte of `shared.envelope_crypto`'s sealed values (`decrypt_value` opens what this seals).
VALUE_V1 = b"\x21"
_NONCE = 12


@functools.lru_cache(maxsize=8192)
def _aead(dek: bytes) -> AESGCM:
    # Because building the cipher object costs as much as sealing a short event; subjects recur.
    return AESGCM(dek)


def seal_slice(items: Sequence[ToSeal], integrated_at: str) -> list[Sealed]:
    """Seals each event under its data key (bound to its event id), and returns the sealed event,
    the entry's canonical bytes and its RFC 9162 leaf hash, in order.

    The sealed value is `shared.envelope_crypto.encrypt_value`'s format (version byte, 12-byte random
    nonce, AES-GCM ciphertext and tag, the version and the event id as associated data), with the
    slice's nonces drawn from the system's random source in one call. The canonical bytes are
    `audit_log.domain.model.canonical_entry_text`'s, joined from bytes here (the same keys in the same
    order; tests compare both with the reference encoding), each recurring string escaped once.
    """
    sha256, b64, version, escape = hashlib.sha256, binascii.b2a_base64, VALUE_V1, _string
    nonces = os.urandom(_NONCE * len(items))
    escaped: dict[str, bytes] = {}
    integrated = escape(integrated_at).encode()
    out: list[Sealed] = []
    for position, (index, event_id, event_type, source, subject, actor, event_time, raw, dek) in enumerate(
        items
    ):
        if len(dek) != KEY_BYTES or not event_id:
            raise ValueError("a data key is 32 bytes and an event id is not empty")
        nonce = nonces[position * _NONCE : (position + 1) * _NONCE]
        sealed = version + nonce + _aead(dek).encrypt(nonce, raw, version + event_id.encode())
        quoted_type = escaped.get(event_type)
        if quoted_type is None:
            quoted_type = escaped[event_type] = escape(event_type).encode()
        quoted_source = escaped.get(source)
        if quoted_source is None:
            quoted_source = escaped[source] = escape(source).encode()
        quoted_actor = escaped.get(actor)
        if quoted_actor is None:
            quoted_actor = escaped[actor] = escape(actor).encode()
        canonical = b"".join(
            (
                b'{"actor":',
                quoted_actor,
                b',"event_id":',
                escape(event_id).encode(),
                b',"event_time":',
                escape(event_time).encode(),
                b',"event_type":',
                quoted_type,
                b',"index":',
                b"%d" % index,
                b',"integrated_at":',
                integrated,
                b',"sealed_event":"',
                b64(sealed, newline=False),
                b'","source":',
                quoted_source,
                b',"subject":',
                escape(subject).encode(),
                b"}",
            )
        )
        out.append((sealed, canonical, sha256(b"\x00" + canonical).digest()))
    return out


_workers = 0


def configure(workers: int) -> None:
    """Sets how many worker processes seal beside the writer (0: the writer seals alone)."""
    global _workers
    _workers = max(0, workers)


def sealing_pool() -> Executor | None:
    """Returns this process's sealing workers, started on first use; None when none are configured.

    Measured on a 2-core machine with PostgreSQL on the same cores, a worker did not pay (the
    writer alone sealed 8,800 entries/s, with one worker 7,600/s): PostgreSQL needs the other core.
    Where the database runs elsewhere, one worker per spare core does.
    """
    global _pool
    if _workers < 1:
        return None
    if _pool is None:
        # Because forking a process that runs an event loop and driver threads is unsafe: spawn.
        _pool = ProcessPoolExecutor(max_workers=_workers, mp_context=get_context("spawn"))
    return _pool


async def seal_stream(
    slices: Iterable[list[ToSeal]], integrated_at: str, *, total: int, executor: Executor | None
) -> AsyncIterator[tuple[list[ToSeal], list[Sealed]]]:
    """Yields a batch's slices in order, each with its sealed entries, so that the writer can stream
    each slice to the database while it prepares and seals the next (the database ingests on its own
    core meanwhile). `slices` is consumed lazily, one slice ahead of what is yielded.

    With workers and at least PARALLEL_FROM entries in all (`total`), the batch is gathered first and
    its later part sealed on the workers while the writer seals the first.
    """
    workers = getattr(executor, "_max_workers", 0) if executor is not None else 0
    if not workers or total < PARALLEL_FROM:
        for items in slices:
            yield items, seal_slice(items, integrated_at)
        return
    everything = [item for items in slices for item in items]
    loop = asyncio.get_running_loop()
    own = -(-len(everything) // (workers + 1))
    remote = [
        (
            everything[start : start + own],
            loop.run_in_executor(executor, seal_slice, everything[start : start + own], integrated_at),
        )
        for start in range(own, len(everything), own)
    ]
    try:
        for start in range(0, own, STREAM_SLICE):
            items = everything[start : min(start + STREAM_SLICE, own)]
            yield items, seal_slice(items, integrated_at)
        for items, future in remote:
            yield items, await future
    finally:
        for _, future in remote:
            future.cancel()


def in_slices(items: Sequence[ToSeal]) -> Iterator[list[ToSeal]]:
    """Returns the items in slices of STREAM_SLICE."""
    return (list(items[start : start + STREAM_SLICE]) for start in range(0, len(items), STREAM_SLICE))


async def seal_batch(items: list[ToSeal], integrated_at: str, *, executor: Executor | None) -> list[Sealed]:
    """Seals a batch: in slices on the workers and in this process at once when it is large enough."""
    results: list[Sealed] = []
    async for _, sealed in seal_stream(in_slices(items), integrated_at, total=len(items), executor=executor):
        results += sealed
    return results
