"""An in-memory stand-in for the four services' APIs, for the console's handler and page tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from console.adapters.apis import AbstractApis, ApiError, Download
from console.domain.views import Problem


class FakeApis(AbstractApis):
    """Answers GETs from `responses` by (service, path) and records every call with the token used."""

    def __init__(self) -> None:
        self.responses: dict[tuple[str, str], Any] = {}
        self.calls: list[tuple[str, str, str, str, Any]] = []  # method, token, service, path, body|params
        self.check_lines: list[dict[str, Any]] = []
        self.check_error: ApiError | None = None

    def answer(self, service: str, path: str, value: Any) -> None:
        self.responses[(service, path)] = value

    def _reply(self, service: str, path: str) -> Any:
        value = self.responses.get((service, path))
        if value is None:
            raise ApiError(Problem(404, "Not found", service=service))
        if isinstance(value, Problem):
            raise ApiError(value)
        return value

    async def get(self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.calls.append(("GET", token, service, path, dict(params or {})))
        return self._reply(service, path)

    async def post(self, token: str, service: str, path: str, body: Any) -> Any:
        self.calls.append(("POST", token, service, path, body))
        return self._reply(service, path)

    async def check_stream(
        self, token: str, campaign_id: str, ids: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(("CHECK", token, "campaign-gate", campaign_id, list(ids)))
        for line in self.check_lines:
            yield line
        if self.check_error is not None:
            raise self.check_error

    async def download(
        self, token: str, service: str, path: str, params: Mapping[str, Any] | None = None
    ) -> Download:
        self.calls.append(("DOWNLOAD", token, service, path, dict(params or {})))
        body = self._reply(service, path)

        async def chunks() -> AsyncGenerator[bytes, None]:
            yield body if isinstance(body, bytes) else str(body).encode()

        return Download("application/x-ndjson", None, chunks())

    async def aclose(self) -> None:
        self.closed = True
