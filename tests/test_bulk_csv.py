"""Bulk API 2.0 results: every valid CSV parses, through the parser alone and through the emulator's endpoint.

The oracle is Python's csv module (RFC 4180): whatever it reads from the same bytes, the Arrow reader
must read too, row for row, over page and block boundaries.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.bulk_csv import read_csv_tables
from syncaudit.connectors.salesforce.client import SalesforceClient
from syncaudit.connectors.salesforce.streams import SalesforceObjectStream
from syncaudit.snapshot import TableWriter
from test_pull_fixture_data import make_load_dir

LONG = ('Line of a long text area with ünïcödé, "quotes", commas and 😀 emoji.\n' * 2000)[:131_072]
HOSTILE = [
    "Conversation closed in Intercom.\nCustomer: hi\nAgent: hello, how can I help?",
    'She said "no", then "yes"',
    "a,b,c",
    "trailing newline\n",
    "\nleading newline",
    "windows\r\nline ending",
    "Zoë 😀 Ωmega 中文",
    "",
    '""',
    LONG,
    ",\n,\n",
    "\ufeffnot a BOM at the start of a file",
]


def _csv(rows: list[list[str]], *, bom: bool = False, terminator: str = "\n", quote_all: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=terminator, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def _schema() -> pa.Schema:
    return pa.schema([("Id", pa.string()), ("Description", pa.string()), ("Subject", pa.string())])


def _parse(data: bytes, tmp_path: Path, block_size: int = 1 << 16) -> list[dict]:
    path = tmp_path / "page.csv"
    path.write_bytes(data)
    tables = list(read_csv_tables(path, _schema(), what="Task", block_size=block_size))
    return pa.concat_tables([_schema().empty_table(), *tables]).to_pylist()


@pytest.mark.parametrize("quote_all", [False, True], ids=["minimal-quoting", "all-quoted"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_hostile_values_parse_as_the_rfc4180_reader_reads_them(tmp_path: Path, bom: bool, quote_all: bool) -> None:
    rows = [["Id", "Description", "Subject"]]
    rows += [[f"00T{i:015d}", v, f"Subject {i}, “{v[:5]}”"] for i, v in enumerate(HOSTILE * 40)]
    data = _csv(rows, bom=bom, quote_all=quote_all)
    got = _parse(data, tmp_path)
    oracle = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]
    assert len(got) == len(oracle) == len(HOSTILE) * 40
    for g, o in zip(got, oracle, strict=True):
        # Empty fields are null (Salesforce's null); everything else is kept byte for byte.
        assert [g["Id"], g["Description"], g["Subject"]] == [v if v != "" else None for v in o]


def test_a_row_longer_than_a_block_still_parses(tmp_path: Path) -> None:
    rows = [["Id", "Description", "Subject"], ["a", LONG * 3, "x"], ["b", "short\nvalue", "y"]]
    got = _parse(_csv(rows), tmp_path, block_size=4096)
    assert [r["Description"] for r in got] == [LONG * 3, "short\nvalue"]


def test_columns_are_matched_by_header_name_not_position(tmp_path: Path) -> None:
    data = _csv([["subject", "ID", "Extra"], ["s1", "x1", "e"]])
    assert _parse(data, tmp_path) == [{"Id": "x1", "Description": None, "Subject": "s1"}]


def test_a_page_with_only_a_header_is_empty(tmp_path: Path) -> None:
    assert _parse(b"Id,Description,Subject\n", tmp_path) == []


# -- through the emulator's Bulk API 2.0 endpoint


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=60)
    with open(load / "salesforce" / "Task.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Subject", "Description", "Status", "CreatedDate"])
        for i in range(300):
            w.writerow([f'Call "{i}", 😀', HOSTILE[i % len(HOSTILE)], "Completed", "2026-01-02T03:04:05Z"])
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def _client(sb: RunningSandbox) -> SalesforceClient:
    f = sb["salesforce"]
    c = SalesforceCredentials(
        method="client_credentials",
        token_url=f["token_url"],
        instance_url=f["instance_url"],
        client_id=f["client_id"],
        client_secret=f["client_secret"],
    )
    http = build_http_session(sb["ca_cert"], 30)
    return SalesforceClient(SalesforceAuthenticator(c, http, 30), http)


def _pull(sb: RunningSandbox, threshold: int, out: Path, page: int = 100_000) -> pa.Table:
    cfg = Config.model_validate({"name": "t", "sandbox": {}, "pull": {"bulk_threshold": threshold}})
    stream = SalesforceObjectStream(_client(sb), cfg, "Task", bulk_page=page)
    out.mkdir(parents=True, exist_ok=True)
    outcome = stream.pull(lambda name, schema: TableWriter(out / f"{name}.parquet", schema), None, lambda n: None)
    assert outcome.extra["method"] == ("bulk2" if threshold == 0 else "rest")
    return pq.read_table(out / "Task.parquet").sort_by("Id")


def test_emulator_writes_rfc4180_csv_with_lf(sandbox: RunningSandbox) -> None:
    c = _client(sandbox)
    job = c.request(
        "POST",
        "jobs/query",
        "bulk",
        json={"operation": "query", "query": "SELECT Id, Description FROM Task", "lineEnding": "LF"},
    ).json()
    body = c.request("GET", f"jobs/query/{job['id']}/results", "results").content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == ["Id", "Description"] and len(rows) == 301
    assert sorted(r[1] for r in rows[1:]) == sorted(HOSTILE[i % len(HOSTILE)] for i in range(300))
    assert "\r\n" not in body.replace("windows\r\nline", "")  # records end with LF, as the job asked


@pytest.mark.parametrize("page", [100_000, 7], ids=["one-page", "pages-of-7"])
def test_bulk_and_rest_read_multiline_values_identically(sandbox: RunningSandbox, tmp_path: Path, page: int) -> None:
    rest = _pull(sandbox, 100_000, tmp_path / "rest")
    bulk = _pull(sandbox, 0, tmp_path / "bulk", page=page)
    assert rest.num_rows == bulk.num_rows == 300
    assert rest.schema == bulk.schema
    for name in rest.column_names:
        assert rest[name].equals(bulk[name]), name
    assert LONG in bulk["Description"].to_pylist()


def test_a_page_without_the_header_is_read_under_the_first_pages_names(tmp_path: Path) -> None:
    path = tmp_path / "page2.csv"
    path.write_bytes(_csv([["00T2", "second\npage", "s2"], ["00T3", "", "s3"]]))
    tables = list(read_csv_tables(path, _schema(), what="Task", header=["Id", "Description", "Subject"]))
    rows = pa.concat_tables(tables).to_pylist()
    assert rows == [
        {"Id": "00T2", "Description": "second\npage", "Subject": "s2"},
        {"Id": "00T3", "Description": None, "Subject": "s3"},
    ]
    with_header = tmp_path / "page3.csv"
    with_header.write_bytes(_csv([["ID", "Description", "Subject"], ["00T4", "x", "y"]]))
    tables = list(read_csv_tables(with_header, _schema(), what="Task", header=["Id", "Description", "Subject"]))
    assert pa.concat_tables(tables).to_pylist() == [{"Id": "00T4", "Description": "x", "Subject": "y"}]
