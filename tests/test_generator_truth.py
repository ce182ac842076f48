"""truth.json and the written files agree, checked from the files alone (DuckDB over CSV/JSONL).

The checks re-implement linking and normalisation from config/demo.yaml independently of the
generator's code: every planted record exists and shows its defect, and nothing outside truth
looks like a defect (no unplanned shared keys/emails/names/phones, no drift, no orphan, no
unlogged conversation).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import orjson
import phonenumbers
import pytest

from crmsandbox.generator import generate
from syncaudit.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SIZE, SEED = int(os.environ.get("GEN_TEST_SIZE", 1500)), int(os.environ.get("GEN_TEST_SEED", 11))
KINDS = {
    "duplicate", "orphan", "identity_gap", "ambiguous_link", "stale_link", "field_drift",
    "schema_conflict", "quality", "conversation_unlogged", "conversation_misfiled", "rule_violation",
}  # fmt: skip
LEGAL = re.compile(
    r"[ ,]+(inc|llc|corp|ltd|plc|gmbh|ag|sas|sarl|s\.l\.|s\.a\.( de c\.v\.)?|s\.r\.l\.|s\.p\.a\.|ltda\.|b\.v\.|ab|a\.s\.|"
    r"s\.r\.o\.|ooo|tov|a\.e\.|k\.k\.|co\., ltd\.|pvt\. ltd\.|oy|aps)\.?$"
)
URL = re.compile(r"https://app\.intercom\.com/a/inbox/([a-z0-9]+)/inbox/conversation/(\d+)")


def fold(s: str | None) -> str:
    d = unicodedata.normalize("NFKD", s or "")
    return " ".join("".join(c for c in d if not unicodedata.combining(c)).casefold().split())


def norm_email(v: str | None) -> str | None:
    return v.strip().lower() if v else None


def canon_email(v: str | None) -> str | None:
    e = norm_email(v)
    if not e:
        return None
    local, _, domain = e.partition("@")
    local = local.split("+")[0]
    return f"{local.replace('.', '') if domain == 'gmail.com' else local}@{domain}"


def e164(v: str | None) -> str | None:
    if not v:
        return None
    try:
        n = phonenumbers.parse(v, "US")
    except phonenumbers.NumberParseException:
        return "invalid:" + v
    if not phonenumbers.is_valid_number(n):
        return "invalid:" + v
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def domain(v: str | None) -> str | None:
    if not v:
        return None
    v = re.sub(r"^https?://", "", v.strip().lower())
    return v.removeprefix("www.").split("/")[0]


class Org:
    """A generated org pair loaded from its files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        db = duckdb.connect()
        self.sf: dict[str, dict[str, dict[str, Any]]] = {}
        for obj in ("User", "Account", "Contact", "Lead", "Task", "Case"):
            rel = db.sql(f"select * from read_csv('{path}/salesforce/{obj}.csv', all_varchar=true, header=true)")
            cols = rel.columns
            self.sf[obj] = {r[0]: dict(zip(cols, r, strict=True)) for r in rel.fetchall()}
        self.ic: dict[str, dict[str, dict[str, Any]]] = {}
        for name in ("contacts", "companies", "conversations"):
            rows = [orjson.loads(line) for line in (path / "intercom" / f"{name}.jsonl").read_bytes().splitlines()]
            self.ic[name] = {r["id"]: r for r in rows}
        admins = orjson.loads((path / "intercom" / "admins.json").read_bytes())["admins"]
        self.user_email = {k: norm_email(u["Email"]) for k, u in self.sf["User"].items()}
        self.admin_email = {a["id"]: norm_email(a["email"]) for a in admins}
        self.truth = orjson.loads((path / "truth.json").read_bytes())
        self.findings = self.truth["findings"]
        self.as_of = self.truth["generator"]["as_of_unix"]
        self.in_truth: dict[str, list[dict]] = defaultdict(list)
        for f in self.findings:
            for r in f["records"]:
                self.in_truth[r].append(f)
        self.open_leads = {k: v for k, v in self.sf["Lead"].items() if v["IsConverted"] == "false"}
        self.users = {k: v for k, v in self.ic["contacts"].items() if v["role"] == "user"}
        self.ic_leads = {k: v for k, v in self.ic["contacts"].items() if v["role"] == "lead"}

    def sf_record(self, rid: str) -> tuple[str, dict]:
        for obj, rows in self.sf.items():
            if rid in rows:
                return obj, rows[rid]
        raise KeyError(rid)

    def of(self, kind: str) -> list[dict]:
        return [f for f in self.findings if f["kind"] == kind]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    return Org(generate(tmp_path_factory.mktemp("org") / "pair", SIZE, SEED))


