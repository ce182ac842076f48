"""Conversations read from list/search pages (150 a call), partitioned in parallel, parts only on request.

Against the Intercom emulator over HTTPS, with 2,400 conversations spread over 250 days.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.connectors.arrow import UTC_US
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.context import IntercomContext
from syncaudit.connectors.intercom.conversations import ConversationsStream
from syncaudit.snapshot import TableWriter
from test_pull_fixture_data import DAY, EPOCH0, make_load_dir

N = 2_400


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=60)
    contacts = [json.loads(line)["id"] for line in (load / "intercom" / "contacts.jsonl").read_text().splitlines()]
    with open(load / "intercom" / "conversations.jsonl", "w") as f:
        for i in range(N):
            t = EPOCH0 + (i * 250 * DAY) // N + 7
            doc = {
                "id": str(20_000 + i),
                "created_at": t,
                "updated_at": t + (i % 50) * DAY,
                "state": "closed" if i % 3 else "open",
                "open": not i % 3,
                "title": f"Question {i}",
                "admin_assignee_id": "991",
                "contacts": {"contacts": [{"id": contacts[i % len(contacts)]}]},
                "tags": {"tags": [{"id": "81", "name": "vip"}] if i % 7 == 0 else []},
                "source": {"type": "email", "body": "<p>help</p>"},
                "conversation_parts": {
                    "conversation_parts": [
                        {
                            "id": str(900_000 + i),
                            "part_type": "close",
                            "created_at": t + 60,
                            "author": {"type": "admin", "id": "991"},
                        }
                    ]
                },
            }
            f.write(json.dumps(doc) + "\n")
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def _client(sb: RunningSandbox) -> IntercomClient:
    return IntercomClient(sb["intercom"]["base_url"], sb["intercom"]["token"], build_http_session(sb["ca_cert"], 30))


def _pull(sb: RunningSandbox, out: Path, since: datetime | None = None, **kw: Any) -> tuple[Any, Any, list[dict]]:
    client = _client(sb)
    seq0 = sb.control("GET", "requests", since=10**12)["last"]
    out.mkdir(parents=True, exist_ok=True)
    stream = ConversationsStream(IntercomContext(client), **kw)
    outcome = stream.pull(lambda name, schema: TableWriter(out / f"{name}.parquet", schema), since, lambda n: None)
    log = [r for r in sb.requests(system="intercom", since=seq0) if "__sandbox__" not in r["path"]]
    return pq.read_table(out / "conversations.parquet").sort_by("id"), outcome, log


def test_partitioned_pages_equal_the_sequential_list_at_one_call_per_page(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    seq, _, seq_log = _pull(sandbox, tmp_path / "seq", workers=1)
    par, outcome, par_log = _pull(sandbox, tmp_path / "par", workers=4)
    assert seq.num_rows == par.num_rows == N
    assert par.column("id").to_pylist() == sorted(str(20_000 + i) for i in range(N))  # none twice, none lost
    assert seq.equals(par)
    assert outcome.extra["partitions"] > 1
    # No per-conversation fetch: one call per page of 150, plus a partial page per partition and two probes.
    assert not [r for r in par_log if r["path"].rsplit("/", 1)[-1].isdigit()]
    assert len(seq_log) == -(-N // 150)
    assert len(par_log) <= -(-N // 150) + outcome.extra["partitions"] + 2
    row = next(r for r in par.to_pylist() if r["id"] == "20007")
    assert (row["state"], row["tags"], row["source_type"], row["title"]) == ("closed", ["vip"], "email", "Question 7")
    assert row["contact_ids"] and row["updated_at"] > row["created_at"]
    assert pq.read_table(tmp_path / "par" / "conversation_parts.parquet").num_rows == 0


def test_incremental_reads_only_what_changed_since_the_bookmark(sandbox: RunningSandbox, tmp_path: Path) -> None:
    full, _, _ = _pull(sandbox, tmp_path / "full", workers=4)
    since = datetime.fromtimestamp(EPOCH0 + 270 * DAY, UTC)
    changed = full.filter(pc.greater_equal(full["updated_at"], pa.scalar(since, UTC_US)))
    assert 0 < changed.num_rows < 250
    delta, outcome, log = _pull(sandbox, tmp_path / "delta", since=since, workers=4, parts="changed")
    # The day-truncated search re-reads at most the lookback day; nothing older.
    got = set(delta.column("id").to_pylist())
    assert set(changed.column("id").to_pylist()) <= got
    day_before = datetime.fromtimestamp(EPOCH0 + 269 * DAY, UTC)
    assert got <= set(
        full.filter(pc.greater_equal(full["updated_at"], pa.scalar(day_before, UTC_US))).column("id").to_pylist()
    )
    # Parts fetched for the changed conversations only: one GET each.
    fetched = [r for r in log if r["method"] == "GET" and r["path"].rsplit("/", 1)[-1].isdigit()]
    assert len(fetched) == delta.num_rows == outcome.records
    parts = pq.read_table(tmp_path / "delta" / "conversation_parts.parquet")
    assert set(parts.column("conversation_id").to_pylist()) == got
