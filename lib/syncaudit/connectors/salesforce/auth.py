"""Salesforce sessions: every login flow syncaudit supports, plus an existing session id.

Flows (``salesforce.auth.method``):

- ``jwt``: OAuth 2.0 JWT bearer. ``aud`` is the *authorization server* Salesforce names for the org —
  https://login.salesforce.com (production and developer orgs), https://test.salesforce.com (sandboxes) or an
  Experience Cloud site URL — never the My Domain or token URL (config: ``salesforce.auth.audience``). ``exp``
  is now + 180 s minus a 30 s allowance for the local clock running ahead of Salesforce's: Salesforce rejects an
  assertion whose ``exp`` is more than three minutes away.
- ``refresh_token``, ``password`` (OAuth username-password), ``client_credentials`` (posted to the org's My
  Domain: login.salesforce.com refuses that grant), ``soap`` (the SOAP partner ``login()`` call) and ``session``
  (an access token from ``sf org display``, which cannot be renewed).

Each failure Salesforce reports is turned into one message naming the cause and the fix
(:func:`explain_login_failure`); an unreachable host is reported with its name. Secrets come from the
environment only and are registered for redaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET  # noqa: S405 - the answer of the org's own login endpoint
from xml.sax.saxutils import escape

import requests

from syncaudit.errors import FatalAPIError
from syncaudit.redact import register_secret

JWT_LIFETIME_S = 180  # the longest Salesforce accepts
JWT_CLOCK_SKEW_S = 30  # our clock may run ahead of Salesforce's by this much
LOGIN_ATTEMPTS = 3  # a dropped connection to the token endpoint is tried again, then reported


@dataclass(frozen=True)
class SalesforceCredentials:
    """Resolved credentials (secrets included): never printed, never written."""

    method: str  # client_credentials | password | soap | refresh_token | jwt | session
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
    soap_url: str | None = None  # <login URL>/services/Soap/u/<version> for method soap
    env_names: tuple[tuple[str, str], ...] = ()  # (what, variable) for messages: which variable to fix

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug prints
        return f"SalesforceCredentials(method={self.method!r}, token_url={self.token_url!r})"

    def env_of(self, what: str, default: str) -> str:
        return dict(self.env_names).get(what, default)


@dataclass(frozen=True)
class SalesforceSession:
    access_token: str
    instance_url: str


def jwt_claims(creds: SalesforceCredentials, now: float | None = None) -> dict[str, object]:
    """The JWT bearer claims: issuer = consumer key, subject = user, audience as configured, a safe ``exp``."""
    now = time.time() if now is None else now
    return {
        "iss": creds.client_id,
        "sub": creds.username,
        "aud": creds.audience,
        "exp": int(now) + JWT_LIFETIME_S - JWT_CLOCK_SKEW_S,
    }


def _jwt_assertion(creds: SalesforceCredentials) -> str:
    import jwt  # PyJWT, a dependency of simple-salesforce

    key = creds.private_key or ""
    if "-----BEGIN" not in key and Path(key).is_file():
        key = Path(key).read_text(encoding="utf-8")
    try:
        return jwt.encode(jwt_claims(creds), key, algorithm="RS256")
    except (ValueError, TypeError) as exc:
        raise FatalAPIError(
            "the JWT private key cannot be used to sign",
            system="salesforce",
            hint=f"the variable {creds.env_of('private_key', 'named by salesforce.auth.private_key_env')} must "
            "hold a PEM RSA private key (or its path)",
        ) from exc


def _token_request(creds: SalesforceCredentials) -> tuple[dict[str, str], tuple[str, str] | None]:
    if creds.method == "client_credentials":
        form = {"grant_type": "client_credentials", "client_id": creds.client_id or ""}
        form["client_secret"] = creds.client_secret or ""
        return form, None
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


def explain_login_failure(creds: SalesforceCredentials, error: str, description: str) -> tuple[str, str]:
    """(cause, fix) for a refused login, from Salesforce's ``error`` / ``error_description`` (or SOAP fault)."""
    d = description.lower()
    e = error.lower()
    if "audience" in d:
        return (
            f"the JWT audience {creds.audience!r} is not one Salesforce accepts",
            "set salesforce.auth.audience to https://login.salesforce.com (production), https://test.salesforce.com "
            "(a sandbox) or the Experience Cloud site URL; never the My Domain or token URL",
        )
    if "ip restricted" in d or "ip address" in d or "login hours" in d:
        return (
            "Salesforce refused the login from this machine's IP address (IP restrictions or login hours)",
            "add this machine's IP range to the integration user's profile (Login IP Ranges) or set the connected "
            "app's IP Relaxation to 'Relax IP restrictions'",
        )
    if "api_disabled" in e or "api is not enabled" in d or "api_disabled" in d:
        return (
            "the integration user has no API access (API is not enabled for this user or org edition)",
            "give the user the 'API Enabled' permission (profile or permission set); Essentials/Professional "
            "editions need the API add-on",
        )
    if creds.method == "refresh_token" and ("expired" in d or "revoked" in d or e == "invalid_grant"):
        return (
            "the refresh token was revoked or has expired",
            f"authorize the connected app again and put the new refresh token in "
            f"{creds.env_of('refresh_token', 'the variable named by salesforce.auth.refresh_token_env')}",
        )
    if creds.method == "jwt" and ("invalid assertion" in d or "signature" in d or "certificate" in d):
        return (
            "Salesforce could not verify the JWT signature: the connected app's certificate is expired or does "
            "not belong to the private key",
            f"upload the certificate of the key in "
            f"{creds.env_of('private_key', 'salesforce.auth.private_key_env')} to the connected app "
            "(Use digital signatures), or renew it if it expired",
        )
    if creds.method == "jwt" and "approved" in d:
        return (
            f"the user {creds.username} has not approved the connected app",
            "pre-authorize the app for the user's profile or permission set (Manage > Permitted Users: "
            "Admin approved users are pre-authorized)",
        )
    if creds.method == "jwt" and "expired" in d:
        return (
            "Salesforce found the JWT already expired: this machine's clock is wrong",
            "synchronize the clock (NTP); syncaudit allows 30 s of skew",
        )
    if "invalid_client" in e:
        return (
            "Salesforce does not know the connected app's consumer key / secret",
            f"check {creds.env_of('client_id', 'salesforce.auth.client_id')} and "
            f"{creds.env_of('client_secret', 'the variable named by salesforce.auth.client_secret_env')}",
        )
    if "not supported on this domain" in d or "unsupported_grant" in e:
        return (
            f"the token endpoint {creds.token_url} does not offer the {creds.method} flow",
            "client credentials need the org's My Domain URL (salesforce.instance_url or salesforce.auth.token_url) "
            "and the flow enabled on the connected app",
        )
    if creds.method in ("password", "soap"):
        return (
            f"Salesforce refused the user name or password ({description or error})",
            f"check {creds.env_of('password', 'the password variable')} and the security token "
            f"({creds.env_of('security_token', 'salesforce.auth.security_token_env')}), needed from outside "
            "trusted IP ranges",
        )
    return (
        f"Salesforce refused the login ({error} {description})".strip(),
        "check the client id/secret, user and the environment variables named in salesforce.auth",
    )