@pytest.fixture(scope="module")
def mapping() -> Any:
    return load_config(ROOT / "config" / "demo.yaml").mapping


def sf_value(rec: dict, fld: Any) -> Any:
    v = rec.get(fld.salesforce) if fld.salesforce != "Name" or "Name" in rec else None
    if fld.salesforce == "Name" and "FirstName" in rec:
        v = " ".join(x for x in (rec["FirstName"], rec["LastName"]) if x)
    return v


def ic_value(rec: dict, fld: Any) -> Any:
    v: Any = rec
    for part in fld.intercom.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def compared(org: Org, sf: dict, ic: dict, fld: Any) -> tuple[Any, Any]:
    """Both sides of a mapped field as compared: references (owners) through their user's and admin's email.
    An owner with no Intercom admin, and no Intercom owner, is nothing the sync could write: equal."""
    if fld.lookup is None:
        return normalise(sf_value(sf, fld), fld, "salesforce"), normalise(ic_value(ic, fld), fld, "intercom")
    a, b = org.user_email.get(sf[fld.salesforce]), org.admin_email.get(ic[fld.intercom])
    if b is None and a not in org.admin_email.values():
        a = None
    return a, b


def normalise(v: Any, fld: Any, side: str) -> Any:
    if v is None or v == "":
        return None
    for n in fld.normalize:
        if isinstance(n, str):
            v = {"email": norm_email, "phone_e164": e164, "whitespace": lambda x: " ".join(str(x).split()),
                 "trim": lambda x: str(x).strip(), "upper": lambda x: str(x).upper(), "domain": domain,
                 "lower": lambda x: str(x).lower()}.get(n, lambda x: x)(v)  # fmt: skip
        elif side == "intercom":
            v = n.picklist.get(str(v).lower(), v)
    if fld.name in ("seats", "employees"):
        v = float(v)
    return v


# ------------------------------------------------------------------ linking, independently of the generator


def linked_pairs(org: Org) -> list[tuple[str, str, str]]:
    """(sf id, ic id, object) pairs by the identity rules: key for users, email for leads, company key."""
    pairs = []
    by_key = defaultdict(list)
    for cid, c in org.sf["Contact"].items():
        if c["Product_User_Id__c"]:
            by_key[c["Product_User_Id__c"]].append(cid)
    for uid, u in org.users.items():
        for cid in by_key.get(u["external_id"] or "", []):
            pairs.append((cid, uid, "Contact"))
    by_email = defaultdict(list)
    for lid, lead in org.open_leads.items():
        by_email[norm_email(lead["Email"])].append(lid)
    for iid, c in org.ic_leads.items():
        for lid in by_email.get(norm_email(c["email"]), []) if c["email"] else []:
            pairs.append((lid, iid, "Lead"))
    by_num = defaultdict(list)
    for aid, a in org.sf["Account"].items():
        by_num[a["AccountNumber"]].append(aid)
    for coid, co in org.ic["companies"].items():
        for aid in by_num.get(co["company_id"], []):
            pairs.append((aid, coid, "Account"))
    return pairs


# ------------------------------------------------------------------ truth is complete and well formed


def test_every_kind_is_planted_and_well_formed(org: Org) -> None:
    kinds = Counter(f["kind"] for f in org.findings)
    assert set(kinds) == KINDS, kinds
    for f in org.findings:
        assert f["system"] in {"salesforce", "intercom", "both"}
        assert f["records"] and len(set(f["records"])) == len(f["records"])
        assert re.fullmatch(r"[0-9a-f]{16}", f["id"])
        sf_part = [r for r in f["records"] if len(r) == 18 and not re.fullmatch(r"[0-9a-f]{24}", r)]
        assert f["records"][: len(sf_part)] == sf_part, "Salesforce ids come first"
    assert len({f["id"] for f in org.findings}) == len(org.findings)
    assert org.truth["summary"] == dict(sorted(Counter(f["kind"] for f in org.findings if f["expected"]).items()))


