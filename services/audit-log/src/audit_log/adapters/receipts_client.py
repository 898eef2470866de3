"""campaign-gate's receipts of one person, with their proofs, read over HTTP for a proof bundle.

The gate serves what it decided about a person (`GET /v1/contacts/{id}/receipts`) and each receipt with
its inclusion proof into its chunk root (`GET /v1/checks/{check_id}/receipts/{contact_id}`). The audit
log asks both with a short-lived service token holding only the `auditor` role, minted per call by
`shared.auth.service_token` from its own settings, as contacts does for its peer calls: no service
reads another's tables.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from shared.auth import service_token

#: How many receipt proofs are asked of the gate at once.
CONCURRENCY = 8


class GateUnavailableError(Exception):
    """campaign-gate did not answer, or answered with an error the bundle cannot go on without."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"campaign-gate: {detail}")
        self.status = status


class AbstractGateReceipts(abc.ABC):
    """The port a proof bundle reads a person's receipts through."""

    @abc.abstractmethod
    async def receipts_of(self, contact_id: str) -> list[dict[str, Any]]:
        """Returns every receipt naming the contact, newest check first (`chunk` null before chunks)."""

    @abc.abstractmethod
    async def receipt_proof(self, check_id: str, contact_id: str) -> dict[str, Any]:
        """Returns one receipt with its canonical bytes, chunk and inclusion proof into the chunk root."""

    async def proven_receipts(
        self, contact_id: str, *, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Returns (receipt proofs, receipts without a chunk) of a contact, at most `limit` receipts."""
        listed = await self.receipts_of(contact_id)
        return await _prove_all(
            listed, limit=limit, prove=lambda check_id: self.receipt_proof(check_id, contact_id)
        )


async def _prove_all(
    listed: list[dict[str, Any]],
    *,
    limit: int,
    prove: Callable[[str], Awaitable[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns the proofs of the listed receipts that have a chunk (CONCURRENCY at a time, in order)
    and the receipts without one; GateUnavailableError (413) past `limit` receipts."""
    if len(listed) > limit:
        raise GateUnavailableError(f"the person has more than {limit} receipts", status=413)
    with_chunk = [r for r in listed if r.get("chunk") is not None]
    without = [r for r in listed if r.get("chunk") is None]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def _one(receipt: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            return await prove(str(receipt["check_id"]))

    proofs = await asyncio.gather(*(_one(r) for r in with_chunk))
    return list(proofs), without


class HttpGateReceipts(AbstractGateReceipts):
    """Calls campaign-gate with a service token (`auditor`); the transport is injectable for tests."""

    def __init__(
        self,
        *,
        base_url: str,
        settings: Any,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._settings = settings
        self._timeout = timeout_seconds
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self._base_url, transport=self._transport, timeout=self._timeout)

    async def _get(self, path: str, client: httpx.AsyncClient | None = None) -> Any:
        token = service_token(self._settings, roles=("auditor",), client="audit-log")
        try:
            if client is None:
                async with self._client() as own:
                    response = await own.get(path, headers={"Authorization": f"Bearer {token}"})
            else:
                response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise GateUnavailableError(f"GET {path.split('?')[0]} failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            # The gate's problem documents name checks and fields, never personal data.
            raise GateUnavailableError(
                f"GET {path} answered {response.status_code}", status=response.status_code
            )
        return response.json()

    async def receipts_of(self, contact_id: str) -> list[dict[str, Any]]:
        return await self._receipts_of(contact_id, None)

    async def receipt_proof(self, check_id: str, contact_id: str) -> dict[str, Any]:
        return await self._receipt_proof(check_id, contact_id, None)

    async def _receipts_of(self, contact_id: str, client: httpx.AsyncClient | None) -> list[dict[str, Any]]:
        body = await self._get(f"/v1/contacts/{quote(contact_id, safe='')}/receipts", client)
        return list(body["receipts"])

    async def _receipt_proof(
        self, check_id: str, contact_id: str, client: httpx.AsyncClient | None
    ) -> dict[str, Any]:
        path = f"/v1/checks/{quote(check_id, safe='')}/receipts/{quote(contact_id, safe='')}"
        return dict(await self._get(path, client))

    async def proven_receipts(
        self, contact_id: str, *, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Because a person checked in many campaigns means many proofs: one client keeps the connections.
        async with self._client() as client:
            listed = await self._receipts_of(contact_id, client)
            return await _prove_all(
                listed, limit=limit, prove=lambda check_id: self._receipt_proof(check_id, contact_id, client)
            )
