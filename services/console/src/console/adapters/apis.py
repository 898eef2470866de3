"""The four services' HTTP APIs, called with the signed-in person's own bearer token.

The console holds no credential of its own: every call carries the token the person signed in with,
so each API enforces its roles (and campaign-gate its four-eyes rule) exactly as for any caller.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from console.domain.views import Problem

NDJSON = "application/x-ndjson"


class ApiError(Exception):
    """An API answered 4xx/5xx (its problem document read), or could not be reached (503)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.service}: {problem.status} {problem.title}")
        self.problem = problem


@dataclass
class Download:
    """A response streamed through the console (receipts, a proof bundle)."""

    media_type: str
    disposition: str | None
    chunks: AsyncGenerator[bytes, None]

    async def close(self) -> None:
        """Stops reading (the connection is released)."""
        await self.chunks.aclose()


class AbstractApis(abc.ABC):
    """What the console asks of the services; every method takes the person's token first."""

    @abc.abstractmethod
    async def get(self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GETs a JSON (or text) resource; raises ApiError on a problem."""

    @abc.abstractmethod
    async def post(self, token: str, service: str, path: str, body: Any) -> Any:
        """POSTs JSON; raises ApiError on a problem."""

    @abc.abstractmethod
    def check_stream(self, token: str, campaign_id: str, ids: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        """Streams a check (NDJSON in and out): one receipt per line, the header last."""

    @abc.abstractmethod
    async def download(
        self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None
    ) -> Download:
        """Opens a streamed download; raises ApiError before streaming when the API refuses."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Closes the connections."""


SERVICES = ("contacts", "consent", "campaign-gate", "audit-log")


class HttpApis(AbstractApis):
    """The APIs over HTTP, one connection pool per service."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        timeout: float,
        long_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport)
            for name, url in urls.items()
        }
        self._long = httpx.Timeout(long_timeout, connect=10.0)

    async def aclose(self) -> None:
        """Closes every connection pool."""
        for client in self._clients.values():
            await client.aclose()

    async def _send(self, service: str, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = await self._clients[service].send(request, stream=stream)
        except httpx.TransportError as exc:
            raise ApiError(
                Problem(
                    503,
                    "Service unreachable",
                    f"{service} did not answer ({type(exc).__name__})",
                    service=service,
                )
            ) from None
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise ApiError(Problem.of(response.status_code, _json(response), service=service))
        return response

    def _request(
        self, token: str, service: str, method: str, path: str, *, long: bool = False, **kwargs: Any
    ) -> httpx.Request:
        client = self._clients[service]
        if long:
            kwargs["timeout"] = self._long
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return client.build_request(method, path, headers=headers, **kwargs)

    async def get(self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        long = path == "/v1/verify"  # Because verifying a whole log takes as long as the log is big.
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self._send(
            service, self._request(token, service, "GET", path, params=clean, long=long)
        )
        return _json(response) if "json" in response.headers.get("content-type", "") else response.text

    async def post(self, token: str, service: str, path: str, body: Any) -> Any:
        response = await self._send(service, self._request(token, service, "POST", path, json=body))
        return _json(response)

    async def check_stream(
        self, token: str, campaign_id: str, ids: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        body = "".join(json.dumps(cid) + "\n" for cid in ids).encode()
        request = self._request(
            token,
            "campaign-gate",
            "POST",
            f"/v1/campaigns/{campaign_id}/checks",
            content=body,
            headers={"Content-Type": NDJSON},
            long=True,
        )
        response = await self._send("campaign-gate", request, stream=True)
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            await response.aclose()

    async def download(
        self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None
    ) -> Download:
        request = self._request(token, service, "GET", path, params=dict(params or {}), long=True)
        response = await self._send(service, request, stream=True)

        async def chunks() -> AsyncGenerator[bytes, None]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()

        return Download(
            response.headers.get("content-type", "application/octet-stream"),
            response.headers.get("content-disposition"),
            chunks(),
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