def test_every_planted_record_exists(org: Org) -> None:
    for f in org.findings:
        for r in f["records"]:
            exists = r in org.ic["contacts"] or r in org.ic["companies"] or r in org.ic["conversations"]
            if not exists:
                org.sf_record(r)  # raises KeyError when missing


# ------------------------------------------------------------------ each kind shows its defect


def test_duplicates(org: Org) -> None:
    for f in org.of("duplicate"):
        if f.get("hard_negative"):
            continue
        recs = f["records"]
        if f["system"] == "intercom":
            rows = [org.ic["contacts"][r] for r in recs]
            assert len({norm_email(r["email"]) for r in rows}) == 1
            assert rows[1]["role"] == "lead" and rows[1]["external_id"] is None
            continue
        objs, rows = zip(*(org.sf_record(r) for r in recs), strict=True)
        if f["object"] == "Account":
            assert objs == ("Account", "Account")
            assert domain(rows[0]["Website"]) == domain(rows[1]["Website"])
            assert fold(rows[0]["Name"]).split(",")[0].split()[:1] == fold(rows[1]["Name"]).split(",")[0].split()[:1]
            if f["variant"] == "same_number":
                assert rows[0]["AccountNumber"] == rows[1]["AccountNumber"]
            else:
                assert rows[1]["AccountNumber"] is None
            continue
        a, b = rows
        if f["object"] == "Lead/Contact":
            assert objs == ("Contact", "Lead") and b["IsConverted"] == "false"
        else:
            assert objs == (f["object"], f["object"])
        assert b["Product_User_Id__c"] is None or f["object"] == "Lead/Contact"
        assert b["CreatedDate"] > a["CreatedDate"]
        fa, la, fb, lb = (fold(x) for x in (a["FirstName"], a["LastName"], b["FirstName"], b["LastName"]))
        v = f["variant"]
        if v in ("exact", "case_whitespace", "lead_and_contact"):
            # compared upper-cased too: "YILMAZ" is "Yılmaz" in capitals, though casefold keeps ı apart from i
            ci = [fold((x or "").upper()) for x in (a["FirstName"], a["LastName"], b["FirstName"], b["LastName"])]
            assert ci[:2] == ci[2:] and norm_email(a["Email"]) == norm_email(b["Email"])
            if v == "case_whitespace":
                assert (a["FirstName"], a["LastName"], a["Email"]) != (b["FirstName"], b["LastName"], b["Email"])
        elif v == "transposed":
            assert (fa, la) == (lb, fb)
        elif v == "nickname":
            assert la == lb and fa != fb
        elif v == "typo":
            assert fa == fb and la != lb and abs(len(a["LastName"]) - len(b["LastName"])) <= 1
        if v in ("typo", "nickname", "transposed") and a["Phone"]:
            assert a["Phone"] == b["Phone"]


