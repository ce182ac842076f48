"""The one connector per system against the HTTPS sandbox: preflight (`syncaudit check`, also before every pull
and apply), production failing closed from Organization.IsSandbox, and each login flow's common failures as one
message naming cause and fix (exit 3), an unreachable host named."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo_support import demo_sandbox
from syncaudit.cli import main
from syncaudit.config import Config, load_config
from syncaudit.connectors.build import build_writers, connect
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.preflight import PreflightFailed
from syncaudit.connectors.salesforce.auth import (
    JWT_CLOCK_SKEW_S,
    JWT_LIFETIME_S,
    SalesforceAuthenticator,
    SalesforceCredentials,
    jwt_claims,
)
from syncaudit.errors import FatalAPIError, GuardError

STREAM_CALLS = ("/jobs/query", "/contacts", "/companies", "/conversations", "/admins")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("pre"), size=40, seed=11) as env:
        yield env


def _svc(demo: dict[str, Any], op: str, **kw: Any) -> Any:
    return demo["sb"].control("POST", f"service/salesforce/{op}", kw)


def _cfg_file(demo: dict[str, Any], tmp: Path, **changes: Any) -> Path:
    raw = yaml.safe_load(yaml.safe_dump(demo["raw"]))
    for k, v in changes.items():
        raw[k] = v
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_on_the_demo_sandbox_is_all_ok(demo: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "check", "--config", str(demo["cfg_file"]))
    assert code == 0, out + err
    for line in (
        "credentials",
        "org",
        "API version",
        "API allocation",
        "object Contact",
        "attribute contact.plan_type",
    ):
        assert any(row.startswith("ok") and line in row for row in out.splitlines()), line
    assert "a sandbox org" in out and "v59.0" in out and "PROBLEM" not in out


def test_missing_field_and_archived_attribute_stop_the_pull_before_any_stream(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = demo["sb"]
    fields = list(demo["raw"]["mapping"]["fields"])
    fields.append(
        {"name": "nope", "salesforce": "Nope__c", "intercom": "custom_attributes.nope_x", "objects": ["Contact"]}
        | {"direction": "both", "owner": "salesforce"}
    )
    mapping = dict(demo["raw"]["mapping"], fields=fields)
    cfg_file = _cfg_file(demo, tmp_path, mapping=mapping)
    http = build_http_session(sb["ca_cert"], 30)
    ic = sb["intercom"]
    headers = {"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"}
    attrs = http.get(f"{ic['base_url']}/data_attributes", params={"model": "contact"}, headers=headers).json()["data"]
    plan_type = next(a for a in attrs if a["name"] == "plan_type")
    r = http.put(f"{ic['base_url']}/data_attributes/{plan_type['id']}", json={"archived": True}, headers=headers)
    assert r.status_code == 200, r.text
    try:
        n = len(sb.requests())
        code, out, err = _run(capsys, "pull", "--config", str(cfg_file), "--full")
        assert code == 2, err
        assert "field Contact.Nope__c" in err and "field-level security" in err
        assert "attribute contact.nope_x" in err and "missing" in err
        assert "attribute contact.plan_type" in err and "archived" in err and "Traceback" not in err
        sent = [q["path"] for q in sb.requests()[n:]]
        assert not [p for p in sent if any(s in p for s in STREAM_CALLS)], sent
        assert sum("/query" in p for p in sent) == 1  # the Organization (IsSandbox, id), no stream
        code, out, _ = _run(capsys, "check", "--config", str(cfg_file))
        assert code == 2 and out.count("PROBLEM") == 3
    finally:
        http.put(f"{ic['base_url']}/data_attributes/{plan_type['id']}", json={"archived": False}, headers=headers)


def test_fls_hidden_or_read_only_field_a_fix_writes_is_a_problem(demo: dict[str, Any], tmp_path: Path) -> None:
    from syncaudit.connectors.preflight import preflight_rows

    # Formula fields are never updateable: a mapping that makes a fix write one is refused before apply.
    fields = [
        {"name": "created", "salesforce": "CreatedDate", "intercom": "custom_attributes.plan_type"}
        | {"objects": ["Contact"], "direction": "intercom_to_salesforce", "owner": "intercom"}
    ]
    cfg = load_config(_cfg_file(demo, tmp_path, mapping=dict(demo["raw"]["mapping"], fields=fields)))
    rows = {r.check: r for r in preflight_rows(cfg)}
    row = rows["field Contact.CreatedDate"]
    assert row.status == "problem" and "not updateable" in row.detail and row.exit_code == 2


def test_production_org_fails_closed(demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = _svc(demo, "organization", is_sandbox=False)
    try:
        code, out, _ = _run(capsys, "check", "--config", str(demo["cfg_file"]))
        assert code == 5
        assert f"{org['org_id']}" in out and "production org" in out and "salesforce.production: true" in out
        cfg: Config = demo["cfg"]
        prod = {"production": True}
        declared = cfg.model_copy(
            update={"salesforce": cfg.salesforce.model_copy(update=prod) if cfg.salesforce else None}
        )
        from syncaudit.config import SalesforceConfig

        sc = SalesforceConfig(production=True)
        declared = cfg.model_copy(update={"salesforce": sc})
        with pytest.raises(GuardError, match="allow_production"):
            build_writers(declared, {"salesforce"})
        allowed = declared.model_copy(update={"apply": cfg.apply.model_copy(update={"allow_production": True})})
        with pytest.raises(GuardError, match=f"salesforce.org_id: {org['org_id']}"):
            build_writers(allowed, {"salesforce"})
        named = allowed.model_copy(update={"salesforce": SalesforceConfig(production=True, org_id=org["org_id"])})
        assert set(build_writers(named, {"salesforce"})) == {"salesforce"}
        other = allowed.model_copy(update={"salesforce": SalesforceConfig(production=True, org_id="00D000000000999")})
        with pytest.raises((GuardError, PreflightFailed), match="names org 00D000000000999"):
            build_writers(other, {"salesforce"})
    finally:
        _svc(demo, "organization", is_sandbox=True)


# ---------------------------------------------------------------- login failures


def _creds(demo: dict[str, Any], method: str, **over: Any) -> SalesforceCredentials:
    f = demo["sb"]["salesforce"]
    base: dict[str, Any] = {
        "method": method,
        "token_url": f["token_url"],
        "instance_url": f["instance_url"],
        "client_id": f["client_id"],
        "client_secret": f["client_secret"],
        "username": f["username"],
        "password": f["password"],
        "security_token": f["security_token"],
        "refresh_token": f["refresh_token"],
        "soap_url": f"{f['instance_url']}/services/Soap/u/59.0",
        "env_names": (("refresh_token", "SF_REFRESH_TOKEN"), ("password", "SF_PASSWORD")),
    }
    if method == "jwt":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        base["private_key"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    return SalesforceCredentials(**(base | over))


def _login(demo: dict[str, Any], creds: SalesforceCredentials) -> Any:
    http = build_http_session(demo["sb"]["ca_cert"], 30)
    return SalesforceAuthenticator(creds, http, 30, retry_wait_s=0.01).login()


def test_soap_and_jwt_flows_log_in(demo: dict[str, Any]) -> None:
    assert _login(demo, _creds(demo, "soap")).instance_url == demo["sb"]["salesforce"]["instance_url"]
    assert _login(demo, _creds(demo, "jwt", audience="https://test.salesforce.com")).access_token
    now = time.time()
    claims = jwt_claims(_creds(demo, "jwt"), now)
    assert claims["exp"] == int(now) + JWT_LIFETIME_S - JWT_CLOCK_SKEW_S < now + 180  # a margin, never 180 s


@pytest.mark.parametrize(
    ("method", "over", "cause", "fix"),
    [
        ("jwt", {"audience": "https://acme.my.salesforce.com"}, "JWT audience", "salesforce.auth.audience"),
        ("refresh_token", {"refresh_token": "00D000000000001!revoked"}, "revoked or has expired", "SF_REFRESH_TOKEN"),
        ("soap", {"password": "wrong"}, "user name or password", "SF_PASSWORD"),
        ("password", {"password": "wrong"}, "user name or password", "SF_PASSWORD"),
        ("client_credentials", {"client_secret": "wrong"}, "consumer key / secret", "client_secret"),
    ],
)
def test_each_login_failure_names_cause_and_fix(
    demo: dict[str, Any], method: str, over: dict[str, Any], cause: str, fix: str
) -> None:
    with pytest.raises(FatalAPIError) as info:
        _login(demo, _creds(demo, method, **over))
    err = info.value
    assert cause in err.message and fix in (err.hint or "") and err.exit_code == 3
    assert "wrong" not in str(err) and "revoked" not in (err.hint or "")


def test_revoked_refresh_token(demo: dict[str, Any]) -> None:
    f = demo["sb"]["salesforce"]
    http = build_http_session(demo["sb"]["ca_cert"], 30)
    fresh = _creds(demo, "refresh_token")
    assert _login(demo, fresh).access_token
    r = http.post(f"{f['instance_url']}/services/oauth2/revoke", data={"token": f["refresh_token"]})
    assert r.status_code == 200
    with pytest.raises(FatalAPIError, match="refresh token was revoked"):
        _login(demo, fresh)


@pytest.mark.parametrize("method", ["client_credentials", "soap"])
def test_ip_restriction_is_named(demo: dict[str, Any], method: str) -> None:
    _svc(demo, "login_failure", mode="ip_restricted")
    try:
        with pytest.raises(FatalAPIError) as info:
            _login(demo, _creds(demo, method))
        assert "IP address" in info.value.message and "Login IP Ranges" in (info.value.hint or "")
    finally:
        _svc(demo, "login_failure", mode=None)


def test_user_without_api_access(demo: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _svc(demo, "api_access", enabled=False)
    try:
        code, out, _ = _run(capsys, "check", "--config", str(demo["cfg_file"]))
        assert code == 3 and "no API access" in out and "API Enabled" in out
    finally:
        _svc(demo, "api_access", enabled=True)


def test_unreachable_host_is_exit_3_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "real.yaml"
    cfg.write_text(
        "name: acme\ndata_dir: " + str(tmp_path / "d") + "\n"
        "salesforce:\n  instance_url: https://127.0.0.1:9\n"
        "  auth: {method: client_credentials, client_id: abc, client_secret_env: T_SF_SECRET}\n"
        "intercom: {token_env: T_IC_TOKEN, base_url: https://127.0.0.1:9}\n"
    )
    monkeypatch.setenv("T_SF_SECRET", "s3cret-value")
    monkeypatch.setenv("T_IC_TOKEN", "t0ken-value")
    code, out, err = _run(capsys, "check", "--config", str(cfg))
    assert code == 3, out + err
    assert "cannot reach the Salesforce login host 127.0.0.1" in out
    assert "cannot reach the Intercom host 127.0.0.1:9" in out
    assert "s3cret-value" not in out + err and "internal error" not in err


def test_config_refuses_a_my_domain_jwt_audience() -> None:
    from syncaudit.errors import ConfigError

    raw = {
        "name": "x",
        "salesforce": {
            "instance_url": "https://acme.my.salesforce.com",
            "auth": {"method": "jwt", "client_id": "c", "username": "u", "private_key_env": "K"}
            | {"audience": "https://acme.my.salesforce.com"},
        },
        "intercom": {"region": "eu"},
    }
    with pytest.raises(ValueError, match="authorization server"):
        Config.model_validate(raw)
    raw["salesforce"]["auth"].pop("audience")
    raw["salesforce"]["auth"]["login_url"] = "https://acme--uat.sandbox.my.salesforce.com"
    cfg = Config.model_validate(raw)
    assert cfg.salesforce.auth.jwt_audience() == "https://test.salesforce.com"
    assert cfg.intercom.api_base_url() == "https://api.eu.intercom.io"
    assert ConfigError


def test_one_connector_serves_reads_and_writes(demo: dict[str, Any]) -> None:
    conns = connect(demo["cfg"], purpose="apply")
    writers = build_writers(demo["cfg"], {"salesforce", "intercom"}, conns)
    assert writers["salesforce"].sf is conns.salesforce and writers["intercom"].ic is conns.intercom
    assert conns.intercom.version == "2.16"  # the sandbox's API version, used by reads and writes alike


def _certificate(key: Any, *, days: int) -> str:
    """A self-signed certificate of ``key``, valid ``days`` from now (negative: already expired)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncaudit-test")])
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=2), now + timedelta(days=days))
        if days > 0
        else (now - timedelta(days=30), now + timedelta(days=days))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("case", ["matching", "other key", "expired"])
