"""The B1s baseline: a bare endpoint that reads an NDJSON stream of contact ids, stores them with one
asyncpg COPY in one transaction, and streams one line per id back (no rule, no projection read)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

#: Lines written per yielded chunk of the response (the gate's check streams in batches too).
BATCH = 5000


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BARE_DATABASE_URL"], min_size=2, max_size=4)
    async with app.state.pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bare_receipts (check_id uuid NOT NULL, contact_id text NOT NULL, "
            "decision text NOT NULL, PRIMARY KEY (check_id, contact_id))"
        )
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/bare/checks")
async def check(request: Request) -> StreamingResponse:
    """Stores every id of the NDJSON body with COPY, then streams them back, one JSON line each."""
    body = await request.body()
    ids = [orjson.loads(line) for line in body.split(b"\n") if line.strip()]
    check_id = uuid.uuid4()
    async with app.state.pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "bare_receipts",
            records=((check_id, cid, "allow") for cid in ids),
            columns=("check_id", "contact_id", "decision"),
        )

    async def lines() -> AsyncIterator[bytes]:
        for start in range(0, len(ids), BATCH):
            yield b"".join(orjson.dumps({"contact_id": cid}) + b"\n" for cid in ids[start : start + BATCH])
        yield orjson.dumps({"check_id": str(check_id), "recipients": len(ids)}) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
