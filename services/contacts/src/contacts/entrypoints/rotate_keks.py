"""`python -m contacts.entrypoints.rotate_keks`: re-wrap every data key under the active key-encryption key.

Run it after putting the new KEK first in `CONTACTS_KEKS` (keeping the old one listed); when it
reports nothing left to re-wrap, remove the old KEK.
"""

import asyncio

from contacts.adapters.key_rotation import rewrap_data_keys
from contacts.bootstrap import bootstrap


async def _main() -> None:
    service = bootstrap()
    try:
        report = await rewrap_data_keys(service.runtime.engine, service.vault.key_ring)
    finally:
        await service.runtime.engine.dispose()
    print(f"re-wrapped {report.rewrapped} data keys; {report.already_current} were already current")


if __name__ == "__main__":
    asyncio.run(_main())
