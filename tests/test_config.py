"""Configuration validation: good configs load, bad ones get one clear message."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from syncaudit.config import load_config, resolve_secret
from syncaudit.errors import ConfigError, SecretError
from syncaudit.redact import redact

ROOT = Path(__file__).resolve().parents[1]

REAL = """
name: acme
salesforce:
  instance_url: https://acme.my.salesforce.com
  auth: {method: client_credentials, client_id: abc, client_secret_env: SF_SECRET}
intercom:
  token_env: INTERCOM_TOKEN
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


@pytest.mark.parametrize("name", ["demo.yaml", "example.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "config" / name)
    assert cfg.mapping.identity.companies.salesforce_key == "AccountNumber"
    assert len(cfg.config_hash()) == 16


def test_minimal_real_config_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, REAL))
    assert cfg.salesforce is not None and cfg.salesforce.auth.client_secret_env == "SF_SECRET"
    assert cfg.report.mask_personal_data is True  # masking is on unless turned off


def test_config_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, REAL, "a.yaml"))
    b = load_config(write(tmp_path, REAL + "data_dir: elsewhere\n", "b.yaml"))
    assert a.config_hash() != b.config_hash()


OWN = (
    "    - {name: o, salesforce: OwnerId, intercom: owner_id, objects: [Contact], direction: salesforce_to_intercom, "
    "owner: salesforce, "
)
BAD = {
    "missing_name": ("salesforce: {instance_url: https://x.my.salesforce.com}\nintercom: {}\n", "name", "missing"),
    "missing_connections": ("name: x\n", "(top level)", "sandbox"),
    "unknown_top_key": (REAL + "colour: blue\n", "colour", "unknown key"),
    "unknown_nested_key": (REAL.replace("token_env", "tokn_env"), "intercom.tokn_env", "unknown key"),
    "wrong_type_timeout": (REAL + "pull: {bulk_threshold: lots}\n", "pull.bulk_threshold", "integer"),
    "share_out_of_range": (REAL + "apply: {quota_max_share: 1.5}\n", "apply.quota_max_share", "less than or equal"),
    "http_instance": (REAL.replace("https://acme", "http://acme"), "salesforce.instance_url", "https://"),
    "bad_api_version": (REAL + "  api_version: '2.3'\n", "intercom.api_version", "pattern"),
    "unknown_direction": (
        REAL
        + "mapping:\n  fields:\n    - {name: e, salesforce: Email, intercom: email, objects: [Contact], direction: sideways, owner: salesforce}\n",
        "mapping.fields.0.direction",
        "sideways",
    ),
    "owner_contradicts_direction": (
        REAL
        + "mapping:\n  fields:\n    - {name: e, salesforce: Email, intercom: email, objects: [Contact], direction: salesforce_to_intercom, owner: intercom}\n",
        "mapping.fields.0",
        "owner: salesforce",
    ),
    "unknown_normalizer": (
        REAL
        + "mapping:\n  fields:\n    - {name: e, salesforce: Email, intercom: email, objects: [Contact], direction: both, owner: salesforce, normalize: [shout]}\n",
        "mapping.fields.0.normalize.0",
        "shout",
    ),
    "duplicate_field_name": (
        REAL
        + "mapping:\n  fields:\n"
        + "    - {name: e, salesforce: Email, intercom: email, objects: [Contact], direction: both, owner: salesforce}\n"
        * 2,
        "mapping",
        "used twice",
    ),
    "account_paired_with_contact": (
        REAL + "mapping:\n  objects:\n    - {salesforce: Account, intercom: contact}\n",
        "mapping.objects.0",
        "company",
    ),
    "auth_missing_secret_ref": (
        REAL.replace("client_secret_env: SF_SECRET", "client_id_env: SF_ID"),
        "salesforce.auth",
        "client_secret_env",
    ),
    "bad_env_name": (REAL.replace("INTERCOM_TOKEN", "'my token'"), "intercom.token_env", "pattern"),
    "fields_not_a_list": (REAL + "mapping: {fields: 3}\n", "mapping.fields", "list"),
    "people_and_company_in_one_field": (
        REAL
        + "mapping:\n  fields:\n    - {name: n, salesforce: Name, intercom: name, objects: [Contact, Account], direction: both, owner: salesforce}\n",
        "mapping.fields.0",
        "not both",
    ),
    "lookup_unknown_sf_object": (
        REAL + "mapping:\n  fields:\n" + OWN + "lookup: {salesforce: Person.Email}}\n",
        "mapping.fields.0.lookup.salesforce",
        "User.Email",
    ),
    "lookup_not_object_dot_field": (
        REAL + "mapping:\n  fields:\n" + OWN + "lookup: {salesforce: Email}}\n",
        "mapping.fields.0.lookup.salesforce",
        "Object.Field",
    ),
    "lookup_unknown_ic_table": (
        REAL + "mapping:\n  fields:\n" + OWN + "lookup: {intercom: teammates.email}}\n",
        "mapping.fields.0.lookup.intercom",
        "admins.email",
    ),
    "lookup_without_a_side": (
        REAL + "mapping:\n  fields:\n" + OWN + "lookup: {normalize: [email]}}\n",
        "mapping.fields.0.lookup",
        "both",
    ),
    "lookup_with_top_level_normalize": (
        REAL + "mapping:\n  fields:\n" + OWN + "normalize: [email], lookup: {salesforce: User.Email}}\n",
        "mapping.fields.0",
        "lookup.normalize",
    ),
    "lookup_unknown_normalizer": (
        REAL + "mapping:\n  fields:\n" + OWN + "lookup: {salesforce: User.Email, normalize: [shout]}}\n",
        "mapping.fields.0.lookup.normalize.0",
        "shout",
    ),
}


