"""Signing in through the identity provider: the OIDC authorization-code flow with PKCE, against a fake
provider's token endpoint (an httpx mock transport), through the console's real pages."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from console.adapters.oidc import OidcTokenClient
from console.bootstrap import Console
from console.domain import oidc
from console.main import create_app
from console.service_layer.checks import CheckJobs
from console.settings import ConsoleSettings
from console_fakes import FakeApis
from fastapi.testclient import TestClient
from shared.auth import build_token_verifier, issue_local_token

SETTINGS = ConsoleSettings(
    VIGIE_PROFILE="test",
    VIGIE_JWT_SECRET="unit-test-secret-0123456789abcdef0123456789",
    VIGIE_JWT_ISSUER="vigie-unit",
    VIGIE_JWT_AUDIENCE="vigie",
    oidc_authorization_endpoint="https://idp.example/authorize",
    oidc_token_endpoint="https://idp.example/token",
    oidc_client_id="vigie-console",
    oidc_client_secret="console-client-secret",
)
KEY = b"k" * 32


class FakeProvider:
    """The provider's token endpoint: issues a token for the one code it handed out, if the PKCE
    verifier hashes to the challenge the authorization request carried."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.challenge: str | None = None
        self.redirect_uri: str | None = None
        self.requests: list[dict[str, Any]] = []

    def authorize(self, location: str) -> tuple[str, str]:
        """Plays the person signing in at the provider: returns (code, state) for the callback."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        assert query["client_id"] == "vigie-console" and query["scope"] == "openid"
        self.challenge, self.redirect_uri = query["code_challenge"], query["redirect_uri"]
        return "code-123", query["state"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append({"form": form, "authorization": request.headers.get("authorization")})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("code") != "code-123"
            or challenge != self.challenge
            or form.get("redirect_uri") != self.redirect_uri
        ):
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json={"access_token": self.token, "token_type": "Bearer"})


def _token(*roles: str, subject: str = "dpo-eve", issuer: str = SETTINGS.jwt_issuer) -> str:
    return issue_local_token(
        secret=SETTINGS.jwt_secret.get_secret_value(),
        issuer=issuer,
        audience=SETTINGS.jwt_audience,
        roles=roles,
        subject=subject,
    )


def _client(provider: FakeProvider, settings: ConsoleSettings = SETTINGS) -> TestClient:
    apis = FakeApis()
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    token_client = OidcTokenClient(
        "https://idp.example/token",
        client_id="vigie-console",
        client_secret=secret,
        transport=httpx.MockTransport(provider.handle),
    )
    console = Console(settings, apis, CheckJobs(apis), build_token_verifier(settings), oidc=token_client)
    return TestClient(create_app(console=console))


def test_the_pkce_challenge_is_rfc_7636s_s256_of_the_verifier() -> None:
    # RFC 7636 Appendix B's example.
    attempt = oidc.LoginAttempt("s", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/", 0)
    assert attempt.challenge() == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_sealed_attempt_opens_only_unaltered_for_its_state_and_in_time() -> None:
    attempt = oidc.LoginAttempt.start("/people", now=1_000)
    sealed = attempt.seal(KEY)
    assert oidc.LoginAttempt.open(sealed, KEY, state=attempt.state, now=1_100) == attempt
    body, mac = sealed.rsplit(".", 1)
    forged = base64.urlsafe_b64encode(json.dumps([attempt.state, "mine", "/", 1_000]).encode()).decode()
    for bad, state, now, reason in (
        (None, attempt.state, 1_100, "no sign-in"),
        (f"{forged}.{mac}", attempt.state, 1_100, "altered"),
        (sealed, "another-state", 1_100, "state mismatch"),
        (sealed, None, 1_100, "state mismatch"),
        (sealed, attempt.state, 1_000 + oidc.ATTEMPT_TTL_SECONDS + 1, "too long"),
        (attempt.seal(b"other-key" * 4), attempt.state, 1_100, "altered"),
    ):
        with pytest.raises(oidc.LoginAttemptError, match=reason):
            oidc.LoginAttempt.open(bad, KEY, state=state, now=now)


def test_the_authorization_url_carries_the_code_flow_parameters() -> None:
    attempt = oidc.LoginAttempt.start("/", now=0)
    url = oidc.authorization_url(
        "https://idp.example/authorize?tenant=acme",
        client_id="c",
        redirect_uri="https://console.example/login/callback",
        scope="openid",
        attempt=attempt,
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "tenant": "acme",
        "response_type": "code",
        "client_id": "c",
        "redirect_uri": "https://console.example/login/callback",
        "scope": "openid",
        "state": attempt.state,
        "code_challenge": attempt.challenge(),
        "code_challenge_method": "S256",
    }


def test_signing_in_at_the_provider_opens_a_session_with_its_token() -> None:
    token = _token("admin", "auditor")
    provider = FakeProvider(token)
    with _client(provider) as client:
        assert 'id="idp"' in client.get("/login?next=/people").text
        started = client.get("/login/idp?next=/people", follow_redirects=False)
        assert started.status_code == 303
        assert started.headers["location"].startswith("https://idp.example/authorize?")
        assert "samesite=lax" in started.headers["set-cookie"].lower()
        code, state = provider.authorize(started.headers["location"])
        assert provider.redirect_uri == "http://testserver/login/callback"
        done = client.get(f"/login/callback?code={code}&state={state}")
        assert done.status_code == 200, done.text
        assert 'content="0;url=/people"' in done.text
        assert client.cookies.get("vigie_session") == token
        # The confidential client authenticated at the token endpoint with HTTP Basic.
        [call] = provider.requests
        assert call["authorization"].startswith("Basic ")
        assert client.get("/people", follow_redirects=False).status_code == 200


def test_the_callback_refuses_a_forged_state_a_refused_code_and_a_token_the_services_would_refuse() -> None:
    provider = FakeProvider(_token("reviewer"))
    with _client(provider) as client:
        # No attempt started in this browser.
        refused = client.get("/login/callback?code=code-123&state=x")
        assert refused.status_code == 400 and "no sign-in was started" in refused.text
        started = client.get("/login/idp", follow_redirects=False)
        _code, state = provider.authorize(started.headers["location"])
        assert client.get("/login/callback?code=code-123&state=other").status_code == 400
        # The provider refuses a code it did not hand out.
        started = client.get("/login/idp", follow_redirects=False)
        _code, state = provider.authorize(started.headers["location"])
        refused = client.get(f"/login/callback?code=stolen&state={state}")
        assert refused.status_code == 502 and "invalid_grant" in refused.text
        # The person declined at the provider.
        declined = client.get("/login/callback?error=access_denied&error_description=Declined")
        assert declined.status_code == 401 and "Declined" in declined.text
        assert "vigie_session" not in client.cookies
    # A token from another issuer is not one the services accept: no session.
    provider = FakeProvider(_token("reviewer", issuer="someone-else"))
    with _client(provider) as client:
        started = client.get("/login/idp", follow_redirects=False)
        code, state = provider.authorize(started.headers["location"])
        refused = client.get(f"/login/callback?code={code}&state={state}")
        assert refused.status_code == 401 and "does not verify" in refused.text
        assert "vigie_session" not in client.cookies
