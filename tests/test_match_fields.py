"""Matching fields in the config: defaults, bad input rejected at load (exit 2), nicknames, evidence shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from audit_fixtures import ROOT, write_org_pair
from syncaudit.audit.context import load_nicknames
from syncaudit.audit.run import run_audit
from syncaudit.config import DEFAULT_MATCH_FIELDS, load_config
from syncaudit.errors import ConfigError

CONTACT_PAIR = "    - {salesforce: Contact, intercom: contact, role: user}\n"


def _config(tmp: Path, contact_pair: str) -> Path:
    text = (ROOT / "config" / "demo.yaml").read_text()
    assert CONTACT_PAIR in text
    text = text.replace(CONTACT_PAIR, contact_pair).replace("data_dir: data/demo", f"data_dir: {tmp / 'd'}")
    (tmp / "c.yaml").write_text(text)
    return tmp / "c.yaml"


def _pair(fields: str) -> str:
    return f"    - salesforce: Contact\n      intercom: contact\n      role: user\n      match_fields:\n{fields}"


def test_defaults_cover_the_standard_fields() -> None:
    contact = {f.name: (f.compare, f.salesforce, f.intercom) for f in DEFAULT_MATCH_FIELDS["Contact"]}
    assert contact["first_name"] == ("first_name", "FirstName", "name")
    assert contact["mobile"] == ("phone", "MobilePhone", None)
    assert {"street", "city", "postal_code", "state", "country", "birth_date", "title", "company"} <= set(contact)
    assert contact["city"][2] == "location.city"
    assert {f.name for f in DEFAULT_MATCH_FIELDS["Account"]} >= {"name", "domain", "phone"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "        - {name: first_name, compare: first_name, salesforce: FirstName}\n"
            "        - {name: nick, compare: text, salesforce: Nickname__c}\n",
            ["match field 'nick' of Contact", "no field Nickname__c", "remove the field"],
        ),
        (
            "        - {name: first_name, compare: first_name, salesforce: FirstName}\n"
            "        - {name: born, compare: date, salesforce: Seats__c}\n",
            ["match field 'born' of Contact", "Seats__c is of type double", "date comparison cannot read"],
        ),
        (
            "        - {name: nick, compare: text, salesforce: Nickname__c, intercom: custom_attributes.nick}\n",
            ["none of the fields exists", "leave match_fields out for the defaults"],
        ),
    ],
)
def test_bad_matching_fields_are_rejected_at_load(tmp_path: Path, fields: str, expected: list[str]) -> None:
    write_org_pair(tmp_path / "load", n_filler=0)
    cfg = load_config(_config(tmp_path, _pair(fields)))
    with pytest.raises(ConfigError) as exc:
        run_audit(cfg, str(tmp_path / "load"), tmp_path / "out")
    for text in expected:
        assert text in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_a_comparison_that_does_not_fit_the_object_is_rejected_by_the_config(tmp_path: Path) -> None:
    text = (ROOT / "config" / "demo.yaml").read_text()
    pair = "    - {salesforce: Account, intercom: company}\n"
    bad = pair.replace("}", ", match_fields: [{name: given, compare: first_name, salesforce: Name}]}")
    (tmp_path / "c.yaml").write_text(text.replace(pair, bad))
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.yaml")
    assert "comparison 'first_name' does not apply to companies" in str(exc.value)


def test_bad_matching_field_exits_2_with_one_message(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load", n_filler=0)
    fields = "        - {name: email, compare: email, salesforce: Emial, intercom: email}\n"
    cfg = _config(tmp_path, _pair(fields))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    cmd = [sys.executable, "-m", "syncaudit", "findings", "--config", str(cfg), "--snapshot", str(tmp_path / "load")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "match field 'email' of Contact" in p.stderr and "Emial" in p.stderr and "Traceback" not in p.stderr


def test_nicknames_are_many_to_many() -> None:
    con = duckdb.connect()
    load_nicknames(con)
    groups = dict(con.execute("SELECT nick, groups FROM sa_nickgroups").fetchall())

    def related(a: str, b: str) -> bool:
        return bool(set(groups.get(a, [a])) & set(groups.get(b, [b])))

    for full in ("christopher", "christine", "christian"):
        assert related("chris", full)
    for nick, full in (("sam", "samuel"), ("sam", "samantha"), ("jon", "jonathan"), ("jon", "john")):
        assert related(nick, full)
    assert related("ted", "theodore") and related("ted", "edward")
    assert not related("christopher", "christine") and not related("samuel", "samantha")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Łukasz Wałęsa", "Lukasz Walesa"),  # an integration that drops what is not ASCII
        ("Søren Ødegård", "Soren Odegard"),
        ("Jürgen Großmann", "Jurgen Grossmann"),
        ("Işıl Çelik", "Isil Celik"),
        ("İlker Ömer", "ilker omer"),
        ("Đorđe Ðukić", "Dorde Dukic"),
        ("Ægir Þórsson", "Aegir Thorsson"),
        ("Chloë O'Neil-Smith", "chloe o'neil-smith"),
    ],
)
def test_names_fold_letters_that_have_no_accent_to_strip(a: str, b: str) -> None:
    """strip_accents only removes combining marks: ł ø ß ı đ æ þ are letters of their own and need folding,
    or a name written with them in one system and in ASCII in the other is no exact match."""
    from syncaudit.audit.match_fields import name_sql, text_sql

    con = duckdb.connect()
    for sql in (name_sql, text_sql):
        x, y = con.execute(f"SELECT {sql('a')}, {sql('b')} FROM (SELECT $1 AS a, $2 AS b)", [a, b]).fetchone()
        assert x == y and x is not None


def test_folding_keeps_different_names_apart() -> None:
    from syncaudit.audit.match_fields import name_sql

    con = duckdb.connect()
    pairs = [("Łukasz", "Lukas"), ("Groß", "Gross-Weber"), ("Işıl", "Işık")]
    for a, b in pairs:
        x, y = con.execute(f"SELECT {name_sql('a')}, {name_sql('b')} FROM (SELECT $1 AS a, $2 AS b)", [a, b]).fetchone()
        assert x != y, (a, b, x)
