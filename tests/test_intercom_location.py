"""Intercom's contact ``location`` (city, region, country) reaches the snapshot by both paths and is evidence.

The default matching fields compare Salesforce's Mailing* address with ``location.city``,
``location.region`` and ``location.country``: the pull (``ContactsStream`` against the sandbox's Intercom
over HTTPS) and the load-folder conversion must both keep them as snapshot columns, or the Intercom side
gives the address comparison nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from audit_fixtures import ROOT
from crmsandbox.generator import generate
from crmsandbox.testing import running_sandbox
from syncaudit.audit.match_fields import column_sql
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.streams import ContactsStream, IntercomContext
from syncaudit.loadfolder import convert_load_folder
from syncaudit.snapshot import TableWriter

Location = tuple[str | None, str | None, str | None]


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Location]]:
    """A generated org pair (every Intercom contact has a city, region and country, as Intercom's geo-IP
    fills them) with every third contact moved to another city and some regions emptied (an empty part is no
    value)."""
    root = tmp_path_factory.mktemp("location")
    folder = generate(root / "load", 300, 31)
    path = folder / "intercom" / "contacts.jsonl"
    contacts = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    expected: dict[str, Location] = {}
    for k, c in enumerate(contacts):
        loc = dict(c.get("location") or {})
        if k % 3 == 0:
            loc.update(city=f"Springfield {k}", region=f"Region {k % 7}")
        elif k % 3 == 1 and k % 2:
            loc.update(region="")  # an empty part is no value
        c["location"] = loc
        expected[c["id"]] = (loc.get("city") or None, loc.get("region") or None, loc.get("country") or None)
    path.write_text("".join(json.dumps(c) + "\n" for c in contacts), encoding="utf-8")
    assert sum(v[0] is not None for v in expected.values()) >= 90
    assert sum(v[2] is not None for v in expected.values()) == len(expected)
    return folder, expected


def _locations(parquet: Path) -> dict[str, Location]:
    t = pq.read_table(parquet, columns=["id", "location.city", "location.region", "location.country"]).to_pylist()
    return {r["id"]: (r["location.city"], r["location.region"], r["location.country"]) for r in t}


def test_the_load_folder_conversion_keeps_the_location(load, tmp_path: Path) -> None:
    folder, expected = load
    snap = convert_load_folder(folder, tmp_path / "snap")
    got = _locations(snap.table_path("intercom", "contacts"))
    assert got == expected


def test_the_pull_keeps_the_location(load, tmp_path: Path) -> None:
    folder, expected = load
    with running_sandbox(load_dir=folder, state_dir=tmp_path / "sd") as sb:
        http = build_http_session(sb["ca_cert"], 30)
        client = IntercomClient(sb["intercom"]["base_url"], sb["intercom"]["token"], http)
        paths: dict[str, Path] = {}

        def open_writer(name: str, schema: Any) -> TableWriter:
            paths[name] = tmp_path / f"{name}.parquet"
            return TableWriter(paths[name], schema)

        ContactsStream(IntercomContext(client), partitions=1).pull(open_writer, None, lambda n: None)
    got = _locations(paths["contacts"])
    assert len(got) > 200 and set(got) <= set(expected)  # archived contacts are not listed
    assert got == {k: expected[k] for k in got}


def test_the_location_is_address_evidence_of_the_intercom_side(load, tmp_path: Path) -> None:
    folder, expected = load
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path / "data")})
    res = run_audit(cfg, str(folder), tmp_path / "out")
    con: duckdb.DuckDBPyConnection = res.con
    cols = {r[0] for r in con.execute("DESCRIBE sa_ic_people").fetchall()}
    assert {"mf_city", "mf_state", "mf_country"} <= cols
    rows = con.execute("SELECT ic_id, mf_city, mf_state, mf_country FROM sa_ic_people").fetchall()
    assert rows and all(r[3] is not None for r in rows)
    assert sum(r[1] is not None for r in rows) >= 90 and sum(r[2] is not None for r in rows) >= 90
    for ic_id, city, _, _ in rows:
        want = expected[ic_id][0]
        assert (city is None) == (want is None)
        # the city as the city comparison normalizes it (lower case, no accents: "Almería" -> "almeria")
        assert want is None or city == con.execute(f"SELECT {column_sql('city', '?')}", [want]).fetchall()[0][0]
