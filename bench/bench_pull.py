"""Benchmark: pulling N people a side from the sandbox at 50 ms a call: N Salesforce Contacts and N Tasks
(multi-line transcripts with quotes, commas and emoji), N Intercom contacts and N/4 conversations.

Measured side by side against the same sandbox (a `syncaudit sandbox serve` subprocess):

- naive:        what a user would write: simple-salesforce's bulk2 query (CSV pages read with pandas) +
                sequential Intercom list paging of contacts and conversations (150 a page)
- full:         `syncaudit pull --full` (Bulk API 2.0 streamed to disk + partitioned parallel Intercom search;
                conversations from their search pages)
- incremental:  `syncaudit pull` after 1 % of the records of each system changed

Each pull runs in its own process so its peak memory (ru_maxrss) is its own. API calls come from the
sandbox's request log. Figures: wall time, records/s, calls vs the minimum the APIs allow, peak memory,
speed-up over naive, incremental/full time.

    .venv/bin/python bench/bench_pull.py                 # 1,000,000 + 1,000,000 (the issue's target)
    .venv/bin/python bench/bench_pull.py --size 20000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
OUT = ROOT / "bench" / "out"
DAY = 86_400
BULK_PAGE = 100_000  # maxRecords per Bulk API 2.0 results page


def say(*parts: Any) -> None:
    """Print and keep a copy in bench/out/bench_pull.log (shared /tmp files get clobbered)."""
    text = " ".join(str(p) for p in parts)
    print(text, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "bench_pull.log", "a") as f:
        f.write(text + "\n")


# ---------------------------------------------------------------- data


def make_load_dir(size: int, seed: int = 1) -> Path:
    """N Salesforce Contacts and N Intercom contacts, dated over three years ending a month ago."""
    d = OUT / f"load-tasks-{size}"
    if (d / "done").exists():
        return d
    import csv

    rng = random.Random(seed)
    (d / "salesforce").mkdir(parents=True, exist_ok=True)
    (d / "intercom").mkdir(parents=True, exist_ok=True)
    end = int(time.time()) - 30 * DAY
    start = end - 3 * 365 * DAY
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))  # noqa: E731
    with open(d / "salesforce" / "Contact.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FirstName", "LastName", "Email", "Phone", "Title", "CreatedDate", "LastModifiedDate"])
        for i in range(size):
            t = start + (i * (end - start)) // size
            w.writerow(
                [
                    f"First{i}",
                    f"Last{i % 997}",
                    f"p{i}@bench.test",
                    f"+1555{i:07d}",
                    "Engineer",
                    iso(t),
                    iso(t + rng.randrange(DAY)),
                ]
            )
    (d / "intercom" / "data_attributes.json").write_text(
        json.dumps(
            [
                {"name": "plan_type", "model": "contact", "data_type": "string", "custom": True, "id": 1},
                {"name": "seats", "model": "contact", "data_type": "integer", "custom": True, "id": 2},
            ]
        )
    )
    from crmsandbox.generator.texts import transcript

    with open(d / "salesforce" / "Task.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Subject", "Description", "Status", "TaskSubtype", "CreatedDate", "LastModifiedDate"])
        for i in range(size):
            t = start + (i * (end - start)) // size
            url = f"https://app.intercom.com/a/inbox/bench/inbox/conversation/{i}"
            w.writerow(
                [
                    f'Intercom conversation: "Question" {i} 💬',
                    transcript("Conversation closed in Intercom.", url, f"Question {i}", i),
                    "Completed",
                    "Task",
                    iso(t),
                    iso(t + rng.randrange(DAY)),
                ]
            )
    write_conversations(d / "intercom" / "conversations.jsonl", size, start, end)
    with open(d / "intercom" / "contacts.jsonl", "w") as f:
        for i in range(size):
            t = start + (i * (end - start)) // size
            doc = {
                "id": f"{i:024x}",
                "role": "user",
                "external_id": f"u{i}",
                "email": f"p{i}@bench.test",
                "name": f"First{i} Last{i % 997}",
                "created_at": t,
                "updated_at": t + rng.randrange(DAY),
                "custom_attributes": {"plan_type": "Pro", "seats": i % 40},
            }
            f.write(json.dumps(doc) + "\n")
    (d / "done").write_text("ok")
    return d


def write_conversations(path: Path, size: int, start: int, end: int) -> None:
    """One closed conversation for every fourth of ``size`` people, dated over [start, end)."""
    with open(path, "w") as f:
        for i in range(0, size, 4):
            t = start + (i * (end - start)) // size
            doc = {
                "id": str(10_000_000 + i),
                "created_at": t,
                "updated_at": t + 600,
                "state": "closed",
                "open": False,
                "title": f"Question {i}",
                "contacts": {"contacts": [{"id": f"{i:024x}"}]},
                "tags": {"tags": []},
                "source": {"type": "conversation", "body": "<p>help</p>"},
                "conversation_parts": {
                    "conversation_parts": [
                        {
                            "id": str(50_000_000 + i),
                            "part_type": "close",
                            "created_at": t + 600,
                            "author": {"type": "admin", "id": "1"},
                        }
                    ]
                },
            }
            f.write(json.dumps(doc) + "\n")


def make_conversations_load_dir(size: int) -> Path:
    """The conversations of ``size`` people alone (size / 4 of them), as in the full load folder."""
    d = OUT / f"load-conversations-{size}"
    if (d / "done").exists():
        return d
    (d / "intercom").mkdir(parents=True, exist_ok=True)
    end = int(time.time()) - 30 * DAY
    write_conversations(d / "intercom" / "conversations.jsonl", size, end - 3 * 365 * DAY, end)
    (d / "done").write_text("ok")
    return d


def make_contacts_load_dir(size: int, seed: int = 1) -> Path:
    """``size`` Intercom contacts alone, with what a real workspace's contacts carry: a location, custom
    attributes of each data type, up to three tags and up to two companies (one in 1,000 has twelve: more than
    the ten a page embeds, so their companies are fetched)."""
    d = OUT / f"load-contacts-{size}"
    if (d / "done").exists():
        return d
    rng = random.Random(seed)
    ic = d / "intercom"
    ic.mkdir(parents=True, exist_ok=True)
    end = int(time.time()) - 30 * DAY
    start = end - 3 * 365 * DAY
    types = {"plan_type": "string", "seats": "integer", "mrr": "float", "trial": "boolean", "renewal_at": "date"}
    attrs = [
        {"name": n, "model": "contact", "data_type": t, "custom": True, "id": k + 1}
        for k, (n, t) in enumerate(types.items())
    ]
    (ic / "data_attributes.json").write_text(json.dumps(attrs))
    tags = [
        {"type": "tag", "id": str(81 + k), "name": n} for k, n in enumerate(["vip", "beta", "churn-risk", "🔥 hot"])
    ]
    (ic / "tags.json").write_text(json.dumps({"type": "list", "data": tags}))
    n_companies = max(12, size // 20)
    companies = [f"c{k:023x}" for k in range(n_companies)]
    with open(ic / "companies.jsonl", "w") as f:
        for k, cid in enumerate(companies):
            f.write(json.dumps({"id": cid, "company_id": f"ACC-{k:07d}", "name": f"Company {k}", "created_at": start}))
            f.write("\n")
    cities = [
        ("Paris", "Île-de-France", "France"),
        ("Zürich", "Zürich", "Switzerland"),
        ("Austin", "Texas", "United States"),
    ]
    with open(ic / "contacts.jsonl", "w") as f:
        for i in range(size):
            t = start + (i * (end - start)) // size
            city, region, country = cities[i % len(cities)]
            n_comp = 12 if i % 1000 == 0 else i % 3
            doc = {
                "id": f"{i:024x}",
                "role": "user" if i % 5 else "lead",
                "external_id": f"u{i}",
                "email": f"p{i}@bench.test",
                "phone": f"+1555{i:07d}",
                "name": f"Fírst{i} Läst{i % 997} 🙂" if i % 50 == 0 else f"First{i} Last{i % 997}",
                "owner_id": str(991_267_000 + i % 7) if i % 4 else None,
                "created_at": t,
                "updated_at": t + rng.randrange(DAY),
                "signed_up_at": t,
                "location": {"type": "location", "city": city, "region": region, "country": country},
                "custom_attributes": {
                    "plan_type": ["Free", "Pro", "Enterprise"][i % 3],
                    "seats": i % 40,
                    "mrr": round(rng.random() * 500, 2),
                    "trial": i % 2 == 0,
                    "renewal_at": t + 365 * DAY,
                },
                "tags": {"type": "list", "data": [{"type": "tag", "id": tg["id"]} for tg in tags[: i % 4]]},
                "companies": {
                    "type": "list",
                    "data": [{"type": "company", "id": companies[(i + k * 7) % n_companies]} for k in range(n_comp)],
                },
            }
            f.write(json.dumps(doc) + "\n")
    (d / "done").write_text("ok")
    return d


# ---------------------------------------------------------------- sandbox control


class Sandbox:
    def __init__(
        self, load: Path, latency_ms: float | None, size: int, cost: str = "realistic", tag: str = "sd"
    ) -> None:
        self.state = OUT / f"{tag}-{size}"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
        self.log_path = OUT / f"serve-{size}.log"  # the emulators' tracebacks (a 500 is a sandbox bug)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncaudit",
                "sandbox",
                "serve",
                "--load",
                str(load),
                "--state-dir",
                str(self.state),
                "--as-of",
                "original",  # reuse the state between runs (--incremental-only)
                "--cost-model",
                cost,
                *(["--latency-ms", str(latency_ms)] if latency_ms is not None else []),
            ],
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "a"),  # noqa: SIM115 - the child holds it for its lifetime
            env=env,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise SystemExit("the sandbox did not start")
        from crmsandbox.server import facts_from_ready_line

        self.facts = facts_from_ready_line(line)
        from syncaudit.http import verified_session

        self.http = verified_session(self.facts["ca_cert"])

    def control(self, method: str, action: str, body: dict | None = None, **params: Any) -> Any:
        url = f"{self.facts['control']['salesforce']}/{action}"
        r = self.http.request(method, url, json=body, params=params or None, timeout=600)
        r.raise_for_status()
        return r.json()

    def calls_since(self, seq: int) -> dict[str, int]:
        out = {"salesforce": 0, "intercom": 0}
        while True:
            res = self.control("GET", "requests", since=seq)
            entries = res["requests"]
            for e in entries:
                if "/oauth2/" not in e["path"]:
                    out[e["system"]] += 1
            if not entries or entries[-1]["n"] >= res["last"]:
                return out
            seq = entries[-1]["n"]

    def last_seq(self) -> int:
        return int(self.control("GET", "requests", since=10**12)["last"])

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the sandbox process and any processes it started."""
        import psutil

        root = psutil.Process(self.proc.pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------- workers (each in its own process)


def worker_naive(cfg_path: str) -> dict[str, Any]:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from simple_salesforce import Salesforce

    from syncaudit.config import load_config
    from syncaudit.connect import sandbox_facts
    from syncaudit.connectors.intercom import convert
    from syncaudit.http import verified_session

    cfg = load_config(cfg_path)
    facts = sandbox_facts(cfg)
    out = OUT / "naive"
    out.mkdir(parents=True, exist_ok=True)
    http = verified_session(facts["ca_cert"])
    sff = facts["salesforce"]
    tok = http.post(
        sff["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(sff["client_id"], sff["client_secret"]),
        timeout=60,
    ).json()["access_token"]
    sf = Salesforce(instance_url=sff["instance_url"], session_id=tok, session=http)
    t0 = time.monotonic()
    import pandas as pd

    n_sf = 0
    queries = {
        "Contact": "SELECT Id, IsDeleted, FirstName, LastName, Name, Email, Phone, AccountId, OwnerId, "
        "CreatedDate, LastModifiedDate, SystemModstamp FROM Contact",
        "Task": "SELECT Id, IsDeleted, WhoId, WhatId, Subject, Description, Status, TaskSubtype, OwnerId, "
        "CreatedDate, LastModifiedDate, SystemModstamp FROM Task",
    }
    for obj, soql in queries.items():
        writer = None
        for page in getattr(sf.bulk2, obj).query(soql, max_records=BULK_PAGE):  # CSV text per page
            df = pd.read_csv(io.StringIO(page), dtype=str, keep_default_na=False)
            table = pa.Table.from_pandas(df, preserve_index=False)
            writer = writer or pq.ParquetWriter(out / f"{obj}.parquet", table.schema)
            writer.write_table(table)
            n_sf += table.num_rows
        if writer is not None:
            writer.close()
    t_sf = time.monotonic() - t0
    ic = facts["intercom"]
    http.headers.update({"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"})
    attrs = http.get(f"{ic['base_url']}/data_attributes", timeout=60).json()["data"]
    schema = convert.contact_schema(attrs)
    n_ic = 0
    for path, key in (("contacts", "data"), ("conversations", "conversations")):
        writer = None
        params: dict[str, Any] = {"per_page": 150}
        while True:
            r = http.get(f"{ic['base_url']}/{path}", params=params, timeout=60)
            if r.status_code == 429:
                time.sleep(max(0.0, float(r.headers.get("X-RateLimit-Reset", time.time() + 1)) - time.time()))
                continue
            r.raise_for_status()
            body = r.json()
            if path == "contacts":
                table, _ = convert.contacts_table(body[key], schema, {}, {})
            else:
                table, _ = convert.conversations_table(body[key])
            writer = writer or pq.ParquetWriter(out / f"{path}.parquet", table.schema)
            writer.write_table(table)
            n_ic += table.num_rows
            nxt = (body.get("pages") or {}).get("next")
            if not isinstance(nxt, dict) or not nxt.get("starting_after"):
                break
            params["starting_after"] = nxt["starting_after"]
        if writer is not None:
            writer.close()
    return {"wall_s": time.monotonic() - t0, "salesforce_s": t_sf, "records": {"salesforce": n_sf, "intercom": n_ic}}


def worker_pull(
    cfg_path: str, full: bool, objects: tuple[str, ...] = ("Contact", "Task", "contacts", "conversations")
) -> dict[str, Any]:
    import io

    from syncaudit.config import load_config
    from syncaudit.pull import run_pull

    cfg = load_config(cfg_path)
    t0 = time.monotonic()
    snap = run_pull(cfg, full=full, objects=list(objects), out=io.StringIO(), bars=False)
    m = snap.manifest
    rows = {k: v["rows"] for k, v in m["tables"].items()}
    return {
        "wall_s": time.monotonic() - t0,
        "records": {
            "salesforce": rows.get("salesforce/Contact", 0) + rows.get("salesforce/Task", 0),
            "intercom": rows.get("intercom/contacts", 0) + rows.get("intercom/conversations", 0),
        },
        "changed": {k: v.get("changed") for k, v in m["streams"].items()},
        "streams": m["streams"],
        "snapshot": str(snap.path),
    }


def say_streams(kind: str, res: dict[str, Any]) -> None:
    """Where a pull's seconds went, per stream (reading from the API, merging, removal checks)."""
    for sid, st in sorted(res.get("streams", {}).items()):
        t = st.get("timings") or {}
        parts = "  ".join(f"{k} {v:.1f}" for k, v in t.items())
        say(
            f"  {kind} {sid}: {st.get('duration_s', 0):.1f} s ({parts}), {st.get('api_calls')} calls, {st.get('method', '')}"
        )


def run_worker(kind: str, cfg_path: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    res = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--config", str(cfg_path), *extra],
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- changes (1 %)


def change_one_percent(sb: Sandbox, size: int, offset: int = 0) -> None:
    from simple_salesforce import Salesforce

    from syncaudit.http import verified_session

    n = max(1, size // 100)
    sb.control("POST", "latency", {"ms": 0})
    try:
        http = verified_session(sb.facts["ca_cert"])
        sff = sb.facts["salesforce"]
        tok = http.post(
            sff["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(sff["client_id"], sff["client_secret"]),
            timeout=60,
        ).json()["access_token"]
        sf = Salesforce(instance_url=sff["instance_url"], session_id=tok, session=http)
        step = size // n
        ids = []
        for rec in sf.query_all_iter("SELECT Id FROM Contact"):
            ids.append(rec["Id"])
        chosen = ids[offset::step][:n]
        for i in range(0, len(chosen), 200):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Contact"}, "Id": x, "Title": "Changed"} for x in chosen[i : i + 200]
                ],
            }
            sf.restful("composite/sobjects", method="PATCH", json=body)
        ic = sb.facts["intercom"]
        ih = verified_session(sb.facts["ca_cert"])
        ih.headers.update({"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"})

        def put(i: int) -> None:
            while True:
                r = ih.put(
                    f"{ic['base_url']}/contacts/{i * step + offset:024x}",
                    json={"name": f"Changed {i} {offset}"},
                    timeout=60,
                )
                if r.status_code == 429:
                    time.sleep(1)
                    continue
                if r.status_code >= 500:
                    raise SystemExit(f"the sandbox answered {r.status_code} to PUT /contacts: see {sb.log_path}")
                r.raise_for_status()
                return

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(n)))
    finally:
        sb.control("POST", "latency", {"ms": sb.latency_ms})


# ---------------------------------------------------------------- main


def _one_stream_sandbox(args: argparse.Namespace, make_load: Any, what: str) -> tuple[Sandbox, Path, Any]:
    """A sandbox serving the load folder ``make_load(size)`` and a bench config pointing at it; (sandbox, config
    path, cost model)."""
    from crmsandbox.costmodel import cost_model

    t = time.monotonic()
    load = make_load(args.size)
    say(f"load folder: {load} ({time.monotonic() - t:.0f} s)")
    model = cost_model(args.cost_model, **({"call_ms": args.latency_ms} if args.latency_ms is not None else {}))
    t = time.monotonic()
    sb = Sandbox(load, args.latency_ms, args.size, args.cost_model, tag=f"sd-{what}")
    say(f"sandbox ready ({time.monotonic() - t:.0f} s), {model.summary()}")
    cfg = OUT / f"bench-{what}-{args.size}.yaml"
    data = OUT / f"data-{what}-{args.size}"
    cfg.write_text(
        f"name: bench\nsandbox: {{state_dir_env: BENCH_SANDBOX_DIR}}\ndata_dir: {data}\n"
        "mapping: {identity: {people: {salesforce_key: Email, intercom_key: email}}}\n"
        f"pull: {{intercom_partitions: {args.partitions}}}\n"
    )
    os.environ["BENCH_SANDBOX_DIR"] = str(sb.state)
    return sb, cfg, model


def bench_conversations(args: argparse.Namespace) -> None:
    """The conversations stream alone at ``size`` people (size / 4 conversations) against the rate-limit floor.

    The floor is the time Intercom's limit (10,000 calls a minute) allows for the calls the pull truly needs: one
    search or list page per 150 conversations. Probe calls, retries and 429s count against the pull, not the floor.
    """
    sb, cfg, model = _one_stream_sandbox(args, make_conversations_load_dir, "conversations")
    try:
        rows = []
        for _ in range(args.repeat):
            seq = sb.last_seq()
            load0 = os.getloadavg()
            server0 = sb.cpu_s()
            res = run_worker("conversations", cfg)
            server_s = sb.cpu_s() - server0
            calls = sb.calls_since(seq)["intercom"]
            rows.append((res, server_s, calls, load0, os.getloadavg()))
    finally:
        sb.stop()
    n_conv = -(-args.size // 4)
    need = math.ceil(n_conv / 150)
    floor_s = need / (10_000 / 60)
    say(f"== conversations alone: {args.size:,} people a side -> {n_conv:,} conversations, {model.summary()}")
    say(f"rate-limit floor: {need:,} calls needed (150 a page) at 10,000 calls a minute = {floor_s:.1f} s")
    for res, server_s, calls, l0, l1 in rows:
        st = res["streams"]["intercom/conversations"]
        took = st["duration_s"]
        say(
            f"conversations: {took:.1f} s = {took / floor_s:.2f}x the floor (target <= 1.5x), {calls:,} calls "
            f"({calls - need:+,} over the need), {res['records']['intercom']:,} rows, partitions "
            f"{st.get('extra', {}).get('partitions', st.get('partitions', '?'))}; CPU s: client {res['cpu_s']:.1f}, "
            f"sandbox {server_s:.1f}; peak {res['peak_rss_mb']:.0f} MB; load average {l0[0]:.1f} before, "
            f"{l1[0]:.1f} after"
        )


def bench_contacts(args: argparse.Namespace) -> None:
    """The contacts stream alone at ``size`` contacts against the rate-limit floor (one page per 150 contacts at
    10,000 calls a minute; probes, partial pages and company fetches count against the pull), the Arrow pages
    and the per-row path alternately against the same sandbox."""
    sb, cfg, model = _one_stream_sandbox(args, make_contacts_load_dir, "contacts")
    rows = []
    try:
        for _ in range(args.repeat):
            for kind in ("arrow", "per-row"):
                seq = sb.last_seq()
                load0 = os.getloadavg()
                server0 = sb.cpu_s()
                res = run_worker("contacts", cfg, *(["--per-row"] if kind == "per-row" else []))
                server_s = sb.cpu_s() - server0
                rows.append((kind, res, server_s, sb.calls_since(seq)["intercom"], load0, os.getloadavg()))
    finally:
        sb.stop()
    # One page per 150 contacts and one company list per contact with more than the ten a page embeds.
    pages, lists = math.ceil(args.size / 150), math.ceil(args.size / 1000)
    need = pages + lists
    floor_s = need / (10_000 / 60)
    say(f"== contacts alone: {args.size:,} contacts, {model.summary()}")
    say(
        f"rate-limit floor: {need:,} calls needed ({pages:,} pages of 150, {lists:,} company lists) at 10,000 calls "
        f"a minute = {floor_s:.1f} s"
    )
    for kind, res, server_s, calls, l0, l1 in rows:
        st = res["streams"]["intercom/contacts"]
        took = st["duration_s"]
        extra = st.get("extra") or st
        say(
            f"contacts {kind:7}: {took:.1f} s = {took / floor_s:.2f}x the floor (target <= 1.5x), {calls:,} calls "
            f"({calls - need:+,} over the need), {res['records']['intercom']:,} rows, pages read by Arrow "
            f"{extra.get('fast_pages', '?')} of {extra.get('pages', '?')}; CPU s: client {res['cpu_s']:.1f}, sandbox "
            f"{server_s:.1f}; peak {res['peak_rss_mb']:.0f} MB; load average {l0[0]:.1f} before, {l1[0]:.1f} after"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--latency-ms", type=float, default=None, help="per-call latency; default: the cost model's")
    ap.add_argument(
        "--cost-model", default="realistic", help="the sandbox cost model: realistic (default) or none (loopback)"
    )
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1, help="--conversations-only: pulls to time in a row")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument(
        "--incremental-only",
        action="store_true",
        help="reuse the sandbox state and snapshots of an earlier run: change another 1 %% and time an incremental",
    )
    ap.add_argument(
        "--intercom-only",
        action="store_true",
        help="reuse the sandbox of an earlier run and time a full pull of the Intercom contacts and conversations "
        "alone (the emulator then serves Intercom only: its rate-limit figure without Salesforce's load)",
    )
    ap.add_argument(
        "--conversations-only",
        action="store_true",
        help="a sandbox holding the size/4 conversations alone: time their full pull against the rate-limit floor "
        "(client and sandbox CPU seconds apart)",
    )
    ap.add_argument(
        "--contacts-only",
        action="store_true",
        help="a sandbox holding N contacts alone (locations, custom attributes, tags, companies): time their full "
        "pull against the rate-limit floor, the Arrow pages and the per-row path alternately (--repeat rounds)",
    )
    ap.add_argument("--worker", choices=["naive", "full", "incremental", "intercom", "conversations", "contacts"])
    ap.add_argument(
        "--per-row", action="store_true", help="--intercom-only: contact pages read the per-row way (a baseline)"
    )
    ap.add_argument("--config")
    args = ap.parse_args()
    if args.worker:
        if args.per_row:
            from syncaudit.connectors.intercom.contacts import ContactsStream

            ContactsStream.fast = False
        if args.worker == "naive":
            res = worker_naive(args.config)
        elif args.worker == "intercom":
            res = worker_pull(args.config, True, ("contacts", "conversations"))
        elif args.worker == "conversations":
            res = worker_pull(args.config, True, ("conversations",))
        elif args.worker == "contacts":
            res = worker_pull(args.config, True, ("contacts",))
        else:
            res = worker_pull(args.config, args.worker == "full")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        res["peak_rss_mb"] = usage.ru_maxrss / 1024
        res["cpu_s"] = usage.ru_utime + usage.ru_stime  # the client's own CPU: is it the bottleneck?
        print(json.dumps(res, default=str))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    if args.conversations_only:
        bench_conversations(args)
        return
    if args.contacts_only:
        bench_contacts(args)
        return
    t = time.monotonic()
    load = make_load_dir(args.size)
    say(f"load folder: {load} ({time.monotonic() - t:.0f} s)")
    t = time.monotonic()
    reused = (OUT / f"sd-{args.size}" / "salesforce").is_dir()
    from crmsandbox.costmodel import cost_model

    model = cost_model(args.cost_model, **({"call_ms": args.latency_ms} if args.latency_ms is not None else {}))
    sb = Sandbox(load, args.latency_ms, args.size, args.cost_model)
    sb.latency_ms = model.call_ms  # type: ignore[attr-defined]
    say(f"sandbox ready ({time.monotonic() - t:.0f} s), {model.summary()}")
    cfg = OUT / f"bench-{args.size}.yaml"
    data = OUT / f"data-{args.size}"
    cfg.write_text(
        f"name: bench\nsandbox: {{state_dir_env: BENCH_SANDBOX_DIR}}\ndata_dir: {data}\n"
        # The bench org has no product-user-id field: people are keyed by email (preflight checks the key).
        "mapping: {identity: {people: {salesforce_key: Email, intercom_key: email}}}\n"
        f"pull: {{bulk_threshold: 10000, intercom_partitions: {args.partitions}}}\n"
    )
    os.environ["BENCH_SANDBOX_DIR"] = str(sb.state)
    results: dict[str, Any] = {}
    if args.intercom_only:
        try:
            seq = sb.last_seq()
            server0 = sb.cpu_s()
            ic = run_worker("intercom", cfg, *(["--per-row"] if args.per_row else []))
            ic["server_cpu_s"] = sb.cpu_s() - server0
            ic["calls"] = sb.calls_since(seq)
        finally:
            sb.stop()
        say_streams("intercom-only", ic)
        need = math.ceil(args.size / 150) + math.ceil(math.ceil(args.size / 4) / 150)
        floor_s = need / (10_000 / 60)
        ic_s = sum(ic["streams"][f"intercom/{k}"]["duration_s"] for k in ("contacts", "conversations"))
        say(f"load average: {os.getloadavg()}")
        c_floor = math.ceil(args.size / 150) / (10_000 / 60)
        c_s = ic["streams"]["intercom/contacts"]["duration_s"]
        say(f"contacts stream: {c_s:.1f} s vs its floor {c_floor:.1f} s -> {c_s / c_floor:.2f}x")
        say(
            f"Intercom alone, {args.size:,} contacts + {-(-args.size // 4):,} conversations: {ic_s:.1f} s, "
            f"{ic['calls']['intercom']:,} calls (minimum {need:,}); the rate limit allows them in {floor_s:.1f} s "
            f"-> {ic_s / floor_s:.2f}x (target <= 1.5x), peak {ic['peak_rss_mb']:.0f} MB, CPU s: client {ic['cpu_s']:.1f}, "
            f"sandbox {ic['server_cpu_s']:.1f}{' (contact pages read per row)' if args.per_row else ''}"
        )
        return
    if args.incremental_only:
        try:
            change_one_percent(sb, args.size, offset=int(time.time()) % 50 + 1)
            seq = sb.last_seq()
            inc = run_worker("incremental", cfg)
            inc["calls"] = sb.calls_since(seq)
        finally:
            sb.stop()
        say_streams("incremental", inc)
        manifests = [json.loads(p.read_text()) for p in sorted((data / "snapshots").glob("*/manifest.json"))]
        full_s = [m["duration_s"] for m in manifests if m["mode"] == "full"][-1]  # the latest full pull
        say(f"load average: {os.getloadavg()}")
        say(
            f"incremental after 1% change: {inc['wall_s']:.1f} s (in-process wall time, as for the full pull) = "
            f"{100 * inc['wall_s'] / full_s:.1f}% of the full pull's {full_s:.0f} s (target <= 5%), "
            f"changed rows {inc['changed']}, calls {inc['calls']}, peak {inc['peak_rss_mb']:.0f} MB"
        )
        return
    try:
        if reused:
            # Changes of earlier runs would sit inside the incremental's lookback window: start from the load.
            t = time.monotonic()
            sb.control("POST", "reset")
            say(f"sandbox reset to the loaded state ({time.monotonic() - t:.0f} s)")
        for kind in ["full"] if args.skip_naive else ["naive", "full"]:
            seq = sb.last_seq()
            server0 = sb.cpu_s()
            results[kind] = run_worker(kind, cfg)
            results[kind]["server_cpu_s"] = sb.cpu_s() - server0
            results[kind]["calls"] = sb.calls_since(seq)
            say(
                f"{kind}: {results[kind]['wall_s']:.1f} s, calls {results[kind]['calls']}, peak {results[kind]['peak_rss_mb']:.0f} MB, load {os.getloadavg()}"
            )
        t = time.monotonic()
        change_one_percent(sb, args.size)
        say(f"changed 1 % of each system ({time.monotonic() - t:.0f} s)")
        seq = sb.last_seq()
        results["incremental"] = run_worker("incremental", cfg)
        results["incremental"]["calls"] = sb.calls_since(seq)
    finally:
        sb.stop()
    for kind in ("full", "incremental"):
        say_streams(kind, results[kind])

    n = args.size
    full, inc = results["full"], results["incremental"]
    # Per Salesforce object: a Bulk 2.0 job, one poll and the result pages; Intercom: one call per 150 records.
    minimum = {
        "salesforce": 2 * (2 + math.ceil(n / BULK_PAGE)),
        "intercom": math.ceil(n / 150) + math.ceil(math.ceil(n / 4) / 150),
    }
    used = full["calls"]
    say("")
    say(
        f"== bench_pull: {n:,} Salesforce Contacts + {n:,} Tasks, {n:,} Intercom contacts + {-(-n // 4):,} "
        f"conversations, {args.partitions} Intercom partitions"
    )
    say(model.summary())
    say(f"load average: {os.getloadavg()}")
    say(f"records pulled (full): {full['records']}")
    say(
        f"full pull:    {full['wall_s']:8.1f} s  {sum(full['records'].values()) / full['wall_s']:10,.0f} records/s  peak {full['peak_rss_mb']:6.0f} MB"
    )
    if "naive" in results:
        nv = results["naive"]
        say(
            f"naive pull:   {nv['wall_s']:8.1f} s  {sum(nv['records'].values()) / nv['wall_s']:10,.0f} records/s  peak {nv['peak_rss_mb']:6.0f} MB  "
            f"calls {nv['calls']}"
        )
        say(f"speed-up full vs naive: {nv['wall_s'] / full['wall_s']:.2f}x   (target >= 3x)")
    total_min, total_used = sum(minimum.values()), sum(used.values())
    say(
        f"API calls full: {used} vs minimum {minimum} (Bulk 2.0 job + poll + {BULK_PAGE:,}-row pages; "
        f"150 contacts a page) -> {100 * (total_used / total_min - 1):+.2f}% (target within 2%)"
    )
    # Intercom allows 10,000 calls a minute: the least time the calls it needs can take.
    floor_s = minimum["intercom"] / (10_000 / 60)
    ic_s = sum(full["streams"].get(f"intercom/{k}", {}).get("duration_s", 0) for k in ("contacts", "conversations"))
    say(
        f"Intercom contacts + conversations: {ic_s:.1f} s vs {floor_s:.1f} s that the rate limit allows for "
        f"{minimum['intercom']:,} calls -> {ic_s / floor_s:.2f}x (target <= 1.5x)"
    )
    conv_need = math.ceil(math.ceil(n / 4) / 150)
    conv_s = full["streams"].get("intercom/conversations", {}).get("duration_s", 0)
    say(
        f"Intercom conversations alone: {conv_s:.1f} s vs {conv_need / (10_000 / 60):.1f} s for the {conv_need:,} "
        f"pages they need -> {conv_s / (conv_need / (10_000 / 60)):.2f}x (target <= 1.5x); CPU s of the full pull: "
        f"client {full['cpu_s']:.0f}, sandbox {full['server_cpu_s']:.0f}"
    )
    say(
        f"incremental after 1% change: {inc['wall_s']:.1f} s = {100 * inc['wall_s'] / full['wall_s']:.1f}% of full "
        f"(target <= 5%), changed rows {inc['changed']}, calls {inc['calls']}, peak {inc['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
