"""The Salesforce emulator's control operations, driven over HTTPS through the control API, seen by simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

from crmsandbox.http import ca_session as verified_session
from crmsandbox.testing import RunningSandbox, running_sandbox

Q = "SELECT Id FROM Contact LIMIT 1"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with running_sandbox(size=20, seed=1) as s:
        yield s


def _login(sb: RunningSandbox) -> Salesforce:
    """A new session by the OAuth client-credentials flow, used by an unmodified simple-salesforce client."""
    f, http = sb["salesforce"], verified_session(sb["ca_cert"])
    grant = {"grant_type": "client_credentials", "client_id": f["client_id"], "client_secret": f["client_secret"]}
    token = http.post(f["token_url"], data=grant, timeout=30).json()["access_token"]
    return Salesforce(instance_url=f["instance_url"], session_id=token, session=http, version="59.0")


def _svc(sb: RunningSandbox, op: str, **kw: Any) -> Any:
    return sb.control("POST", f"service/salesforce/{op}", kw)


def test_expire_sessions_ends_live_tokens_and_a_new_login_works(sb: RunningSandbox) -> None:
    sf = _login(sb)
    assert sf.query(Q)["totalSize"] == 1
    assert _svc(sb, "expire_sessions")["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession):
        sf.query(Q)
    assert _login(sb).query(Q)["totalSize"] == 1


def test_token_lifetime_applies_to_new_sessions(sb: RunningSandbox) -> None:
    try:
        assert _svc(sb, "token_lifetime", seconds=30)["token_lifetime_s"] == 30
        sf = _login(sb)
        assert sf.query(Q)["totalSize"] == 1
        sb.control("POST", "clock", {"advance_s": 31})
        with pytest.raises(SalesforceExpiredSession):
            sf.query(Q)
    finally:
        sb.control("POST", "clock", {"offset_s": 0})
        _svc(sb, "token_lifetime", seconds=7200)


def test_api_usage_drives_the_limit_header_and_request_limit_exceeded(sb: RunningSandbox) -> None:
    sf = _login(sb)
    try:
        assert _svc(sb, "api_usage", used=95, daily=100) == {"used": 95, "daily": 100}
        sf.query(Q)
        assert sf.api_usage["api-usage"].used == 96 and sf.api_usage["api-usage"].total == 100
        _svc(sb, "api_usage", used=100)
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query(Q)
        assert "REQUEST_LIMIT_EXCEEDED" in str(err.value)
    finally:
        _svc(sb, "api_usage", used=0, daily=15000)


@pytest.mark.parametrize(
    ("op", "body"),
    [("api_usage", {"used": -1}), ("api_usage", {"daily": "lots"}), ("token_lifetime", {"seconds": 0})],
)
def test_bad_control_arguments_are_a_400_naming_the_argument(sb: RunningSandbox, op: str, body: dict) -> None:
    with pytest.raises(requests.HTTPError) as err:
        _svc(sb, op, **body)
    assert err.value.response.status_code == 400
    assert next(iter(body)) in err.value.response.json()["error"]
