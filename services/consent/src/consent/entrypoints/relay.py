"""`python -m consent.entrypoints.relay`: the outbox relay as its own process (one replica)."""

from __future__ import annotations

import asyncio
import signal

from consent.bootstrap import bootstrap
from shared.logging import configure_logging


async def _main() -> None:
    service = bootstrap()
    configure_logging(service="consent-relay", level=service.settings.log_level)
    runtime = service.runtime
    await runtime.start(run_relay=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(_main())
