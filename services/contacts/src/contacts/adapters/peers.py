"""HTTP clients of consent, campaign-gate and audit-log, used to honour data-subject requests.

Design choice, events or internal HTTP:
- Reads (the access/portability export) go over internal HTTP. An export is a question asked now
  by one caller, whose answer holds personal data; answering it through Kafka would put that data
  on a topic (SPEC §2 forbids it) and need a request/reply correlation for no gain. Each service
  already serves the per-contact views (consent: `GET /v1/contacts/{id}/consents`; campaign-gate:
  `GET /v1/contacts/{id}/receipts`; audit-log: `GET /v1/entries?subject=`), so contacts calls them
  with a short-lived service token.
- Commands that change another service's state go through that service's public API too (an
  objection: `POST /v1/objections` on consent), so consent stays the only writer of its register
  and records the objection with its own event.
- Erasure goes through events: contacts' `contact_erased` is already what consent, the gate and the
  audit log act on, and each answers with an event of its own on its topic (consent:
  `consent_data_erased`, the gate: `contact_forgotten`), so the confirmations are themselves audit-log
  entries. The audit log publishes nothing; its confirmation is the `contact_erased` entry its
  consumer wrote (in the transaction that destroyed the subject key), read over HTTP.
Service tokens are short-lived, minted by `shared.auth.service_token` from the contacts settings (the
deployment's Ed25519 keys when configured, else the local secret) with only the roles each call needs
(`integrator` for consent, `auditor` for the audit log and the gate's receipts).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import httpx
from shared.auth import service_token

from contacts import contracts

CONSENT, CAMPAIGN_GATE, AUDIT_LOG = "consent", "campaign-gate", "audit-log"
#: The most audit entries one export gathers (pages of the audit log's maximum, 1000).
MAX_AUDIT_ENTRIES = 10_000


class PeerUnavailableError(Exception):
    """A peer service did not answer, or answered with an error; the step can be retried."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} is unavailable: {detail}")
        self.service = service


class AbstractPeers(abc.ABC):
    """The port the rights desk asks consent, campaign-gate and audit-log through.

    Every method raises PeerUnavailableError (or lets a transport error through) when the peer does
    not answer; the caller leaves the request step for a retry.
    """

    @abc.abstractmethod
    async def consent_data(self, contact_id: str) -> dict[str, Any]:
        """Returns consent's consents (with proofs), notice deliveries and objections of a contact."""

    @abc.abstractmethod
    async def record_objection(self, *, contact_id: str, blind_indexes: list[str]) -> dict[str, Any]:
        """Records an objection to all direct marketing in consent, by contact id and blind indexes."""

    @abc.abstractmethod
    async def record_objection_by_indexes(self, blind_indexes: list[str]) -> dict[str, Any]:
        """Records an objection for a person holding no contact, by blind indexes only."""

    @abc.abstractmethod
    async def audit_entries(self, subject: str, *, event_type: str | None = None) -> list[dict[str, Any]]:
        """Returns the audit-log entries filed under a subject (oldest first)."""

    async def audit_log_erased(self, contact_id: str) -> bool:
        """Tells whether the audit log integrated the contact's erasure (and so destroyed its subject key)."""
        return bool(await self.audit_entries(contact_id, event_type=contracts.CONTACT_ERASED))

    @abc.abstractmethod
    async def gate_data(self, contact_id: str) -> dict[str, Any]:
        """Returns what the gate serves about a contact."""


class Peers(AbstractPeers):
    """Calls the other Vigie services with service tokens; transports are injectable for in-process tests."""

    def __init__(
        self,
        *,
        urls: Mapping[str, str],
        settings: Any,
        timeout_seconds: float = 10.0,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._urls = dict(urls)
        self._settings = settings
        self._timeout = timeout_seconds
        self._transports = dict(transports or {})

    def _token(self, *roles: str) -> str:
        return service_token(self._settings, roles=roles, client="contacts")

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        roles: tuple[str, ...],
        ok: tuple[int, ...] = (200, 201),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token(*roles)}"}
        try:
            async with httpx.AsyncClient(
                base_url=self._urls[service], transport=self._transports.get(service), timeout=self._timeout
            ) as client:
                response = await client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(service, type(exc).__name__) from exc
        if response.status_code not in ok:
            # The body is a problem document of the peer; it names fields, never personal data.
            raise PeerUnavailableError(
                service, f"{method} {path.split('?')[0]} answered {response.status_code}"
            )
        return response

    async def consent_data(self, contact_id: str) -> dict[str, Any]:
        """Returns consent's consents (with proofs),
        notice deliveries and objections of a contact (empty lists if none)."""
        response = await self._call(
            CONSENT, "GET", f"/v1/contacts/{contact_id}/consents", roles=("integrator",), ok=(200, 404)
        )
        if response.status_code == 404:
            return {"contact_id": contact_id, "consents": [], "deliveries": [], "objections": []}
        return response.json()

    async def record_objection(self, *, contact_id: str, blind_indexes: list[str]) -> dict[str, Any]:
        """Records an objection to all direct marketing in consent, by contact id and blind indexes."""
        response = await self._call(
            CONSENT,
            "POST",
            "/v1/objections",
            roles=("integrator",),
            json={"scope": "all_direct_marketing", "contact_id": contact_id, "blind_indexes": blind_indexes},
        )
        return response.json()

    async def record_objection_by_indexes(self, blind_indexes: list[str]) -> dict[str, Any]:
        """Records an objection for a person holding no contact,
        by blind indexes only (matches a later import)."""
        response = await self._call(
            CONSENT,
            "POST",
            "/v1/objections",
            roles=("integrator",),
            json={"scope": "all_direct_marketing", "blind_indexes": blind_indexes},
        )
        return response.json()

    async def audit_entries(self, subject: str, *, event_type: str | None = None) -> list[dict[str, Any]]:
        """Returns the audit-log entries filed under a subject (oldest first), all pages."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"subject": subject, "limit": 1000}
        if event_type is not None:
            params["type"] = event_type
        while len(items) < MAX_AUDIT_ENTRIES:
            response = await self._call(AUDIT_LOG, "GET", "/v1/entries", roles=("auditor",), params=params)
            page = response.json()
            items.extend(page["items"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return items

    async def gate_data(self, contact_id: str) -> dict[str, Any]:
        """Returns what the gate decided about a contact: its receipts, newest check first.

        Each names its check and chunk; `GET /v1/checks/{check_id}/receipts/{contact_id}` on the gate
        proves one into the chunk root the audit log holds.
        """
        response = await self._call(
            CAMPAIGN_GATE, "GET", f"/v1/contacts/{contact_id}/receipts", roles=("auditor",)
        )
        return {"contact_id": contact_id, "available": True, "decisions": response.json()["receipts"]}
