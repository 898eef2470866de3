"""A subject's pseudonym and current data key, read from the log store for a proof bundle."""

from __future__ import annotations

import sqlalchemy as sa

from audit_log.adapters import orm
from audit_log.adapters.repository import AbstractLogRepository, SqlLogRepository


async def subject_data_key(log: AbstractLogRepository, subject_id: str) -> tuple[str, bytes | None]:
    """Returns the pseudonym the log files a subject under and its live data key (None when it has
    none: never seen, or shredded by an erasure with nothing sealed since), in the log's transaction."""
    if not isinstance(log, SqlLogRepository):
        raise TypeError("subject keys are read from the SQL log store")
    pseudonym = log.keys.pseudonym(subject_id)
    k = orm.subject_keys.c
    wrapped = (await log.conn.execute(sa.select(k.wrapped_key).where(k.subject == pseudonym))).scalar()
    return pseudonym, None if wrapped is None else log.keys.key_ring.unwrap(bytes(wrapped))