class SalesforceAuthenticator:
    """Obtains sessions with the configured flow; ``login()`` again after INVALID_SESSION_ID."""

    def __init__(
        self, creds: SalesforceCredentials, http: requests.Session, timeout_s: float, *, retry_wait_s: float = 0.5
    ) -> None:
        self.creds = creds
        self.http = http
        self.timeout_s = timeout_s
        self.retry_wait_s = retry_wait_s
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
        session = self._soap_login() if creds.method == "soap" else self._oauth_login()
        self.logins += 1
        register_secret(session.access_token)
        if not session.instance_url.startswith("https://"):
            raise FatalAPIError(
                f"Salesforce returned no usable https instance_url ({session.instance_url!r})",
                system="salesforce",
                hint="set salesforce.instance_url in the config",
            )
        return session

    def _post(self, url: str, **kw: object) -> requests.Response:
        """POST to a login endpoint; connection problems are retried, then reported with the host named."""
        host = urlsplit(url).hostname or url
        for attempt in range(LOGIN_ATTEMPTS):
            try:
                resp = self.http.post(url, timeout=self.timeout_s, **kw)  # type: ignore[arg-type]
            except requests.exceptions.SSLError as exc:
                raise FatalAPIError(
                    f"the TLS certificate of {host} could not be verified",
                    system="salesforce",
                    hint="check the login URL; behind a TLS-inspecting proxy, name its CA in salesforce.ca_cert",
                ) from exc
            except requests.RequestException as exc:
                if attempt + 1 == LOGIN_ATTEMPTS:
                    raise FatalAPIError(
                        f"cannot reach the Salesforce login host {host} ({type(exc).__name__})",
                        code="UNREACHABLE",
                        system="salesforce",
                        hint="check the network, proxy and firewall, and the host in salesforce.auth.login_url / "
                        "salesforce.instance_url",
                    ) from None
                time.sleep(self.retry_wait_s * (attempt + 1))
                continue
            if resp.status_code < 500 or attempt + 1 == LOGIN_ATTEMPTS:
                return resp
            time.sleep(self.retry_wait_s * (attempt + 1))  # maintenance or overload: worth another try
        raise AssertionError("unreachable")

    def _refused(self, status: int, error: str, description: str) -> FatalAPIError:
        cause, fix = explain_login_failure(self.creds, error, description)
        return FatalAPIError(
            f"Salesforce login ({self.creds.method}) was refused: {cause}",
            status=status,
            code=error or None,
            system="salesforce",
            hint=fix,
        )

    def _oauth_login(self) -> SalesforceSession:
        creds = self.creds
        form, basic = _token_request(creds)
        resp = self._post(creds.token_url, data=form, auth=basic)
        if resp.status_code >= 500:
            raise FatalAPIError(
                f"the Salesforce token endpoint {urlsplit(creds.token_url).hostname} answered {resp.status_code}",
                status=resp.status_code,
                system="salesforce",
                hint="Salesforce may be in maintenance (status.salesforce.com); run the command again later",
            )
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code != 200 or "access_token" not in body:
            raise self._refused(
                resp.status_code, str(body.get("error") or ""), str(body.get("error_description") or "")
            )
        token = str(body["access_token"])
        register_secret(token)
        instance = str(body.get("instance_url") or creds.instance_url or "").rstrip("/")
        return SalesforceSession(token, instance)

    def _soap_login(self) -> SalesforceSession:
        creds = self.creds
        envelope = (
            '<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
            f"<env:Body><urn:login><urn:username>{escape(creds.username or '')}</urn:username>"
            f"<urn:password>{escape((creds.password or '') + (creds.security_token or ''))}</urn:password>"
            "</urn:login></env:Body></env:Envelope>"
        )
        url = creds.soap_url or creds.token_url
        resp = self._post(url, data=envelope.encode(), headers={"Content-Type": "text/xml", "SOAPAction": "login"})
        try:
            root = ET.fromstring(resp.content)  # noqa: S314
        except ET.ParseError:
            root = None
        values: dict[str, str] = {}
        if root is not None:
            for el in root.iter():
                values.setdefault(el.tag.rsplit("}", 1)[-1], el.text or "")
        if resp.status_code != 200 or "sessionId" not in values:
            code = values.get("exceptionCode") or values.get("faultcode", "").removeprefix("sf:")
            if not code and resp.status_code >= 500:
                raise FatalAPIError(
                    f"the Salesforce SOAP login endpoint answered {resp.status_code}", status=resp.status_code
                )
            raise self._refused(resp.status_code, code, values.get("exceptionMessage") or values.get("faultstring", ""))
        token = values["sessionId"]
        register_secret(token)
        server = urlsplit(values.get("serverUrl", ""))
        instance = f"{server.scheme}://{server.netloc}" if server.netloc else (creds.instance_url or "")
        return SalesforceSession(token, instance.rstrip("/"))
