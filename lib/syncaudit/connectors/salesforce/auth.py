"""Salesforce sessions: every OAuth flow syncaudit supports, plus an existing session id.

Each flow is one small function over a ``requests.Session`` (which carries TLS
verification and the timeout); :class:`SalesforceAuthenticator` picks the flow
and can be asked again for a fresh session when the current one expires.
Secrets come from the environment only and are registered for redaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import requests

from syncaudit.errors import FatalAPIError, RetriableAPIError
from syncaudit.redact import register_secret


@dataclass(frozen=True)
class SalesforceCredentials:
    """Resolved credentials (secrets included): never printed, never written."""

    method: str  # client_credentials | password | refresh_token | jwt | session
    token_url: str
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    refresh_token: str | None = None
    private_key: str | None = None
    session_id: str | None = None
    instance_url: str | None = None
    audience: str = "https://login.salesforce.com"

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug prints
        return f"SalesforceCredentials(method={self.method!r}, token_url={self.token_url!r})"


@dataclass(frozen=True)
class SalesforceSession:
    access_token: str
    instance_url: str


def _jwt_assertion(creds: SalesforceCredentials) -> str:
    import jwt  # PyJWT, a dependency of simple-salesforce

    key = creds.private_key or ""
    if "-----BEGIN" not in key and Path(key).is_file():
        key = Path(key).read_text(encoding="utf-8")
    claims = {"iss": creds.client_id, "sub": creds.username, "aud": creds.audience, "exp": int(time.time()) + 180}
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError) as exc:
        raise FatalAPIError(
            "the JWT private key cannot be used to sign",
            system="salesforce",
            hint="the variable named by salesforce.auth.private_key_env must hold a PEM RSA private key or its path",
        ) from exc


def _token_request(creds: SalesforceCredentials) -> tuple[dict[str, str], tuple[str, str] | None]:
    if creds.method == "client_credentials":
        return {"grant_type": "client_credentials"}, (creds.client_id or "", creds.client_secret or "")
    if creds.method == "password":
        form = {
            "grant_type": "password",
            "client_id": creds.client_id or "",
            "username": creds.username or "",
            "password": (creds.password or "") + (creds.security_token or ""),
        }
        if creds.client_secret:
            form["client_secret"] = creds.client_secret
        return form, None
    if creds.method == "refresh_token":
        form = {
            "grant_type": "refresh_token",
            "client_id": creds.client_id or "",
            "refresh_token": creds.refresh_token or "",
        }
        if creds.client_secret:
            form["client_secret"] = creds.client_secret
        return form, None
    if creds.method == "jwt":
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _jwt_assertion(creds)}, None
    raise FatalAPIError(f"unknown Salesforce auth method {creds.method!r}", system="salesforce")


class SalesforceAuthenticator:
    """Obtains sessions with the configured flow; ``login()`` again after INVALID_SESSION_ID."""

    def __init__(self, creds: SalesforceCredentials, http: requests.Session, timeout_s: float) -> None:
        self.creds = creds
        self.http = http
        self.timeout_s = timeout_s
        self.logins = 0

    @property
    def can_refresh(self) -> bool:
        return self.creds.method != "session"

    def login(self) -> SalesforceSession:
        creds = self.creds
        if creds.method == "session":
            if self.logins:
                raise FatalAPIError(
                    "the Salesforce session expired and a session id cannot be renewed",
                    status=401,
                    code="INVALID_SESSION_ID",
                    system="salesforce",
                    hint="run `sf org display` again and export the new access token, or configure an OAuth flow",
                )
            self.logins += 1
            return SalesforceSession(creds.session_id or "", creds.instance_url or "")
        form, basic = _token_request(creds)
        try:
            resp = self.http.post(creds.token_url, data=form, auth=basic, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise RetriableAPIError(
                f"cannot reach the Salesforce token endpoint {creds.token_url}: {type(exc).__name__}",
                system="salesforce",
                hint="check the network, the login URL and the CA bundle",
            ) from exc
        if resp.status_code >= 500:
            raise RetriableAPIError(f"token endpoint answered {resp.status_code}", status=resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            desc = body.get("error_description") if isinstance(body, dict) else None
            raise FatalAPIError(
                f"Salesforce login ({creds.method}) was refused: {resp.status_code} {error or ''} {desc or ''}".strip(),
                status=resp.status_code,
                code=error,
                system="salesforce",
                hint="check the client id/secret, user and the environment variables named in salesforce.auth",
            )
        self.logins += 1
        token = str(body["access_token"])
        register_secret(token)
        instance = str(body.get("instance_url") or creds.instance_url or "").rstrip("/")
        if not instance.startswith("https://"):
            raise FatalAPIError(
                f"Salesforce returned no usable https instance_url ({instance!r})",
                system="salesforce",
                hint="set salesforce.instance_url in the config",
            )
        return SalesforceSession(token, instance)
