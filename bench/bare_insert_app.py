"""The B6 baseline: a bare FastAPI endpoint that validates a small body and does one asyncpg INSERT."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel


class Body(BaseModel):
    """The same shape of body the contacts endpoint takes (the fields are stored as JSON)."""

    kind: str
    email: str
    source: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BARE_DATABASE_URL"], min_size=10, max_size=10)
    async with app.state.pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS bare (id uuid PRIMARY KEY, body jsonb NOT NULL)")
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/bare", status_code=201)
async def insert(body: Body) -> dict[str, str]:
    """Inserts one row and returns its id."""
    row_id = uuid.uuid4()
    async with app.state.pool.acquire() as conn:
        await conn.execute("INSERT INTO bare (id, body) VALUES ($1, $2)", row_id, body.model_dump_json())
    return {"id": str(row_id)}