def test_jwt_certificate_mismatch_or_expiry_is_named(demo: dict[str, Any], case: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_key = key if case != "other key" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _svc(demo, "jwt_certificate", pem=_certificate(cert_key, days=-1 if case == "expired" else 30))
    try:
        creds = _creds(demo, "jwt", private_key=pem, env_names=(("private_key", "SF_JWT_KEY"),))
        if case == "matching":
            assert _login(demo, creds).access_token
            return
        with pytest.raises(FatalAPIError) as info:
            _login(demo, creds)
        assert "certificate" in info.value.message and "SF_JWT_KEY" in (info.value.hint or "")
    finally:
        _svc(demo, "jwt_certificate", pem=None)


def test_intercom_writes_use_the_configured_api_version(demo: dict[str, Any]) -> None:
    from syncaudit.config import IntercomConfig

    cfg = demo["cfg"].model_copy(update={"intercom": IntercomConfig(api_version="2.13")})
    writers = build_writers(cfg, {"intercom"})
    assert writers["intercom"].ic.headers["Intercom-Version"] == "2.13"  # no pinned 2.16 in the writer


def test_apply_refuses_a_production_org_before_any_write(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    cfg = str(demo["cfg_file"])
    sb = demo["sb"]
    assert _run(capsys, "pull", "--config", cfg, "--full")[0] == 0
    assert _run(capsys, "findings", "--config", cfg)[0] == 0
    code, out, err = _run(capsys, "plan", "--config", cfg)
    assert code == 0, err
    folder = re.search(r"^plan: (.+)$", out, re.M).group(1)
    digest = re.search(r"^hash: ([0-9a-f]{16})$", out, re.M).group(1)
    _svc(demo, "organization", is_sandbox=False)
    try:
        n = len(sb.requests())
        code, out, err = _run(capsys, "apply", "--config", cfg, "--plan", folder, "--confirm", digest, "--execute")
        assert code == 5 and "production org" in err and "Traceback" not in err
        writes = [r for r in sb.requests()[n:] if r["method"] in ("PATCH", "PUT", "DELETE") or "merge" in r["path"]]
        assert writes == [] and not [r for r in sb.requests()[n:] if "/composite/" in r["path"]]
    finally:
        _svc(demo, "organization", is_sandbox=True)


def test_each_flow_posts_where_salesforce_expects_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncaudit.connectors.build import salesforce_credentials

    monkeypatch.setenv("T_SECRET", "x-secret-value")
    base = {"instance_url": "https://acme.my.salesforce.com", "api_version": "61.0"}
    cc = Config.model_validate(
        {
            "name": "x",
            "salesforce": base
            | {"auth": {"method": "client_credentials", "client_id": "c", "client_secret_env": "T_SECRET"}},
            "intercom": {},
        }
    )
    assert salesforce_credentials(cc.salesforce).token_url == "https://acme.my.salesforce.com/services/oauth2/token"
    soap = {"method": "soap", "username": "u@x", "password_env": "T_SECRET", "login_url": "https://test.salesforce.com"}
    sc = Config.model_validate({"name": "x", "salesforce": base | {"auth": soap}, "intercom": {}}).salesforce
    creds = salesforce_credentials(sc)
    assert creds.soap_url == "https://test.salesforce.com/services/Soap/u/61.0"
    assert "x-secret-value" not in repr(creds)


def test_unreachable_instance_after_login_is_named() -> None:
    from syncaudit.connectors.http import Backoff
    from syncaudit.connectors.salesforce.connector import SalesforceConnector

    creds = SalesforceCredentials(
        method="session", token_url="", session_id="00D000000000001!x", instance_url="https://127.0.0.1:9"
    )
    http = build_http_session(None, 5)
    sf = SalesforceConnector(
        SalesforceAuthenticator(creds, http, 5), http, backoff=Backoff(attempts=2, sleep=lambda _s: None)
    )
    with pytest.raises(FatalAPIError, match=r"cannot reach the Salesforce host 127\.0\.0\.1:9") as info:
        sf.org()
    assert info.value.exit_code == 3


def test_unreadable_field_history_is_a_notice_and_the_pull_goes_on(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user without Read on ContactHistory: `check` names it (exit 0, a notice with the fix), the pull still
    runs and writes an empty ContactHistory table noting why."""
    import pyarrow.parquet as pq

    from syncaudit.pull import run_pull

    raw = yaml.safe_load(yaml.safe_dump(demo["raw"]))
    raw["data_dir"] = str(tmp_path / "data")
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    _svc(demo, "object_access", obj="ContactHistory", readable=False)
    try:
        code, out, err = _run(capsys, "check", "--config", str(cfg_file))
        assert code == 0, out + err
        (line,) = [row for row in out.splitlines() if "object ContactHistory" in row]
        assert line.startswith("notice") and "newer side is reported as unknown" in line
        assert "Set History Tracking" in out and "checks passed, 1 with a notice" in out
        assert any(r.startswith("ok") and "object AccountHistory" in r for r in out.splitlines())
        snap = run_pull(load_config(cfg_file), full=True)
        assert pq.read_table(snap.table_path("salesforce", "ContactHistory")).num_rows == 0
        assert "not readable" in json.dumps(snap.manifest, default=str)
        assert pq.read_table(snap.table_path("salesforce", "AccountHistory")).num_rows > 0
    finally:
        _svc(demo, "object_access", obj="ContactHistory", readable=True)
    code, out, _ = _run(capsys, "check", "--config", str(cfg_file))
    assert code == 0 and "notice" not in out
