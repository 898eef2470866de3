"""The identity provider's token endpoint: trades an authorization code for the person's access token."""

from __future__ import annotations

from typing import Any

import httpx


class TokenExchangeError(Exception):
    """The provider refused the code or did not answer; the message says why, never with a token."""


class OidcTokenClient:
    """Posts the authorization-code grant with its PKCE verifier (RFC 6749 § 4.1.3, RFC 7636 § 4.5)."""

    def __init__(
        self,
        token_endpoint: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoint = token_endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._transport = transport

    async def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> str:
        """Returns the access token the provider issues for `code`, or raises TokenExchangeError."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self._client_id,
            "code_verifier": verifier,
        }
        # A confidential client authenticates with HTTP Basic (RFC 6749 § 2.3.1); a public one by PKCE alone.
        auth = httpx.BasicAuth(self._client_id, self._client_secret) if self._client_secret else None
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, auth=auth
            ) as client:
                response = await client.post(self._endpoint, data=form)
        except httpx.HTTPError as exc:
            raise TokenExchangeError(f"the identity provider did not answer ({type(exc).__name__})") from None
        body: Any = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenExchangeError(
                f"the identity provider refused the sign-in ({response.status_code}"
                f"{', ' + str(error) if error else ''})"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenExchangeError("the identity provider's answer holds no access token")
        return token


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
