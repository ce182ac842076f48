"""The Salesforce emulator's login failure modes (control API) as clients nobody here wrote see them: simple-salesforce
for REST and the SOAP login, plain requests for the OAuth token endpoint (JWT audience, IP restrictions, a
connected-app certificate, API access, the Organization's IsSandbox)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceRefusedRequest

from crmsandbox.http import ca_session
from crmsandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with running_sandbox(size=20, seed=2) as s:
        yield s


def _svc(sb: RunningSandbox, op: str, **kw: Any) -> Any:
    return sb.control("POST", f"service/salesforce/{op}", kw)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _assertion(sb: RunningSandbox, key: Any, aud: str) -> str:
    f = sb["salesforce"]
    claims = {"iss": f["client_id"], "sub": f["username"], "aud": aud, "exp": int(time.time()) + 150}
    head = _b64(json.dumps({"alg": "RS256"}).encode()) + "." + _b64(json.dumps(claims).encode())
    sig = key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
    return head + "." + _b64(sig)


def _jwt_grant(sb: RunningSandbox, assertion: str) -> dict[str, Any]:
    http = ca_session(sb["ca_cert"])
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    return http.post(sb["salesforce"]["token_url"], data=grant, timeout=30).json()


def test_jwt_audience_must_be_an_authorization_server(sb: RunningSandbox) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for aud in ("https://login.salesforce.com", "https://test.salesforce.com", sb["salesforce"]["instance_url"]):
        assert "access_token" in _jwt_grant(sb, _assertion(sb, key, aud)), aud
    body = _jwt_grant(sb, _assertion(sb, key, "https://acme.my.salesforce.com"))
    assert body == {"error": "invalid_grant", "error_description": "audience is invalid"}


def test_uploaded_certificate_checks_the_signature(sb: RunningSandbox) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key, other = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    _svc(sb, "jwt_certificate", pem=cert.public_bytes(serialization.Encoding.PEM).decode())
    try:
        assert "access_token" in _jwt_grant(sb, _assertion(sb, key, "https://login.salesforce.com"))
        bad = _jwt_grant(sb, _assertion(sb, other, "https://login.salesforce.com"))
        assert bad == {"error": "invalid_grant", "error_description": "invalid assertion"}
    finally:
        _svc(sb, "jwt_certificate", pem=None)


def test_ip_restriction_refuses_oauth_and_soap_logins(sb: RunningSandbox) -> None:
    f = sb["salesforce"]
    http = ca_session(sb["ca_cert"])
    _svc(sb, "login_failure", mode="ip_restricted")
    try:
        grant = {"grant_type": "client_credentials", "client_id": f["client_id"], "client_secret": f["client_secret"]}
        r = http.post(f["token_url"], data=grant, timeout=30)
        assert r.status_code == 400 and r.json() == {"error": "invalid_grant", "error_description": "ip restricted"}
        with pytest.raises(SalesforceAuthenticationFailed, match="ip restricted"):
            SalesforceLogin(
                username=f["username"],
                password=f["password"],
                security_token=f["security_token"],
                scratch_url=f["instance_url"],
                session=http,
            )
    finally:
        _svc(sb, "login_failure", mode=None)
    assert http.post(f["token_url"], data=grant, timeout=30).status_code == 200


def test_api_access_and_is_sandbox_switches(sb: RunningSandbox) -> None:
    f = sb["salesforce"]
    http = ca_session(sb["ca_cert"])
    sf = Salesforce(instance_url=f["instance_url"], session_id=f["session_id"], session=http, version="59.0")
    assert sf.query("SELECT IsSandbox FROM Organization")["records"][0]["IsSandbox"] is True
    assert _svc(sb, "organization", is_sandbox=False)["is_sandbox"] is False
    try:
        assert sf.query("SELECT Id, IsSandbox FROM Organization")["records"][0]["IsSandbox"] is False
    finally:
        _svc(sb, "organization", is_sandbox=True)
    _svc(sb, "api_access", enabled=False)
    try:
        with pytest.raises(SalesforceRefusedRequest) as info:
            sf.query("SELECT Id FROM Contact LIMIT 1")
        assert info.value.content[0]["errorCode"] == "API_DISABLED_FOR_ORG"
    finally:
        _svc(sb, "api_access", enabled=True)
    with pytest.raises(Exception, match="400"):
        _svc(sb, "login_failure", mode="everything")
