"""The mapping spec: normalizers (as SQL), phone E.164, and rejection of specs that cannot be audited."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from audit_fixtures import ROOT, write_org_pair
from syncaudit.config import Mapping, PicklistMap, load_config
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import convert_load_folder, lit
from syncaudit.mapping import (
    Metadata,
    check_mapping,
    comparable_sql,
    domain_sql,
    load_metadata,
    normalizer_sql,
    phone_e164,
    register_functions,
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    register_functions(c, Mapping())
    return c


def ev(con: duckdb.DuckDBPyConnection, sql: str, value: str | None) -> str | None:
    return con.execute(f"SELECT {sql.replace('$x', 'x')} FROM (SELECT CAST(? AS VARCHAR) AS x)", [value]).fetchall()[0][
        0
    ]


@pytest.mark.parametrize(
    ("norm", "value", "expected"),
    [
        (["email"], "  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        (["email"], "", None),
        (["trim"], "\u00a0 Pro\u3000", "Pro"),
        (["whitespace"], " Zoë \t  Ærø ", "Zoë Ærø"),
        (["trim", "upper"], " ab-1 ", "AB-1"),
        (["domain"], "https://www.Acme.com/about?x=1", "acme.com"),
        (["domain"], "ann@Acme.com", "acme.com"),
        (["domain"], "acme.co.uk:8080", "acme.co.uk"),
        (["phone_e164"], "(415) 555-0101", "+14155550101"),
        (["phone_e164"], "+45 12 34 56 78", "+4512345678"),
        (["phone_e164"], "415.555.0101 ", "+14155550101"),
        (["none"], "x", "x"),
    ],
)
def test_normalizers(con, norm, value, expected) -> None:
    assert ev(con, normalizer_sql("$x", norm, "salesforce"), value) == expected


def test_picklist_map_applies_to_intercom_only_and_ignores_case(con) -> None:
    pm = [PicklistMap(picklist={"google": "Paid Search", "organic": "Organic"})]
    assert ev(con, normalizer_sql("$x", pm, "intercom"), " Google ") == "Paid Search"
    assert ev(con, normalizer_sql("$x", pm, "intercom"), "Event") == "Event"
    assert ev(con, normalizer_sql("$x", pm, "salesforce"), "google") == "google"


def test_comparable_values_follow_the_salesforce_type(con) -> None:
    assert ev(con, comparable_sql("$x", "double", [], "intercom"), "5") == ev(
        con, comparable_sql("$x", "double", [], "salesforce"), "5.0"
    )
    assert ev(con, comparable_sql("$x", "string", [], "salesforce"), " Pro ") == "Pro"
    assert ev(con, comparable_sql("$x", "boolean", [], "salesforce"), "TRUE") == "true"


def test_phone_e164_keeps_unparseable_digits() -> None:
    assert phone_e164("n/a") is None
    assert phone_e164("12") == "12"
    assert phone_e164("020 7946 0018", "GB") == "+442079460018"


def test_domain_sql_handles_null(con) -> None:
    assert ev(con, domain_sql("$x"), None) is None


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> Metadata:
    tmp = tmp_path_factory.mktemp("md")
    write_org_pair(tmp / "load", n_filler=0)
    snap = convert_load_folder(tmp / "load", tmp / "snap")
    return load_metadata(snap.path)


def test_metadata_from_a_converted_load_folder(metadata: Metadata) -> None:
    assert metadata.sf_field("Contact", "Plan_Type__c")["restrictedPicklist"] is True
    assert metadata.sf_field("Contact", "Seats__c")["type"] == "double"
    assert metadata.sf_field("Lead", "IsConverted")["type"] == "boolean"
    assert metadata.ic_attr("contact", "custom_attributes.plan_type")["data_type"] == "string"
    assert metadata.ic_attr("contact", "email") is not None
    assert metadata.ic_attr("contact", "custom_attributes.trial_status") is None


def test_demo_mapping_passes(metadata: Metadata) -> None:
    check_mapping(load_config(ROOT / "config" / "demo.yaml").mapping, metadata)


def _mapping(**changes) -> Mapping:
    base = load_config(ROOT / "config" / "demo.yaml").mapping
    return base.model_copy(update=changes)


def test_missing_identity_key_is_rejected(metadata: Metadata) -> None:
    m = _mapping()
    people = m.identity.people.model_copy(update={"salesforce_key": "Product_User_ID__c"})
    m = m.model_copy(update={"identity": m.identity.model_copy(update={"people": people})})
    with pytest.raises(ConfigError) as exc:
        check_mapping(m, metadata)
    msg = str(exc.value)
    assert "Contact has no field 'Product_User_ID__c'" in msg and "did you mean 'Product_User_Id__c'" in msg


def test_field_unknown_to_both_systems_is_rejected(metadata: Metadata) -> None:
    m = _mapping()
    bad = m.fields[0].model_copy(update={"name": "typo", "salesforce": "Phon", "intercom": "phon"})
    with pytest.raises(ConfigError, match="fields.typo: neither Salesforce Contact.Phon"):
        check_mapping(m.model_copy(update={"fields": [*m.fields, bad]}), metadata)


def test_field_on_an_unpaired_object_is_rejected(metadata: Metadata) -> None:
    m = _mapping()
    m = m.model_copy(update={"objects": [o for o in m.objects if o.salesforce != "Lead"]})
    with pytest.raises(ConfigError, match="object Lead is not in mapping.objects"):
        check_mapping(m, metadata)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"normalize": ["soundex"]}, "fields.0.normalize"),
        ({"direction": "sideways"}, "direction"),
        ({"direction": "salesforce_to_intercom", "owner": "intercom"}, "set owner: salesforce"),
        ({"objects": ["Contact", "Account"]}, "not both"),
    ],
)
def test_config_rejects_bad_field_mappings(tmp_path: Path, field, message) -> None:
    import yaml

    doc = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    doc["mapping"]["fields"][0].update(field)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert message in str(exc.value)


def test_load_folder_columns_follow_the_contract(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load", n_filler=0)
    snap = convert_load_folder(tmp_path / "load", tmp_path / "snap")
    c = snap.duckdb()
    cols = {r[0]: r[1] for r in c.execute("DESCRIBE ic_contacts").fetchall()}
    assert cols["custom_attributes.plan_type"] == "VARCHAR"
    assert cols["updated_at"].startswith("TIMESTAMP WITH TIME ZONE")
    assert cols["tags"] == "VARCHAR[]" and cols["company_ids"] == "VARCHAR[]"
    lead = {r[0]: r[1] for r in c.execute("DESCRIBE sf_Lead").fetchall()}
    assert lead["IsConverted"] == "BOOLEAN" and lead["LastModifiedDate"].startswith("TIMESTAMP WITH TIME ZONE")
    assert c.execute("SELECT count(*) FROM ic_contact_companies").fetchall()[0][0] == 2
    name = c.execute(f"SELECT Name FROM sf_Contact WHERE Id = {lit('003000000000003AAA')}").fetchall()[0][0]
    assert name == "Zoë Ærøskøbing"
    assert json.loads((snap.path / "manifest.json").read_text())["status"] == "complete"


def test_not_a_load_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a load folder"):
        convert_load_folder(tmp_path, tmp_path / "snap")


def test_a_converted_load_folder_is_reused_until_it_changes(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load", n_filler=0)
    first = convert_load_folder(tmp_path / "load", tmp_path / "snap")
    stamp = (first.path / "salesforce" / "Contact.parquet").stat().st_mtime_ns
    convert_load_folder(tmp_path / "load", tmp_path / "snap")
    assert (first.path / "salesforce" / "Contact.parquet").stat().st_mtime_ns == stamp
    (tmp_path / "load" / "intercom" / "tags.json").write_text('[{"id": "1", "name": "vip"}]')
    convert_load_folder(tmp_path / "load", tmp_path / "snap")
    assert (first.path / "salesforce" / "Contact.parquet").stat().st_mtime_ns != stamp
