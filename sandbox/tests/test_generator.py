"""The generator's contract: ids, determinism, file formats, bad input and the CLI."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from crmsandbox.errors import SandboxInputError as ConfigError
from crmsandbox.generator import generate
from crmsandbox.generator.ids import ic_hex_ids, sf_checksum, sf_id_counters, sf_ids

ROOT = Path(__file__).resolve().parents[1]
SF_ID = re.compile(r"^[0-9A-Za-z]{18}$")
PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Task": "00T", "Case": "500", "User": "005"}


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("g") / "small", 300, 5)


# ------------------------------------------------------------------ ids


def test_checksum_matches_the_reference_examples() -> None:
    assert sf_checksum("0019000000B98de") == "AAB"
    assert sf_checksum("001A0000006Vm9r") == "IAC"
    assert sf_checksum("001A0000006VM9r") == "IAG"


def test_sf_ids_are_valid_distinct_and_case_safe() -> None:
    ids = sf_ids("Lead", sf_id_counters(np.random.default_rng(0), 20_000))
    assert len(set(ids)) == len(ids) == len({i.lower() for i in ids})
    for i in ids[:2000]:
        assert SF_ID.match(i) and i.startswith("00Q") and sf_checksum(i[:15]) == i[15:]


def test_intercom_ids_embed_time_and_are_unique() -> None:
    ids = ic_hex_ids(np.array([1734537424] * 3), 0x1BB69F9F21)
    assert ids[0].startswith(f"{1734537424:08x}") and len(set(ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)


# ------------------------------------------------------------------ determinism


def test_same_seed_and_size_give_byte_identical_output(small: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", 300, 5)
    assert digest(small) == digest(again)


def test_another_seed_gives_other_data(small: Path, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", 300, 6)
    a, b = digest(small), digest(other)
    assert a.keys() == b.keys()
    assert a["salesforce/Contact.csv"] != b["salesforce/Contact.csv"]


# ------------------------------------------------------------------ load-folder format


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_salesforce_csvs_follow_the_load_format(small: Path) -> None:
    ids: dict[str, set[str]] = {}
    rows = {}
    for obj, prefix in PREFIX.items():
        rows[obj] = read_csv(small / "salesforce" / f"{obj}.csv")
        assert rows[obj], obj
        ids[obj] = {r["Id"] for r in rows[obj]}
        assert len(ids[obj]) == len(rows[obj])
        for r in rows[obj]:
            assert SF_ID.match(r["Id"]) and r["Id"].startswith(prefix) and sf_checksum(r["Id"][:15]) == r["Id"][15:]
            for k in ("CreatedDate", "LastModifiedDate"):
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", r[k]), (obj, k, r[k])
    people = ids["Contact"] | ids["Lead"]
    for r in rows["Contact"]:
        assert r["AccountId"] in ids["Account"] and r["OwnerId"] in ids["User"] and r["LastName"]
    for r in rows["Lead"]:
        assert r["Company"] and r["LastName"] and r["Status"]
        if r["IsConverted"] == "true":
            assert r["ConvertedContactId"] in ids["Contact"] and r["Status"] == "Closed - Converted"
    for r in rows["Task"]:
        assert r["WhoId"] in people and (not r["WhatId"] or r["WhatId"] in ids["Account"])
    for r in rows["Case"]:
        assert r["ContactId"] in ids["Contact"]
    schema = orjson.loads((small / "salesforce" / "schema.json").read_bytes())
    contact = {f["name"]: f for f in schema["Contact"]}
    assert contact["Product_User_Id__c"]["externalId"] and contact["Product_User_Id__c"]["unique"]
    assert contact["Partner_Code__c"]["length"] == 20 and contact["Plan_Type__c"]["restrictedPicklist"]
    header = next(csv.reader(open(small / "salesforce" / "Contact.csv", encoding="utf-8")))
    assert set(contact) <= set(header)


def test_standard_data_attributes_agree_with_the_emulator_catalog(small: Path) -> None:
    """The load folder lists standard attributes with the data types the Intercom emulator serves."""
    from crmsandbox.intercom.catalog import STANDARD_ATTRIBUTES

    attrs = orjson.loads((small / "intercom" / "data_attributes.json").read_bytes())["data"]
    listed = [a for a in attrs if not a["custom"]]
    assert {a["model"] for a in listed} == {"contact", "company"}
    for a in listed:
        assert (a["name"], a["data_type"]) in STANDARD_ATTRIBUTES[a["model"]], a["name"]


def test_intercom_files_follow_the_api_shapes(small: Path) -> None:
    ic = small / "intercom"
    contacts = [orjson.loads(x) for x in (ic / "contacts.jsonl").read_bytes().splitlines()]
    companies = {c["id"]: c for c in map(orjson.loads, (ic / "companies.jsonl").read_bytes().splitlines())}
    convs = [orjson.loads(x) for x in (ic / "conversations.jsonl").read_bytes().splitlines()]
    admins = orjson.loads((ic / "admins.json").read_bytes())["admins"]
    attrs = orjson.loads((ic / "data_attributes.json").read_bytes())["data"]
    tags = orjson.loads((ic / "tags.json").read_bytes())["data"]
    admin_ids = {a["id"] for a in admins}
    contact_ids = {c["id"] for c in contacts}
    custom = {a["name"]: a for a in attrs if a["custom"]}
    assert {"plan_type", "trial_status", "referral_source", "lifecycle_stage", "partner_code", "seats"} <= set(custom)
    assert all(a["data_type"] in {"string", "integer", "float", "boolean", "date"} for a in attrs)
    for c in contacts:
        assert c["type"] == "contact" and re.fullmatch(r"[0-9a-f]{24}", c["id"]) and c["role"] in {"user", "lead"}
        assert isinstance(c["created_at"], int) and isinstance(c["updated_at"], int)
        assert c["owner_id"] is None or c["owner_id"] in admin_ids
        assert set(c["custom_attributes"]) <= set(custom)
        if c["role"] == "lead":
            assert c["external_id"] is None
        for ref in c["companies"]["data"]:
            assert ref["id"] in companies
    assert {c["role"] for c in contacts} == {"user", "lead"}
    for co in companies.values():
        assert co["type"] == "company" and co["company_id"] and co["user_count"] >= 1
    for cv in convs:
        assert re.fullmatch(r"\d+", cv["id"]) and cv["state"] in {"open", "closed", "snoozed"}
        assert cv["open"] == (cv["state"] != "closed")
        assert cv["contacts"]["contacts"][0]["id"] in contact_ids
        parts = cv["conversation_parts"]["conversation_parts"]
        assert cv["conversation_parts"]["total_count"] == len(parts) >= 2
        assert all(re.fullmatch(r"\d+", p["id"]) for p in parts)
    assert {t["name"] for t in tags} >= {"churn-risk", "vip"}
    assert {cv["state"] for cv in convs} == {"open", "closed", "snoozed"}


def test_admins_and_users_correspond_by_email(small: Path) -> None:
    users = {r["Email"] for r in read_csv(small / "salesforce" / "User.csv")}
    admins = {a["email"] for a in orjson.loads((small / "intercom" / "admins.json").read_bytes())["admins"]}
    shared = users & admins
    assert len(shared) >= 3 and admins - users and users - admins  # support staff, reps without a seat


def test_values_look_international(small: Path) -> None:
    contacts = read_csv(small / "salesforce" / "Contact.csv") + read_csv(small / "salesforce" / "Lead.csv")
    names = " ".join(r["FirstName"] + r["LastName"] for r in contacts)
    assert re.search(r"[À-ÿ]", names) and re.search(r"[^\x00-\u024f]", names)  # accents and other scripts
    emails = [r["Email"] for r in contacts if r["Email"]]
    assert any("+" in e for e in emails) and any(e.lower().endswith("@gmail.com") for e in emails)
    phones = [r["Phone"] for r in contacts if r["Phone"]]
    assert any(p.startswith("+") and " " in p for p in phones) and any(p.startswith("(") for p in phones)


# ------------------------------------------------------------------ rates and bad input


def test_rates_change_what_is_planted(tmp_path: Path) -> None:
    none = {
        k: 0
        for k in (
            "duplicate_contact",
            "duplicate_lead",
            "duplicate_lead_contact",
            "duplicate_intercom",
            "ambiguous_link",
        )
    }
    out = generate(tmp_path / "r", 300, 5, rates={**none, "orphan_salesforce": 0.1})
    truth = orjson.loads((out / "truth.json").read_bytes())
    dups = {f["object"] for f in truth["findings"] if f["kind"] == "duplicate" and f["expected"]}
    assert dups == {"Account"}
    assert truth["generator"]["rates"]["orphan_salesforce"] == 0.1
    assert sum(f["kind"] == "orphan" and f["system"] == "salesforce" for f in truth["findings"]) >= 25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "--size must be"),
        ({"size": "many"}, "--size must be"),
        ({"seed": -1}, "--seed must be"),
        ({"rates": {"duplicates": 0.1}}, "unknown defect rate 'duplicates'"),
        ({"rates": {"orphan_intercom": 0.9}}, "must be a number from 0 to 0.2"),
    ],
)
def test_bad_input_is_refused_with_the_fix(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"out_dir": tmp_path / "x", "size": 300, "seed": 1, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        generate(**args)
    assert not (tmp_path / "x").exists()


def test_a_foreign_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not written by `sandbox generate`"):
        generate(tmp_path / "mine", 300, 1)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "crmsandbox", "generate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def test_cli_generates_and_reports(tmp_path: Path) -> None:
    out = run_cli("--size", "120", "--seed", "3", "--out", "pair", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "planted:" in out.stdout and (tmp_path / "pair" / "truth.json").is_file()
    # regenerating into its own folder replaces it
    assert run_cli("--size", "120", "--seed", "3", "--out", "pair", cwd=tmp_path).returncode == 0


def test_cli_bad_size_is_one_clear_line(tmp_path: Path) -> None:
    out = run_cli("--size", "0", "--out", "pair", cwd=tmp_path)
    assert out.returncode == 2
    assert "--size must be" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "pair").exists()


def test_lookalike_colleagues_are_split_up() -> None:
    from crmsandbox.generator.world import _separate_lookalikes

    first = np.array(["Jon", "John", "Anna", "Schmidt", "Maria", "Mario"], dtype=object)
    last = np.array(["Smith", "Smith", "Schmidt", "Anna", "Garcia", "Lopez"], dtype=object)
    company = np.zeros(6, dtype=np.int32)
    _separate_lookalikes(np.random.default_rng(1), first, last, company, 50)
    assert company[0] != company[1], "typo-level names"
    assert company[2] != company[3], "transposed names"
    assert company[4] == company[5] == 0, "different people stay"


def test_type_conflict_is_planted_on_request(tmp_path: Path) -> None:
    out = generate(tmp_path / "t", 300, 5, rates={"schema_type_conflict": 1})
    attrs = {a["name"]: a for a in orjson.loads((out / "intercom" / "data_attributes.json").read_bytes())["data"]}
    assert attrs["seats"]["data_type"] == "string"
    seats = [
        orjson.loads(x)["custom_attributes"].get("seats")
        for x in (out / "intercom" / "contacts.jsonl").read_bytes().splitlines()
    ]
    assert {type(s) for s in seats if s is not None} == {str}
    truth = orjson.loads((out / "truth.json").read_bytes())
    assert [f for f in truth["findings"] if f.get("variant") == "type"] == [
        {
            **next(f for f in truth["findings"] if f.get("variant") == "type"),
            "kind": "schema_conflict",
            "field": "seats",
            "records": [],
        }
    ]


def test_type_conflict_is_off_by_default(small: Path) -> None:
    attrs = {a["name"]: a for a in orjson.loads((small / "intercom" / "data_attributes.json").read_bytes())["data"]}
    assert attrs["seats"]["data_type"] == "integer"


def test_field_history_dates_each_planted_drift_on_the_salesforce_side(small: Path, tmp_path: Path) -> None:
    """Every planted drift (defects and in-flight decoys) has the Salesforce field's last change, at the time the
    truth implies: the change itself when Salesforce is newer, before the Intercom change otherwise; and the
    sandbox loads the rows."""
    truth = orjson.loads((small / "truth.json").read_bytes())
    hist: dict[tuple[str, str], str] = {}
    for obj in ("Contact", "Lead", "Account"):
        for r in read_csv(small / "salesforce" / f"{obj}History.csv"):
            hist[(r[f"{obj}Id"], r["Field"])] = r["CreatedDate"]
    drifts = [f for f in truth["findings"] if f["kind"] == "field_drift"]
    assert drifts and any(not f["expected"] for f in drifts)
    contacts = {r["Id"]: r for r in read_csv(small / "salesforce" / "Contact.csv")}
    ic = {c["id"]: c for c in map(orjson.loads, open(small / "intercom" / "contacts.jsonl", "rb"))}
    from crmsandbox.generator.history import HISTORY_NAME, SF_FIELD

    for f in drifts:
        api = SF_FIELD[f["field"]]
        at = hist[(f["records"][0], HISTORY_NAME.get(api, api))]
        sf_id, ic_id = f["records"]
        if sf_id in contacts:
            assert at == contacts[sf_id]["LastModifiedDate"]
            ic_t = ic[ic_id]["updated_at"]
            at_unix = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
            assert (at_unix > ic_t) == (f["newer"] == "salesforce"), f
    from crmsandbox.salesforce import SalesforceService

    svc = SalesforceService(tmp_path / "state", small)
    n = svc.backend.store.conn().execute("SELECT COUNT(*) FROM ContactHistory").fetchone()[0]
    assert n == sum(1 for k in hist if k[0].startswith("003"))
    assert svc.backend.tracked["Contact"] >= {"Email", "Plan_Type__c", "OwnerId"}
    svc.close()


def _contacts(folder: Path) -> list[dict[str, str]]:
    with (folder / "salesforce" / "Contact.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _full_names(folder: Path) -> list[tuple[str, str]]:
    """The folded full name of each person with a product user id (one per id)."""
    from crmsandbox.generator.pools import fold

    people = {c["Product_User_Id__c"]: c for c in _contacts(folder) if c["Product_User_Id__c"]}
    return [(fold(c["FirstName"]).strip(), fold(c["LastName"]).strip()) for c in people.values()]


def test_name_frequency_repeats_common_names_and_lists_the_namesakes(tmp_path: Path) -> None:
    """Rate name_frequency 1 (the default): names drawn by how common they are, deterministic per seed; the
    namesakes this makes are different people (own email and key) and truth.json lists them as expected: false.
    Rate 0 makes every full name unique."""
    import json
    from collections import Counter

    from crmsandbox.generator.pools import fold

    rates = {"name_frequency": 1}
    real = generate(tmp_path / "real", 4000, 3, rates)
    assert digest(real) == digest(generate(tmp_path / "again", 4000, 3))  # the default, and deterministic
    uniform = generate(tmp_path / "uniform", 4000, 3, {"name_frequency": 0})
    # full names held by two or more people (Contacts with distinct product user ids)
    full = {k: Counter(_full_names(f)) for k, f in (("real", real), ("uniform", uniform))}
    last = Counter(fold(c["LastName"]).strip() for c in _contacts(real))
    assert last["smith"] >= 12 and last.most_common(1)[0][1] >= 20, last.most_common(5)
    shared = sum(n for n in full["real"].values() if n > 1)
    assert shared >= 50 and shared > 2 * sum(n for n in full["uniform"].values() if n > 1)
    truth = json.loads((real / "truth.json").read_text())["findings"]
    natural = [f for f in truth if f.get("variant") == "natural_namesake"]
    assert natural and all(f["hard_negative"] and f["expected"] is False for f in natural)
    by_id = {c["Id"]: c for c in _contacts(real)}
    pairs = [f["records"] for f in natural if f["kind"] == "duplicate" and f["system"] == "salesforce"]
    assert len(pairs) * 4 == len(natural)
    for a, b in (map(by_id.get, p) for p in pairs):
        assert (fold(a["FirstName"]), fold(a["LastName"])) == (fold(b["FirstName"]), fold(b["LastName"]))
        assert a["Email"].lower() != b["Email"].lower()
        assert (
            a["Product_User_Id__c"] and b["Product_User_Id__c"] and a["Product_User_Id__c"] != b["Product_User_Id__c"]
        )
