"""OAuth token endpoint, SOAP partner login, userinfo, identity URL and revoke (a mixin of SalesforceApp)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from xml.etree import ElementTree as ET  # noqa: S405 - bounded local input from test clients
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from . import auth as creds
from .models import ADMIN_USERNAME

_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
    "<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {msg}</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
    "<sf:exceptionMessage>{msg}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>"
    "</soapenv:Envelope>"
)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    body = json.dumps({"error": error, "error_description": description})
    return Response(body, status=status, content_type="application/json;charset=UTF-8")


def _signed_by(assertion: str, cert_pem: str, now: float) -> bool:
    """Whether ``assertion`` (a JWT) carries an RS256 signature of the certificate's key, and the certificate is
    valid at ``now``. Differs from Salesforce: it reports an expired certificate the same way as a wrong one."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, payload, sig = assertion.split(".")
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, binascii.Error):
        return False
    when = datetime.fromtimestamp(now, UTC)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        return False
    try:
        cert.public_key().verify(signature, f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


class AuthRoutes:
    """Authentication endpoints; expects ``self.backend`` and ``self.auth`` (see SalesforceApp)."""

    def _base(self, request: Request) -> str:
        return request.host_url.rstrip("/")

    def _identity(self, request: Request) -> dict:
        b = self.backend
        base = self._base(request)
        return {
            "sub": f"{base}/id/{b.org_id}/{b.admin_id}",
            "user_id": b.admin_id,
            "organization_id": b.org_id,
            "preferred_username": ADMIN_USERNAME,
            "nickname": "sadmin",
            "name": "Sandbox Admin",
            "email": ADMIN_USERNAME,
            "email_verified": True,
            "given_name": "Sandbox",
            "family_name": "Admin",
            "zoneinfo": "GMT",
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "is_app_installed": True,
            "urls": {
                "rest": f"{base}/services/data/v{{version}}/",
                "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                "query": f"{base}/services/data/v{{version}}/query/",
            },
        }

    def _token_body(self, request: Request) -> dict:
        token = self.auth.mint("access")
        base = self._base(request)
        return {
            "access_token": token,
            "instance_url": base,
            "id": f"{base}/id/{self.backend.org_id}/{self.backend.admin_id}",
            "token_type": "Bearer",
            "issued_at": str(int(self.backend.clock() * 1000)),
            "signature": base64.b64encode(b"syncaudit-sandbox").decode(),
            "scope": "api refresh_token",
        }

    def _client_ok(self, request: Request, form) -> bool:
        cid, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return cid == creds.CLIENT_ID and (secret is None or secret == creds.CLIENT_SECRET)

    def on_token(self, request: Request, version: str) -> Response:
        if request.method != "POST":
            return _oauth_error("invalid_request", "must use HTTP POST", 400)
        form = request.form
        grant = form.get("grant_type", "")
        if self.auth.login_failure == "ip_restricted":
            return _oauth_error("invalid_grant", "ip restricted")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_grant(request, form.get("assertion", ""))
        if grant not in ("password", "client_credentials", "refresh_token"):
            return _oauth_error("unsupported_grant_type", f"grant type not supported: {grant or '(none)'}")
        if not self._client_ok(request, form):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if grant == "password":
            user, password = form.get("username"), form.get("password")
            if user != ADMIN_USERNAME or password not in (creds.PASSWORD + creds.SECURITY_TOKEN, creds.PASSWORD):
                return _oauth_error("invalid_grant", "authentication failure")
        elif grant == "client_credentials":
            if form.get("client_secret") is None and not request.headers.get("Authorization", "").startswith("Basic "):
                return _oauth_error("invalid_client", "client secret is required", 401)
        elif not self.auth.is_refresh_token(form.get("refresh_token", "")):
            return _oauth_error("invalid_grant", "expired access/refresh token")
        return Response(json.dumps(self._token_body(request)), content_type="application/json;charset=UTF-8")

    def _jwt_grant(self, request: Request, assertion: str) -> Response:
        # The claims are always checked; the RS256 signature only once a test uploads the connected app's
        # certificate (control ``jwt_certificate``), which must also be within its validity period.
        if self.auth.jwt_certificate and not _signed_by(assertion, self.auth.jwt_certificate, self.backend.clock()):
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError, binascii.Error):
            return _oauth_error("invalid_grant", "invalid assertion")
        if not isinstance(claims, dict):
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != creds.CLIENT_ID:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        # aud names the authorization server: login/test.salesforce.com or a site URL (here: this server).
        if claims.get("aud") not in (
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            self._base(request),
        ):
            return _oauth_error("invalid_grant", "audience is invalid")
        if claims.get("sub") != ADMIN_USERNAME:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        try:
            exp = float(claims.get("exp", 0))
        except (TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion: exp must be a number")
        if exp < time.time() - 300 and exp < self.backend.clock():
            return _oauth_error("invalid_grant", "expired authorization code")
        return Response(json.dumps(self._token_body(request)), content_type="application/json;charset=UTF-8")

    def on_revoke(self, request: Request, version: str) -> Response:
        token = request.form.get("token") or request.args.get("token")
        if not token:
            return _oauth_error("unsupported_token_type", "missing token")
        self.auth.revoke(token)
        return Response(status=200)

    def on_userinfo(self, request: Request, version: str) -> Response:
        return Response(json.dumps(self._identity(request)), content_type="application/json;charset=UTF-8")

    def on_identity(self, request: Request, version: str, org: str, user: str) -> Response:
        """The identity URL (``/id/<org>/<user>``): the identity-service shape, not OpenID userinfo.

        Differs from the real service: JSON only (``format=xml`` is answered in JSON), one user.
        """
        b = self.backend
        if request.method not in ("GET", "HEAD"):
            return _oauth_error("invalid_request", "must use HTTP GET", 405)
        if org[:15] != b.org_id[:15] or user[:15] != b.admin_id[:15]:
            return _oauth_error("Bad_Id", "Bad Id: no such organization and user", 404)
        base = self._base(request)
        wanted = request.args.get("version", "")
        ver = wanted if wanted and wanted != "latest" else "{version}"
        if wanted == "latest":
            ver = "62.0"

        def api(path: str) -> str:
            return f"{base}{path.replace('{version}', ver)}"

        body = {
            "id": f"{base}/id/{b.org_id}/{b.admin_id}",
            "asserted_user": True,
            "user_id": b.admin_id,
            "organization_id": b.org_id,
            "username": ADMIN_USERNAME,
            "nick_name": "sadmin",
            "display_name": "Sandbox Admin",
            "email": ADMIN_USERNAME,
            "email_verified": True,
            "first_name": "Sandbox",
            "last_name": "Admin",
            "timezone": "GMT",
            "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
            "addr_street": None,
            "addr_city": None,
            "addr_state": None,
            "addr_country": None,
            "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": {
                "enterprise": api(f"/services/Soap/c/{{version}}/{b.org_id[:15]}"),
                "metadata": api(f"/services/Soap/m/{{version}}/{b.org_id[:15]}"),
                "partner": api(f"/services/Soap/u/{{version}}/{b.org_id[:15]}"),
                "rest": api("/services/data/v{version}/"),
                "sobjects": api("/services/data/v{version}/sobjects/"),
                "search": api("/services/data/v{version}/search/"),
                "query": api("/services/data/v{version}/query/"),
                "recent": api("/services/data/v{version}/recent/"),
                "tooling_soap": api(f"/services/Soap/T/{{version}}/{b.org_id[:15]}"),
                "tooling_rest": api("/services/data/v{version}/tooling/"),
                "profile": f"{base}/{b.admin_id[:15]}",
                "feeds": api("/services/data/v{version}/chatter/feeds"),
                "groups": api("/services/data/v{version}/chatter/groups"),
                "users": api("/services/data/v{version}/chatter/users"),
                "feed_items": api("/services/data/v{version}/chatter/feed-items"),
                "feed_elements": api("/services/data/v{version}/chatter/feed-elements"),
                "custom_domain": base,
            },
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": "2024-01-01T00:00:00.000+0000",
            "is_app_installed": True,
        }
        return Response(json.dumps(body), content_type="application/json;charset=UTF-8")

    def on_soap_login(self, request: Request, version: str) -> Response:
        body = request.get_data()
        user = password = None
        try:
            root = ET.fromstring(body)  # noqa: S314
            for el in root.iter():
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "username":
                    user = el.text
                elif tag == "password":
                    password = el.text
        except ET.ParseError:
            return self._fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        if user != ADMIN_USERNAME or password not in (creds.PASSWORD + creds.SECURITY_TOKEN, creds.PASSWORD):
            return self._fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        if self.auth.login_failure == "ip_restricted":
            return self._fault("LOGIN_MUST_USE_SECURITY_TOKEN", "ip restricted: this IP address is not trusted")
        token = self.auth.mint("access")
        base, org, uid = self._base(request), self.backend.org_id, self.backend.admin_id
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org}</serverUrl>"
            f"<sessionId>{escape(token)}</sessionId><userId>{uid}</userId>"
            f"<userInfo><organizationId>{org}</organizationId><userName>{ADMIN_USERNAME}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(xml, content_type="text/xml; charset=utf-8")

    @staticmethod
    def _fault(code: str, msg: str) -> Response:
        return Response(_FAULT.format(code=code, msg=escape(msg)), status=500, content_type="text/xml; charset=utf-8")
