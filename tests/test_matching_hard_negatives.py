"""Hard negatives of the matching: look-alikes that are not duplicates must not be reported.

A generated org pair gets, at one Account, 30 pairs of colleagues who share a first and a last
name (each with their own email and product user id, present in both systems; a third have their own
phone, a third none, a third the company's switchboard number) and 30 pairs
whose first names are one letter apart (Maria / Marie). None of them is a duplicate or an identity
gap. Positive controls in the same org (a copy with a nickname and the same phone, a Lead copy with a
typo) keep the test from passing by reporting nothing.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from audit_fixtures import ROOT
from crmsandbox.generator import generate
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config

COMMON = [
    ("James", "Smith"), ("Mary", "Johnson"), ("John", "Williams"), ("Patricia", "Brown"), ("Robert", "Jones"),
    ("Jennifer", "Garcia"), ("Michael", "Miller"), ("Linda", "Davis"), ("David", "Rodriguez"), ("Susan", "Martinez"),
    ("William", "Hernandez"), ("Karen", "Lopez"), ("Richard", "Gonzalez"), ("Lisa", "Wilson"), ("Joseph", "Anderson"),
    ("Nancy", "Thomas"), ("Thomas", "Taylor"), ("Sarah", "Moore"), ("Daniel", "Jackson"), ("Betty", "Martin"),
    ("Matthew", "Lee"), ("Sandra", "Perez"), ("Anthony", "Thompson"), ("Ashley", "White"), ("Mark", "Harris"),
    ("Emily", "Sanchez"), ("Steven", "Clark"), ("Donna", "Ramirez"), ("Paul", "Lewis"), ("Michelle", "Robinson"),
]  # fmt: skip
LOOKALIKE_FIRST = [
    ("Maria", "Marie"), ("Karen", "Karin"), ("Erin", "Eric"), ("Daniel", "Daniela"), ("Jon", "Joan"),
    ("Ian", "Jan"), ("Dana", "Diana"), ("Ivan", "Ivana"), ("Leon", "Leona"), ("Carl", "Carla"),
]  # fmt: skip
SURNAMES = ["Keller", "Novak", "Fischer", "Rossi", "Silva", "Dubois", "Kowalski", "Berg", "Moreau", "Costa"]


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return list(rows[0].keys()), rows


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, quoting=csv.QUOTE_ALL)
        w.writeheader()
        w.writerows(rows)


def _plant(load: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[frozenset[str]]]:
    """Append look-alike pairs (returns the Salesforce pairs, the Intercom pairs and the true duplicates)."""
    header, contacts = _read(load / "salesforce" / "Contact.csv")
    ic_lines = (load / "intercom" / "contacts.jsonl").read_text(encoding="utf-8").splitlines()
    ic_users = [json.loads(x) for x in ic_lines]
    template = next(c for c in ic_users if c["role"] == "user" and c["companies"]["data"])
    company_ref = template["companies"]["data"][0]
    sf_tpl = next(r for r in contacts if r["Product_User_Id__c"] == template["external_id"])
    account = sf_tpl["AccountId"]
    domain = sf_tpl["Email"].split("@", 1)[1]
    people: list[tuple[str, str, str]] = []  # (first, last, email local part)
    for first, last in COMMON:
        people.append((first, last, f"{first}.{last}".lower()))
        people.append((first, last, f"{first[0]}{last}2".lower()))
    for (a, b), last in zip(LOOKALIKE_FIRST * 3, SURNAMES * 3, strict=True):
        people.append((a, last, f"{a}.{last}".lower()))
        people.append((b, last, f"{b}.{last}.x".lower()))
    sf_pairs, ic_pairs = [], []
    new_ic = []
    for n, (first, last, local) in enumerate(people):
        sid = f"003HN{n:010d}AAA"
        iid = f"6a0000000000000000{n:06x}"
        puid = f"usr_hn{n:08d}"
        # As in real orgs: a third of the pairs have their own numbers, a third none, a third the switchboard.
        phone = (f"+1 415 555 {n:04d}", "", "+1 415 555 9000")[(n // 2) % 3]
        email = f"{local}@{domain}"
        contacts.append(
            {**sf_tpl, "Id": sid, "FirstName": first, "LastName": last, "Email": email, "Phone": phone,
             "Product_User_Id__c": puid}
        )  # fmt: skip
        new_ic.append(
            {**template, "id": iid, "external_id": puid, "email": email, "email_domain": domain, "phone": phone,
             "name": f"{first} {last}", "companies": {**template["companies"], "data": [company_ref]}}
        )  # fmt: skip
        if n % 2:
            sf_pairs.append((f"003HN{n - 1:010d}AAA", sid))
            ic_pairs.append((f"6a0000000000000000{n - 1:06x}", iid))
    # Positive controls: a nickname copy with the same phone and no key, at the same Account.
    base = contacts[len(contacts) - len(people)]
    contacts.append(
        {**base, "Id": "003HNPOS000001AAA", "FirstName": "Jim", "Email": "jim.smith.home@example.org",
         "Product_User_Id__c": ""}
    )  # fmt: skip
    positives = [frozenset({base["Id"], "003HNPOS000001AAA"})]
    assert base["FirstName"] == "James" and account
    _write(load / "salesforce" / "Contact.csv", header, contacts)
    (load / "intercom" / "contacts.jsonl").write_text(
        "\n".join(ic_lines + [json.dumps(c) for c in new_ic]) + "\n", encoding="utf-8"
    )
    return sf_pairs, ic_pairs, positives


def _plant_shared(load: Path) -> list[tuple[str, str]]:
    """Leads of different people sharing a role mailbox, and a parent Account with a subsidiary on its domain."""
    header, leads = _read(load / "salesforce" / "Lead.csv")
    tpl = leads[0]
    pairs = []
    people = [("Anna", "Berg"), ("Tomas", "Keller"), ("Priya", "Raman"), ("Olu", "Adeyemi")]
    for n, mailbox in enumerate(("info", "support")):
        ids = []
        for k, (first, last) in enumerate(people[2 * n : 2 * n + 2]):
            lid = f"00QHNROLE{n}{k}0000AAA"
            ids.append(lid)
            leads.append(
                {**tpl, "Id": lid, "FirstName": first, "LastName": last, "Company": "Nordwind Trading",
                 "Email": f"{mailbox}@nordwind-trading.example", "Phone": "", "IsConverted": "false",
                 "ConvertedContactId": "", "ConvertedAccountId": "", "ConvertedDate": "", "Product_User_Id__c": ""}
            )  # fmt: skip
        pairs.append((ids[0], ids[1]))
    _write(load / "salesforce" / "Lead.csv", header, leads)
    header, accounts = _read(load / "salesforce" / "Account.csv")
    parent = accounts[0]
    header = [*header, "ParentId"]
    for a in accounts:
        a["ParentId"] = ""
    sub = {**parent, "Id": "001HNSUB000001AAA", "Name": "Subsidiary Holdings GmbH", "AccountNumber": "ACC-HN-0001",
           "ParentId": parent["Id"], "BillingCountry": "Germany"}  # fmt: skip
    accounts.append(sub)
    _write(load / "salesforce" / "Account.csv", header, accounts)
    return [*pairs, (parent["Id"], sub["Id"])]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hardneg")
    load = generate(tmp / "load", 600, 23)
    planted = _plant(load)
    shared = _plant_shared(load)
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp / "data")})
    res = run_audit(cfg, str(load), tmp / "out")
    rows = res.con.execute("SELECT kind, records FROM findings_final").fetchall()
    extras = res.con.execute("SELECT kind, records, extra FROM findings_final WHERE extra IS NOT NULL").fetchall()
    return (*planted, shared), rows, extras


def _reported(rows, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    together = [set(r) for k, r in rows if k in ("duplicate", "identity_gap")]
    return [p for p in pairs if any(set(p) <= s for s in together)]


def test_colleague_namesakes_at_one_account_are_not_duplicates(audited) -> None:
    (sf_pairs, ic_pairs, _, _), rows, _ = audited
    namesakes = len(COMMON)
    assert _reported(rows, sf_pairs[:namesakes]) == []
    assert _reported(rows, ic_pairs[:namesakes]) == []


def test_look_alike_first_names_are_not_duplicates(audited) -> None:
    (sf_pairs, ic_pairs, _, _), rows, _ = audited
    namesakes = len(COMMON)
    assert _reported(rows, sf_pairs[namesakes:]) == []
    assert _reported(rows, ic_pairs[namesakes:]) == []


def test_shared_role_mailboxes_and_a_subsidiary_domain_are_not_duplicates(audited) -> None:
    (_, _, _, shared), rows, _ = audited
    assert _reported(rows, shared) == []


def test_a_true_copy_next_to_the_namesakes_is_still_found(audited) -> None:
    (_, _, positives, _), rows, _ = audited
    dups = [frozenset(r) for k, r in rows if k == "duplicate"]
    assert all(any(p <= d for d in dups) for p in positives), positives


def test_duplicates_and_identity_gaps_carry_their_evidence_field_by_field(audited) -> None:
    (_, _, positives, _), _, extras = audited
    by = {frozenset(r): (k, json.loads(x)) for k, r, x in extras}
    kind, extra = next(v for r, v in by.items() if positives[0] <= r)
    ev = extra["evidence"]
    assert kind == "duplicate" and ev["deterministic"] is False and 0.9 <= ev["match_probability"] < 1
    assert extra["deterministic"] is False
    assert set(ev["weakest_link"]["records"]) <= set(next(r for r in by if positives[0] <= r))
    pair = next(p for p in ev["pairs"] if set(p["records"]) == set(positives[0]))
    fields = {f["field"]: f for f in pair["fields"]}
    assert fields["first_name"]["level"] == "nickname" and fields["first_name"]["weight"] > 0
    assert {fields["first_name"]["left"], fields["first_name"]["right"]} == {"james", "jim"}
    assert fields["phone"]["level"] == "same number" and fields["email"]["level"] == "different"
    assert fields["email"]["weight"] < 0
    gaps = [x["evidence"] for k, _, x in ((k, r, json.loads(x)) for k, r, x in extras) if k == "identity_gap"]
    assert gaps and all({"deterministic", "match_probability", "weakest_link", "pairs"} <= set(g) for g in gaps)
    assert all(f.keys() >= {"field", "left", "right", "level", "weight"} for g in gaps for f in g["pairs"][0]["fields"])


def test_evidence_values_are_masked_for_stakeholders(audited) -> None:
    from syncaudit.report.masking import mask_finding, personal_fields

    (_, _, positives, _), _, extras = audited
    _, records, extra = next((k, r, x) for k, r, x in extras if positives[0] <= set(r))
    personal = personal_fields(load_config(ROOT / "config" / "demo.yaml").mapping.fields)
    masked = mask_finding({"kind": "duplicate", "records": records, "extra": extra}, personal)
    text = json.dumps(masked)
    assert not {"james", "jim", "smith", "james.smith"} & set(re.findall(r"[a-z.]+", text)), text
    fields = {f["field"]: f for f in json.loads(masked["extra"])["evidence"]["pairs"][0]["fields"]}
    assert fields["first_name"]["level"] == "nickname" and fields["first_name"]["left"].endswith("***")