def test_hard_negatives_look_alike_but_are_other_people(org: Org) -> None:
    """Namesakes, look-alike names and family members: expected false, own email, phone and key."""
    negs = [f for f in org.findings if f.get("hard_negative")]
    variants = {f["variant"] for f in negs}
    planted = {"namesake_colleague", "namesake_elsewhere", "lookalike_colleague", "family_member"}
    # Names drawn by frequency (the default) make namesakes by chance too, listed as natural_namesake.
    natural = {"natural_namesake"} if org.truth["generator"]["rates"]["name_frequency"] > 0 else set()
    assert variants == planted | natural
    assert all(not f["expected"] for f in negs)
    for f in negs:
        if f["kind"] != "duplicate" or f["system"] != "salesforce":
            continue
        (_, a), (_, b) = (org.sf_record(r) for r in f["records"])
        fa, la, fb, lb = (fold(x) for x in (a["FirstName"], a["LastName"], b["FirstName"], b["LastName"]))
        assert la == lb and norm_email(a["Email"]) != norm_email(b["Email"])
        assert (
            a["Product_User_Id__c"] and b["Product_User_Id__c"] and a["Product_User_Id__c"] != b["Product_User_Id__c"]
        )
        v = f["variant"]
        if v == "natural_namesake":  # two clean users who happen to share a full name
            assert (fa, la) == (fb, lb) and e164(a["Phone"]) != e164(b["Phone"])
            continue
        assert (fa == fb) == v.startswith("namesake")
        assert (a["AccountId"] == b["AccountId"]) == v.endswith("colleague"), v
        assert (e164(a["Phone"]) == e164(b["Phone"])) == (v == "family_member")
        if v == "lookalike_colleague":
            assert _edits(fa, fb) == 1, (fa, fb)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def test_orphans(org: Org) -> None:
    keys = {c["Product_User_Id__c"] for c in org.sf["Contact"].values()} | {
        c["Product_User_Id__c"] for c in org.sf["Lead"].values()
    }
    sf_emails = {norm_email(r["Email"]) for o in ("Contact", "Lead") for r in org.sf[o].values()}
    ic_keys = {c["external_id"] for c in org.ic["contacts"].values()}
    ic_emails = {norm_email(c["email"]) for c in org.ic["contacts"].values()}
    numbers = {a["AccountNumber"] for a in org.sf["Account"].values()}
    company_ids = {c["company_id"] for c in org.ic["companies"].values()}
    for f in org.of("orphan"):
        (r,) = f["records"]
        if f["object"] == "Account":
            assert org.sf["Account"][r]["AccountNumber"] not in company_ids
        elif f["object"] == "company":
            assert org.ic["companies"][r]["company_id"] not in numbers
        elif f["system"] == "salesforce":
            rec = org.sf[f["object"]][r]
            assert rec["Product_User_Id__c"] not in ic_keys or rec["Product_User_Id__c"] is None
            assert norm_email(rec["Email"]) not in ic_emails
        else:
            rec = org.ic["contacts"][r]
            assert rec["external_id"] not in keys or rec["external_id"] is None
            assert norm_email(rec["email"]) not in sf_emails


def test_identity_gaps(org: Org) -> None:
    for f in org.of("identity_gap"):
        if f.get("hard_negative"):
            continue
        sf, ic = org.sf["Contact"][f["records"][0]], org.ic["contacts"][f["records"][1]]
        assert norm_email(sf["Email"]) == norm_email(ic["email"])
        assert sf["Product_User_Id__c"] != ic["external_id"]


def test_ambiguous_links(org: Org) -> None:
    for f in org.of("ambiguous_link"):
        recs = f["records"]
        if f["object"] == "Account":
            a, b, co = org.sf["Account"][recs[0]], org.sf["Account"][recs[1]], org.ic["companies"][recs[2]]
            assert a["AccountNumber"] == b["AccountNumber"] == co["company_id"]
        elif f["object"] == "Contact":
            c, lead, u = org.sf["Contact"][recs[0]], org.sf["Lead"][recs[1]], org.ic["contacts"][recs[2]]
            assert c["Product_User_Id__c"] == lead["Product_User_Id__c"] == u["external_id"]
            assert lead["IsConverted"] == "false"
        else:  # Lead pairs: the email is the identity
            emails = []
            for r in recs:
                emails.append(
                    norm_email(
                        org.ic["contacts"][r]["email"] if r in org.ic["contacts"] else org.sf["Lead"][r]["Email"]
                    )
                )
            assert len(set(emails)) == 1 and len(recs) == 3


def test_stale_links(org: Org) -> None:
    for f in org.of("stale_link"):
        lead, contact, user = (
            org.sf["Lead"][f["records"][0]],
            org.sf["Contact"][f["records"][1]],
            org.ic["contacts"][f["records"][2]],
        )
        assert lead["IsConverted"] == "true" and lead["ConvertedContactId"] == f["records"][1]
        assert lead["Product_User_Id__c"] == user["external_id"] and contact["Product_User_Id__c"] is None
        assert lead["ConvertedDate"] >= lead["CreatedDate"][:10]


def _ts(v: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp())


