"""`python -m consent.entrypoints.relay`: the outbox relay as its own process (one replica)."""

import asyncio

from consent.bootstrap import bootstrap
from shared.runtime import run_relay_until_signalled

if __name__ == "__main__":
    asyncio.run(run_relay_until_signalled(bootstrap().runtime, process_name="consent-relay"))