def test_lookup_field_loads_and_names_its_targets(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    owner = {f.name: f for f in cfg.mapping.fields}["owner"]
    assert owner.lookup is not None and owner.normalize == []
    assert owner.lookup.target("salesforce") == ("User", "Email")
    assert owner.lookup.target("intercom") == ("admins", "email")
    one = load_config(write(tmp_path, REAL + "mapping:\n  fields:\n" + OWN + "lookup: {intercom: admins.email}}\n"))
    assert one.mapping.fields[0].lookup.target("salesforce") is None


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_config_gets_one_clear_message(tmp_path: Path, case: str) -> None:
    text, key, fragment = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert key in msg, msg
    assert fragment in msg, msg
    assert "fix:" in msg
    assert "Traceback" not in msg


@pytest.mark.parametrize(
    "text,key",
    [
        (
            REAL.replace("client_secret_env: SF_SECRET", "client_secret: hunter2hunter2"),
            "salesforce.auth.client_secret",
        ),
        (REAL + "  token: dG9rOmFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MTIzNDU2\n", "intercom.token"),
        (
            REAL.replace("client_id: abc", "client_id: '00D5g000004XyZa!AQ4AQFk1n2b3c4d5e6f7g8h9i0jklmnop'"),
            "salesforce.auth.client_id",
        ),
        (REAL + "report: {out_dir: '-----BEGIN PRIVATE KEY-----'}\n", "report.out_dir"),
    ],
)
def test_inline_secret_is_refused_without_echoing_it(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(SecretError) as info:
        load_config(write(tmp_path, text))
    msg = str(info.value)
    assert key in msg
    assert "_env" in msg or "environment variable" in msg
    for secret in ("hunter2hunter2", "dG9rOmFiY2Rl", "AQ4AQFk1n2b3", "BEGIN PRIVATE KEY"):
        assert secret not in msg


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "name: x\nsalesforce: [unclosed\n"))
    assert "invalid YAML at line" in str(info.value)


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)
    p = write(tmp_path, REAL)
    p.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(p)
    if os.geteuid() != 0:  # root reads anything
        p.write_text(REAL)
        p.chmod(0)
        with pytest.raises(ConfigError, match="permission"):
            load_config(p)


def test_resolve_secret_reads_env_and_registers_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCAUDIT_TEST_SECRET", "s3cr3t-value-xyz")
    assert resolve_secret("SYNCAUDIT_TEST_SECRET", purpose="test") == "s3cr3t-value-xyz"
    assert redact("failed with s3cr3t-value-xyz in it") == "failed with *** in it"
    monkeypatch.delenv("SYNCAUDIT_TEST_SECRET")
    with pytest.raises(SecretError) as info:
        resolve_secret("SYNCAUDIT_TEST_SECRET", purpose="test")
    assert "SYNCAUDIT_TEST_SECRET" in str(info.value)


def test_redact_strips_tokens_from_urls_and_headers() -> None:
    assert redact("GET https://x/y?access_token=abc123&x=1") == "GET https://x/y?access_token=***&x=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