def test_field_drift(org: Org, mapping: Any) -> None:
    fields = {f.name: f for f in mapping.fields}
    lag = {"intercom_to_salesforce": mapping.sync_timing.intercom_to_salesforce_s,
           "salesforce_to_intercom": mapping.sync_timing.salesforce_to_intercom_s}  # fmt: skip
    for f in org.of("field_drift"):
        fld = fields[f["field"]]
        sf_id, ic_id = f["records"]
        sf = org.sf[f["object"]][sf_id]
        ic = org.ic["contacts" if f["object"] != "Account" else "companies"][ic_id]
        a, b = compared(org, sf, ic, fld)
        assert a != b, f
        t_sf, t_ic = _ts(sf["LastModifiedDate"]), ic["updated_at"]
        assert (t_sf > t_ic) == (f["newer"] == "salesforce"), f
        assert f["changed_by"] == ("owner" if f["newer"] == fld.owner else "non_owner")
        newest = max(t_sf, t_ic)
        direction = "salesforce_to_intercom" if fld.owner == "salesforce" else "intercom_to_salesforce"
        assert f["within_lag"] == (org.as_of - newest < lag[direction] and f["changed_by"] == "owner")
        assert f["expected"] == (not f["within_lag"])
    assert any(not f["expected"] for f in org.of("field_drift")), "in-flight changes are planted too"
    owners = [f for f in org.of("field_drift") if f["field"] == "owner"]
    assert {f["object"] for f in owners} == {"Contact", "Lead"} and any(f["expected"] for f in owners), owners


def test_schema_conflicts(org: Org) -> None:
    schema = orjson.loads((org.path / "salesforce" / "schema.json").read_bytes())
    contact = {f["name"]: f for f in schema["Contact"]}
    picklist_map = {"google", "adwords", "organic", "partner", "referral", "event", "outbound"}
    for f in org.of("schema_conflict"):
        for r in f["records"]:
            ca = org.ic["contacts"][r]["custom_attributes"]
            if f["field"] == "plan_type":
                assert ca["plan_type"] not in [v["value"] for v in contact["Plan_Type__c"]["picklistValues"]]
            elif f["field"] == "partner_code":
                assert len(ca["partner_code"].strip()) > contact["Partner_Code__c"]["length"]
            else:
                assert ca["referral_source"] not in picklist_map
            assert any(d["field"] == f["field"] and d["records"][1] == r for d in org.of("field_drift"))


def test_quality(org: Org) -> None:
    email_ok = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
    allowed = {"Subscriber", "Lead", "MQL", "SQL", "Opportunity", "Customer"}
    for f in org.of("quality"):
        (r,) = f["records"]
        if f["object"] in ("Account", "company"):
            rec = org.sf["Account"][r] if f["object"] == "Account" else org.ic["companies"][r]
            assert rec["Industry" if f["object"] == "Account" else "industry"] is None
            continue
        if f["system"] == "salesforce":
            rec = org.sf[f["object"]][r]
            email, phone, stage = rec["Email"], rec["Phone"], rec["Lifecycle_Stage__c"]
        else:
            rec = org.ic["contacts"][r]
            email, phone, stage = rec["email"], rec["phone"], rec["custom_attributes"]["lifecycle_stage"]
        exp = f["expectation"]
        if exp == "valid_email":
            assert not email_ok.match(email.strip())
        elif exp == "not_null":
            assert email is None
        elif exp == "valid_phone":
            assert e164(phone).startswith("invalid:")
        else:
            assert stage not in allowed


def _counterparts(org: Org) -> dict[str, str]:
    """Intercom contact id -> Salesforce record a conversation of it should be logged on."""
    out = {}
    by_key = {c["Product_User_Id__c"]: k for k, c in org.sf["Contact"].items() if c["Product_User_Id__c"]}
    by_email_c = defaultdict(list)
    for k, c in org.sf["Contact"].items():
        by_email_c[norm_email(c["Email"])].append(k)
    by_email_l = defaultdict(list)
    for k, c in org.open_leads.items():
        by_email_l[norm_email(c["Email"])].append(k)
    for k, c in org.ic["contacts"].items():
        if c["role"] == "user":
            hit = by_key.get(c["external_id"]) or (by_email_c.get(norm_email(c["email"])) or [None])[0]
        else:
            hit = (by_email_l.get(norm_email(c["email"])) or [None])[0]
        if hit:
            out[k] = hit
    return out


def test_conversations(org: Org) -> None:
    _check_conversations(org)


