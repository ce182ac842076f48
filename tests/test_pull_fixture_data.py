"""A small, hand-made load folder for the pull tests (the generator's data is used where it exists).

Spread over 90 days of created_at so partitioned search has something to split,
with hostile values, contacts with more than 10 companies, archived contacts,
conversations with parts, and a few soft-deleted Salesforce rows.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

import pytest

DAY = 86_400
EPOCH0 = 1_735_689_600  # 2025-01-01T00:00:00Z
ATTRS = [
    {"name": "plan_type", "model": "contact", "data_type": "string", "custom": True, "id": 1},
    {"name": "seats", "model": "contact", "data_type": "integer", "custom": True, "id": 2},
    {"name": "trial_ends", "model": "contact", "data_type": "date", "custom": True, "id": 3},
    {"name": "vip", "model": "contact", "data_type": "boolean", "custom": True, "id": 4},
    {"name": "tier", "model": "company", "data_type": "string", "custom": True, "id": 5},
]


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _iso(day: int) -> str:
    """A past audit date: the sandbox keeps given CreatedDate/LastModifiedDate (SystemModstamp follows)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(EPOCH0 + day * DAY + 3600))


def make_load_dir(root: Path, *, contacts: int = 420, companies: int = 30, seed: int = 5) -> Path:
    """Write DIR/intercom/* and DIR/salesforce/* and return DIR."""
    rng = random.Random(seed)
    ic = root / "intercom"
    ic.mkdir(parents=True)
    (ic / "admins.json").write_text(json.dumps([{"id": "991", "name": "Ada Admin", "email": "ada@example.test"}]))
    (ic / "tags.json").write_text(json.dumps([{"id": "81", "name": "vip"}, {"id": "82", "name": "churn-risk"}]))
    (ic / "data_attributes.json").write_text(json.dumps(ATTRS))
    comp_ids = [_hex(rng) for _ in range(companies)]
    with open(ic / "companies.jsonl", "w") as f:
        for i, cid in enumerate(comp_ids):
            t = EPOCH0 + i * DAY
            f.write(
                json.dumps(
                    {
                        "id": cid,
                        "company_id": f"ACME-{i:03d}",
                        "name": f"Company {i}",
                        "created_at": t,
                        "updated_at": t,
                        "size": i * 10,
                        "custom_attributes": {"tier": "gold" if i % 2 else "silver"},
                    }
                )
                + "\n"
            )
    contact_ids = []
    with open(ic / "contacts.jsonl", "w") as f:
        for i in range(contacts):
            cid = _hex(rng)
            contact_ids.append(cid)
            t = EPOCH0 + (i * 90 * DAY) // contacts + rng.randrange(3600)
            n_comp = 12 if i % 97 == 0 else i % 3
            doc = {
                "id": cid,
                "role": "lead" if i % 5 == 0 else "user",
                "external_id": None if i % 5 == 0 else f"u-{i}",
                "email": f"person{i}@example.test" if i % 11 else None,
                "name": ["Ann Lee", "Bob O'Neil", "Zoë \u202e", "'; DROP TABLE contacts; --"][i % 4],
                "created_at": t,
                "updated_at": t + 60,
                "signed_up_at": t if i % 2 else None,
                "custom_attributes": {
                    "plan_type": "Pro",
                    "seats": i % 50,
                    "trial_ends": t + 14 * DAY,
                    "vip": i % 7 == 0,
                },
                "tags": {"data": [{"id": "81"}] if i % 7 == 0 else []},
                "companies": {"data": [{"id": comp_ids[(i + k) % companies]} for k in range(n_comp)]},
                "archived": i % 53 == 52,
            }
            f.write(json.dumps(doc) + "\n")
    with open(ic / "conversations.jsonl", "w") as f:
        for i in range(12):
            t = EPOCH0 + i * 5 * DAY
            conv = {
                "id": str(1000 + i),
                "created_at": t,
                "updated_at": t + 300,
                "state": "closed" if i % 2 else "open",
                "open": not i % 2,
                "title": f"Question {i}",
                "admin_assignee_id": "991",
                "contacts": {"contacts": [{"id": contact_ids[i * 3]}]},
                "source": {
                    "type": "conversation",
                    "body": "<p>help</p>",
                    "author": {"type": "user", "id": contact_ids[i * 3]},
                },
                "conversation_parts": {
                    "conversation_parts": [
                        {
                            "id": str(5000 + i * 10 + k),
                            "part_type": "comment" if k < 2 else "close",
                            "created_at": t + k * 60,
                            "author": {"type": "admin", "id": "991"},
                            "body": "<p>hi</p>",
                        }
                        for k in range(3 if i % 2 else 2)
                    ]
                },
            }
            f.write(json.dumps(conv) + "\n")
    sf = root / "salesforce"
    sf.mkdir()
    # The custom fields the default mapping reads and the fix-ups write (preflight checks them).
    key = {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True}
    conv = {"name": "Intercom_Conversation_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True}
    (sf / "schema.json").write_text(json.dumps({"Contact": [key], "Lead": [key], "Task": [conv]}))
    with open(sf / "Account.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Name", "AccountNumber", "Website", "CreatedDate", "LastModifiedDate"])
        for i in range(companies):
            w.writerow([f"Company {i}", f"ACME-{i:03d}", f"https://c{i}.example.test", _iso(i), _iso(i + 1)])
    with open(sf / "Contact.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FirstName", "LastName", "Email", "Phone", "CreatedDate", "LastModifiedDate"])
        for i in range(contacts):
            last = ["Lee", "O'Neil", "Zoë", '"quoted", comma'][i % 4]
            w.writerow([f"P{i}", last, f"person{i}@example.test", "", _iso(i % 90), _iso(i % 90 + 2)])
    with open(sf / "Lead.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["LastName", "Company", "Status", "Email", "CreatedDate", "LastModifiedDate"])
        for i in range(40):
            w.writerow([f"Lead{i}", "Acme", "Open - Not Contacted", f"lead{i}@example.test", _iso(i), _iso(i)])
    return root


def test_fixture_folder_is_well_formed(tmp_path: Path) -> None:
    d = make_load_dir(tmp_path, contacts=50, companies=5)
    lines = (d / "intercom" / "contacts.jsonl").read_text().splitlines()
    assert len(lines) == 50 and all(json.loads(x)["id"] for x in lines)
    assert (d / "salesforce" / "Contact.csv").read_text().count("\n") == 51


@pytest.fixture
def load_dir(tmp_path: Path) -> Path:
    return make_load_dir(tmp_path / "load")
