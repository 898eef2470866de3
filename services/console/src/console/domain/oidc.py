"""Signing in through the identity provider: the OpenID Connect authorization-code flow with PKCE
(RFC 6749 § 4.1, RFC 7636), as far as it is pure.

The browser carries one login attempt between the console and the provider: the `state` that ties the
provider's answer to this browser, the PKCE verifier whose hash went out as the challenge, where to go
once signed in, and when it started. The attempt travels in a cookie sealed with an HMAC, so the
console keeps no session store and a forged or stale attempt is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

#: Seconds a person has to sign in at the provider before the attempt is refused.
ATTEMPT_TTL_SECONDS = 600


class LoginAttemptError(Exception):
    """The provider's answer does not belong to a login this browser started (forged, altered, stale)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One sign-in started at the console and finished at the provider's callback."""

    state: str
    verifier: str
    next_path: str
    started_at: int

    @classmethod
    def start(cls, next_path: str, *, now: int) -> LoginAttempt:
        """Starts an attempt with a fresh state and a fresh PKCE verifier (43+ characters, RFC 7636 § 4.1)."""
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path, now)

    def challenge(self) -> str:
        """Returns the S256 code challenge of the verifier (RFC 7636 § 4.2)."""
        return _b64(hashlib.sha256(self.verifier.encode("ascii")).digest())

    def seal(self, key: bytes) -> str:
        """Returns the attempt as a cookie value: its JSON, then an HMAC-SHA256 of it under `key`."""
        body = _b64(json.dumps([self.state, self.verifier, self.next_path, self.started_at]).encode())
        return f"{body}.{hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}"

    @classmethod
    def open(cls, sealed: str | None, key: bytes, *, state: str | None, now: int) -> LoginAttempt:
        """Returns the attempt a cookie holds, or raises LoginAttemptError when it is missing, altered,
        older than ATTEMPT_TTL_SECONDS or for another `state`."""
        if not sealed or "." not in sealed:
            raise LoginAttemptError("no sign-in was started in this browser (or it was too long ago)")
        body, mac = sealed.rsplit(".", 1)
        if not hmac.compare_digest(hmac.new(key, body.encode(), hashlib.sha256).hexdigest(), mac):
            raise LoginAttemptError("the sign-in attempt was altered")
        try:
            attempt_state, verifier, next_path, started_at = json.loads(_unb64(body))
            attempt = cls(str(attempt_state), str(verifier), str(next_path), int(started_at))
        except (ValueError, TypeError) as exc:
            raise LoginAttemptError("the sign-in attempt is unreadable") from exc
        if not state or not hmac.compare_digest(attempt.state, state):
            raise LoginAttemptError("the identity provider answered for another sign-in (state mismatch)")
        if not 0 <= now - attempt.started_at <= ATTEMPT_TTL_SECONDS:
            raise LoginAttemptError("the sign-in took too long; start again")
        return attempt


def authorization_url(
    endpoint: str, *, client_id: str, redirect_uri: str, scope: str, attempt: LoginAttempt
) -> str:
    """Returns where the browser goes to sign in: the provider's authorization endpoint with the
    code-flow parameters, the attempt's state and its S256 challenge."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": attempt.state,
            "code_challenge": attempt.challenge(),
            "code_challenge_method": "S256",
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