def test_conversations_with_more_activity(tmp_path: Path) -> None:
    """About one conversation and one Task per person: every conversation still logged as truth says."""
    busy = {"conversations_per_person": 1.05, "calls_per_person": 0.33}
    org = Org(generate(tmp_path / "pair", 1000, SEED, activity=busy))
    assert len(org.ic["conversations"]) > 800 and len(org.sf["Task"]) > 800
    assert org.of("conversation_unlogged") and org.of("conversation_misfiled")
    _check_conversations(org)


def _check_conversations(org: Org) -> None:
    app_id = org.truth["generator"]["intercom_app_id"]
    logged: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for obj, who_field in (("Task", "WhoId"), ("Case", "ContactId")):
        for rid, rec in org.sf[obj].items():
            m = URL.search(rec["Description"] or "")
            if m:
                assert m.group(1) == app_id
                logged[m.group(2)].append((obj, rid, rec[who_field]))
    cp = _counterparts(org)
    unlogged = {f["records"][0] for f in org.of("conversation_unlogged")}
    misfiled = {f["records"][1]: f for f in org.of("conversation_misfiled")}
    for cid, conv in org.ic["conversations"].items():
        contact = conv["contacts"]["contacts"][0]["id"]
        if cid in unlogged:
            assert conv["state"] == "closed" and cid not in logged and contact in cp
        elif cid in misfiled:
            ((obj, rid, who),) = logged[cid]
            assert rid == misfiled[cid]["records"][0]
            assert obj == "Case" or who != cp[contact]
            assert misfiled[cid]["counterpart"] == cp[contact]
        elif conv["state"] == "closed" and contact in cp:
            assert logged[cid] == [("Task", logged[cid][0][1], cp[contact])], cid
        else:
            assert cid not in logged, "open, snoozed and unmatched conversations are not logged"


# ------------------------------------------------------------------ nothing unplanted looks like a defect


def _clusters_ok(groups: dict[Any, list[str]], org: Org, what: str) -> None:
    for key, ids in groups.items():
        if len(ids) < 2:
            continue
        shared = [f for f in org.findings if set(ids) <= set(f["records"])]
        assert shared, f"unplanned shared {what} {key!r}: {ids}"


NAME_CHECK = (
    "name",
    lambda r: (fold(r["FirstName"]), fold(r["LastName"])),
    lambda r: fold(r["name"]) if r["name"] else None,
)


def test_no_unplanned_shared_keys_emails_names_phones(org: Org) -> None:
    _no_unplanned_shared(org, names=org.truth["generator"]["rates"]["name_frequency"] == 0)


def test_with_unique_names_no_two_people_share_a_name_unplanned(tmp_path: Path) -> None:
    """Rate name_frequency 0: every full name is unique unless a planted defect or look-alike shares it."""
    _no_unplanned_shared(Org(generate(tmp_path / "pair", 800, SEED, {"name_frequency": 0})), names=True)


def _no_unplanned_shared(org: Org, names: bool) -> None:
    """Shared keys, emails, phones (and names, when every full name is drawn unique) belong to a truth entry.
    With names drawn by frequency, two people sharing a name is no defect (Leads and touched people among
    them are not listed), so names are checked only when they are drawn unique."""
    people_sf = {**org.sf["Contact"], **org.open_leads}
    for what, sf_fn, ic_fn in (
        ("email", lambda r: canon_email(r["Email"]), lambda r: canon_email(r["email"])),
        *((NAME_CHECK,) if names else ()),
        ("phone", lambda r: e164(r["Phone"]), lambda r: e164(r["phone"])),
        ("key", lambda r: r["Product_User_Id__c"], lambda r: r["external_id"]),
    ):
        g = defaultdict(list)
        for k, r in people_sf.items():
            if sf_fn(r):
                g[sf_fn(r)].append(k)
        _clusters_ok(g, org, f"Salesforce {what}")
        g = defaultdict(list)
        for k, r in org.ic["contacts"].items():
            if ic_fn(r):
                g[ic_fn(r)].append(k)
        _clusters_ok(g, org, f"Intercom {what}")
    for what, fn in (("AccountNumber", lambda r: r["AccountNumber"]), ("website", lambda r: domain(r["Website"])),
                     ("name", lambda r: re.sub(r"[\W_]", "", LEGAL.sub("", fold(r["Name"]))))):  # fmt: skip
        g = defaultdict(list)
        for k, r in org.sf["Account"].items():
            if fn(r):
                g[fn(r)].append(k)
        _clusters_ok(g, org, f"Account {what}")


