"""The Salesforce source against the sandbox's Salesforce emulator over HTTPS (port 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.client import SalesforceClient
from syncaudit.connectors.salesforce.streams import SalesforceObjectStream
from syncaudit.errors import FatalAPIError
from syncaudit.snapshot import TableWriter
from test_pull_fixture_data import make_load_dir


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=300)
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def creds(sb: RunningSandbox, method: str, **over: Any) -> SalesforceCredentials:
    f = sb["salesforce"]
    base: dict[str, Any] = {"method": method, "token_url": f["token_url"], "instance_url": f["instance_url"]}
    if method == "client_credentials":
        base |= {"client_id": f["client_id"], "client_secret": f["client_secret"]}
    elif method == "password":
        base |= {
            "client_id": f["client_id"],
            "client_secret": f["client_secret"],
            "username": f["username"],
            "password": f["password"],
            "security_token": f.get("security_token"),
        }
    elif method == "refresh_token":
        base |= {"client_id": f["client_id"], "client_secret": f["client_secret"], "refresh_token": f["refresh_token"]}
    elif method == "session":
        base |= {"session_id": f["session_id"]}
    elif method == "jwt":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        base |= {
            "client_id": f["client_id"],
            "username": f["username"],
            "private_key": pem,
            "audience": f["instance_url"],
        }
    return SalesforceCredentials(**(base | over))


def client_for(sb: RunningSandbox, c: SalesforceCredentials, **kw: Any) -> SalesforceClient:
    http = build_http_session(sb["ca_cert"], 30)
    return SalesforceClient(SalesforceAuthenticator(c, http, 30), http, **kw)


@pytest.mark.parametrize("method", ["client_credentials", "password", "refresh_token", "jwt", "session"])
def test_every_auth_flow_reaches_the_org(sandbox: RunningSandbox, method: str) -> None:
    c = client_for(sandbox, creds(sandbox, method))
    res = c.call(lambda sf: sf.query("SELECT COUNT() FROM Contact"), "count")
    assert res["totalSize"] == 300
    assert c.usage is not None and c.usage[0] >= 1  # Sforce-Limit-Info was read
    assert repr(creds(sandbox, method)).count("secret") == 0


def test_wrong_secret_is_one_clear_error(sandbox: RunningSandbox) -> None:
    c = client_for(sandbox, creds(sandbox, "client_credentials", client_secret="wrong-wrong"))
    with pytest.raises(FatalAPIError, match="login \\(client_credentials\\) was refused") as exc:
        c.call(lambda sf: sf.query("SELECT Id FROM Contact LIMIT 1"), "query")
    assert "wrong-wrong" not in str(exc.value)


def test_expired_session_id_cannot_be_renewed_and_says_so(sandbox: RunningSandbox) -> None:
    c = client_for(sandbox, creds(sandbox, "session", session_id="00D000000000001!expired.token.value"))
    with pytest.raises(FatalAPIError, match="cannot be renewed") as exc:
        c.call(lambda sf: sf.query("SELECT Id FROM Contact LIMIT 1"), "query")
    assert "sf org display" in str(exc.value)


def pull_object(client: SalesforceClient, cfg: Config, obj: str, out: Path) -> tuple[Any, Any]:
    stream = SalesforceObjectStream(client, cfg, obj)
    path = out / f"{obj}.parquet"
    outcome = stream.pull(lambda name, schema: TableWriter(path, schema), None, lambda n: None)
    return pq.read_table(path).sort_by("Id"), outcome


def test_rest_and_bulk_give_identical_tables(sandbox: RunningSandbox, tmp_path: Path) -> None:
    c = client_for(sandbox, creds(sandbox, "client_credentials"))
    rest_cfg = Config.model_validate({"name": "t", "sandbox": {}, "pull": {"bulk_threshold": 100_000, "fields": "all"}})
    bulk_cfg = Config.model_validate({"name": "t", "sandbox": {}, "pull": {"bulk_threshold": 0, "fields": "all"}})
    rest, o1 = pull_object(c, rest_cfg, "Contact", tmp_path / "rest")
    bulk, o2 = pull_object(c, bulk_cfg, "Contact", tmp_path / "bulk")
    assert (o1.extra["method"], o2.extra["method"]) == ("rest", "bulk2")
    assert rest.num_rows == bulk.num_rows == 300
    assert rest.schema == bulk.schema
    for name in rest.column_names:
        assert rest[name].equals(bulk[name]), name
    assert '"quoted", comma' in rest["LastName"].to_pylist()  # CSV quoting survived


def test_mapped_fields_by_default(sandbox: RunningSandbox, tmp_path: Path) -> None:
    c = client_for(sandbox, creds(sandbox, "client_credentials"))
    cfg = Config.model_validate(
        {
            "name": "t",
            "sandbox": {},
            "mapping": {
                "fields": [
                    {
                        "name": "t",
                        "salesforce": "Title",
                        "intercom": "name",
                        "objects": ["Contact"],
                        "direction": "both",
                        "owner": "salesforce",
                    }
                ]
            },
        }
    )
    table, _ = pull_object(c, cfg, "Contact", tmp_path)
    cols = set(table.column_names)
    assert {"Id", "IsDeleted", "SystemModstamp", "Email", "AccountId", "Title"} <= cols
    assert "Department" not in cols and "MailingAddress" not in cols
    # The matching fields of the pair are read too (mapping.objects[].match_fields, defaults here).
    assert {"MailingCity", "MailingPostalCode", "Birthdate"} <= cols
