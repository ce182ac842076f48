"""Benchmark of the Salesforce sandbox: load, Bulk API 2.0 query, REST query paging, single-record reads.

    .venv/bin/python bench/bench_sf_sandbox.py [--size 1000000] [--reads 500]

Writes a synthetic load folder of N Contacts (and N/10 Accounts), loads it, serves it over HTTPS on port 0
and drives it with unmodified simple-salesforce. Targets (issue 3, 1,000,000 Contacts on 2 cores): Bulk 2.0
query of all Contacts <= 60 s, REST paging (2000 a page) <= 180 s, single-record GET median < 5 ms.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from simple_salesforce import Salesforce
from werkzeug.test import Client

LIB = Path(__file__).resolve().parents[1] / "lib"
sys.path.insert(0, str(LIB))

from crmsandbox.salesforce import SalesforceService  # noqa: E402
from crmsandbox.salesforce.ids import make_id  # noqa: E402
from crmsandbox.server import facts_from_ready_line  # noqa: E402
from syncaudit.http import verified_session  # noqa: E402

FIELDS = (
    "Id, FirstName, LastName, Email, Phone, AccountId, Product_User_Id__c, Plan_Type__c, CreatedDate, SystemModstamp"
)
PLANS = ["Free", "Starter", "Pro", "Enterprise", ""]


def write_load(root: Path, n: int) -> None:
    sf = root / "salesforce"
    sf.mkdir(parents=True)
    (sf / "schema.json").write_text(
        '{"Contact": [{"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": true, '
        '"unique": true}, {"name": "Plan_Type__c", "type": "picklist", "restrictedPicklist": true, '
        '"picklistValues": ["Free", "Starter", "Pro", "Enterprise"]}]}'
    )
    # The shared server serves both emulators: give Intercom an empty org.
    ic = root / "intercom"
    ic.mkdir()
    for name in ("contacts.jsonl", "companies.jsonl", "conversations.jsonl"):
        (ic / name).write_text("")
    for name in ("admins.json", "tags.json", "data_attributes.json"):
        (ic / name).write_text("[]")
    n_acc = max(1, n // 10)
    with (sf / "Account.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Id", "Name", "AccountNumber"])
        w.writerows([make_id("001", i + 1), f"Company {i}", f"ACC-{i:07d}"] for i in range(n_acc))
    with (sf / "Contact.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "Id",
                "FirstName",
                "LastName",
                "Email",
                "Phone",
                "AccountId",
                "Product_User_Id__c",
                "Plan_Type__c",
                "CreatedDate",
                "LastModifiedDate",
            ]
        )
        for i in range(n):
            w.writerow(
                [
                    make_id("003", i + 1),
                    f"First{i}",
                    f"Last{i}",
                    f"user{i}@example.com",
                    f"+1555{i:07d}",
                    make_id("001", i % n_acc + 1),
                    f"u-{i}",
                    PLANS[i % 5],
                    "2024-01-02T10:00:00Z",
                    f"2024-{1 + i % 12:02d}-15T08:30:00.000Z",
                ]
            )


def mem(proc: psutil.Process) -> str:
    """Server memory: RSS counts the SQLite file pages each connection maps (shared, not heap); USS does not."""
    info = proc.memory_full_info()
    return f"RSS {info.rss / 2**20:.0f} MB, USS {info.uss / 2**20:.0f} MB"


def start_server(load: Path, state: Path) -> tuple[subprocess.Popen, dict, float]:
    """`syncaudit sandbox serve --load` in its own process (as users run it); returns (process, facts, load s)."""
    env = dict(os.environ, PYTHONPATH=str(LIB))
    t = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncaudit",
            "sandbox",
            "serve",
            "--load",
            str(load),
            "--state-dir",
            str(state),
            "--as-of",
            "original",
            "--cost-model",
            "none",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the sandbox did not start (exit {proc.wait()})")
    return proc, facts_from_ready_line(line), time.perf_counter() - t


def app_latency(load: Path, reads: int, n: int) -> float:
    """Median ms of a single-record GET through the WSGI app alone (no network), on a loaded copy."""
    with tempfile.TemporaryDirectory(prefix="bench-sf-app-") as tmp:
        service = SalesforceService(Path(tmp), None)
        with service.backend.store.write() as c:
            ids = [service.backend.insert(c, "Contact", {"LastName": f"L{i}"}) for i in range(min(n, 2000))]
        client = Client(service.wsgi_app())
        h = {"Authorization": f"Bearer {service.connection_facts('https://x')['session_id']}"}
        times = []
        for i in range(reads):
            t = time.perf_counter()
            client.get(f"/services/data/v59.0/sobjects/Contact/{ids[i % len(ids)]}", headers=h)
            times.append((time.perf_counter() - t) * 1000)
        service.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="Contacts to load (default 1,000,000)")
    ap.add_argument("--reads", type=int, default=500, help="single-record GETs to time")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    print("sandbox cost model: none (this measures the emulator itself, at loopback speed)")
    with tempfile.TemporaryDirectory(prefix="bench-sf-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        write_load(root / "load", args.size)
        print(f"wrote CSV of {args.size:,} Contacts in {time.perf_counter() - t:.1f} s")
        proc, sb, load_s = start_server(root / "load", root / "state")
        try:
            print(
                f"serve --load: {args.size:,} Contacts loaded and serving in {load_s:.1f} s "
                f"({args.size / load_s:,.0f} records/s)"
            )
            server = psutil.Process(proc.pid)
            facts = sb["salesforce"]
            http = verified_session(sb["ca_cert"])
            sf = Salesforce(
                instance_url=facts["instance_url"], session_id=facts["session_id"], session=http, version="59.0"
            )

            t = time.perf_counter()
            rows = 0
            pages = 0
            for page in sf.bulk2.Contact.query(f"SELECT {FIELDS} FROM Contact", max_records=100_000, wait=0.1):
                rows += page.count("\n") - 1
                pages += 1
            bulk_s = time.perf_counter() - t
            print(
                f"bulk 2.0 query: {rows:,} rows in {bulk_s:.1f} s ({rows / bulk_s:,.0f} records/s), {pages} result pages, "
                f"target <= 60 s: {'OK' if bulk_s <= 60 else 'MISSED'}; server {mem(server)}"
            )

            t = time.perf_counter()
            rows = sum(1 for _ in sf.query_all_iter(f"SELECT {FIELDS}, Account.AccountNumber FROM Contact"))
            rest_s = time.perf_counter() - t
            print(
                f"REST query paging: {rows:,} rows in {rest_s:.1f} s ({rows / rest_s:,.0f} records/s), "
                f"{-(-rows // 2000)} pages, target <= 180 s: {'OK' if rest_s <= 180 else 'MISSED'}; "
                f"server {mem(server)}"
            )

            step = max(1, args.size // args.reads)
            ids = [make_id("003", 1 + i * step) for i in range(args.reads)]
            times = []
            for rid in ids:
                t = time.perf_counter()
                sf.Contact.get(rid)
                times.append((time.perf_counter() - t) * 1000)
            med = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[-1]
            fastest = min(times)
            print(
                f"single-record GET over HTTPS (keep-alive): median {med:.2f} ms, p95 {p95:.2f} ms, min {fastest:.2f} ms over {len(times)} "
                f"reads, target median < 5 ms: {'OK' if med < 5 else 'MISSED'}"
            )
            calls = http.get(sb["control"]["salesforce"] + "/requests", params={"system": "salesforce"}).json()[
                "requests"
            ]
            print(
                f"request log: {len(calls)} Salesforce calls, {sum(c['records'] or 0 for c in calls):,} records touched"
            )
            # Time inside the server (the log's ms: app + middleware, without the client's parsing). Bulk results
            # stream after their log entry is written, so they have no such figure.
            rest_ms = sum(c.get("ms") or 0 for c in calls if "/query" in c["path"] and "/jobs/" not in c["path"])
            get_ms = sorted(c.get("ms") or 0 for c in calls if "/sobjects/Contact/" in c["path"])
            print(
                f"server-side time: REST paging {rest_ms / 1000:.1f} s, "
                f"single GET median {get_ms[len(get_ms) // 2]:.2f} ms (request log)"
            )
        finally:
            proc.terminate()
            proc.wait(30)
        print(
            f"single-record GET through the WSGI app alone: median {app_latency(root / 'load', 500, args.size):.3f} ms"
        )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