def test_every_unplanned_record_is_linked_once(org: Org) -> None:
    pairs = linked_pairs(org)
    sf_links, ic_links = Counter(p[0] for p in pairs), Counter(p[1] for p in pairs)
    for rows in (org.sf["Contact"], org.open_leads, org.sf["Account"], org.ic["contacts"], org.ic["companies"]):
        for rid in rows:
            if rid in org.in_truth:
                continue
            n = (
                sf_links[rid]
                if rid in org.sf["Contact"] or rid in org.sf["Lead"] or rid in org.sf["Account"]
                else ic_links[rid]
            )
            assert n == 1, f"{rid} is not in truth but has {n} counterparts"


def test_clean_pairs_agree_on_every_mapped_field(org: Org, mapping: Any) -> None:
    drift = {(tuple(f["records"]), f["field"]) for f in org.of("field_drift")}
    ambiguous = [set(f["records"]) for f in org.of("ambiguous_link")]
    checked = 0
    for sf_id, ic_id, obj in linked_pairs(org):
        if any({sf_id, ic_id} <= a for a in ambiguous):
            continue  # no single pair to compare: which record links is the finding
        sf = org.sf[obj][sf_id]
        ic = org.ic["contacts" if obj != "Account" else "companies"][ic_id]
        for fld in mapping.fields:
            if obj not in fld.objects:
                continue
            a, b = compared(org, sf, ic, fld)
            if ((sf_id, ic_id), fld.name) in drift:
                continue
            assert a == b, f"unplanned drift on {fld.name}: {sf_id}={a!r} {ic_id}={b!r}"
            checked += 1
    assert checked > SIZE


def test_timestamps_make_sense(org: Org) -> None:
    for obj in ("Account", "Contact", "Lead", "Task", "Case"):
        for r in org.sf[obj].values():
            assert r["CreatedDate"] <= r["LastModifiedDate"] == r["SystemModstamp"]
            assert _ts(r["LastModifiedDate"]) <= org.as_of
    for r in org.sf["Lead"].values():
        if r["IsConverted"] == "true":
            contact = org.sf["Contact"][r["ConvertedContactId"]]
            assert r["CreatedDate"] < contact["CreatedDate"] and r["ConvertedDate"] == contact["CreatedDate"][:10]
    for name in ("contacts", "companies", "conversations"):
        for r in org.ic[name].values():
            assert r["created_at"] <= r["updated_at"] <= org.as_of
    for c in org.ic["conversations"].values():
        parts = c["conversation_parts"]["conversation_parts"]
        assert [p["created_at"] for p in parts] == sorted(p["created_at"] for p in parts)
        assert parts and all(c["created_at"] <= p["created_at"] <= c["updated_at"] for p in parts)


def test_no_unplanned_lookalike_colleagues(org: Org) -> None:
    """Two people at one company with nearly the same name (same initials, Jaro-Winkler >= 0.85 on
    first names and >= 0.9 on last names, or transposed) must be a planted duplicate."""
    db = duckdb.connect()
    rows = [
        (k, r.get("AccountId") or r.get("Company"), fold(r["FirstName"]), fold(r["LastName"]))
        for k, r in {**org.sf["Contact"], **org.open_leads}.items()
    ]
    db.execute("create table p (id varchar, c varchar, f varchar, l varchar)")
    db.executemany("insert into p values (?, ?, ?, ?)", rows)
    pairs = db.sql(
        """select x.id, y.id from p x join p y on x.c = y.c and x.id < y.id
           where (left(x.f, 1) = left(y.f, 1) and left(x.l, 1) = left(y.l, 1)
                  and jaro_winkler_similarity(x.f, y.f) >= 0.85 and jaro_winkler_similarity(x.l, y.l) >= 0.9)
              or (left(x.f, 1) = left(y.l, 1) and left(x.l, 1) = left(y.f, 1)
                  and jaro_winkler_similarity(x.f, y.l) >= 0.9 and jaro_winkler_similarity(x.l, y.f) >= 0.9)"""
    ).fetchall()
    assert pairs, "the planted duplicates are found"
    for a, b in pairs:
        assert any({a, b} <= set(f["records"]) for f in org.findings), (org.sf_record(a)[1], org.sf_record(b)[1])
