"""Periodic work a service runs beside its API (watchers, sweepers, the checkpointer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

#: A named loop to run for the life of the app: (task name, a function that starts the loop), or None to skip.
Loop = tuple[str, Callable[[], Coroutine[Any, Any, None]]] | None


@contextlib.asynccontextmanager
async def running_loops(*loops: Loop) -> AsyncIterator[None]:
    """Runs each given loop as a task while the block runs; cancels and awaits them when it ends."""
    tasks = [asyncio.create_task(start(), name=name) for name, start in filter(None, loops)]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
