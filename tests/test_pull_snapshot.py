"""Snapshot run folders, atomic completion, resume, bookmarks and delta merges (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from syncaudit.config import Config
from syncaudit.errors import ConfigError, SyncAuditError
from syncaudit.pull import advance_bookmark
from syncaudit.snapshot import SnapshotRun, StreamResult, latest_snapshot, open_snapshot, snapshots_root
from syncaudit.snapshot_merge import delta_files, drop_removed, table_rows, table_sql, upsert

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SCHEMA = pa.schema([("Id", pa.string()), ("Email", pa.string()), ("IsDeleted", pa.bool_())])


def cfg_for(tmp_path: Path, **pull: object) -> Config:
    return Config.model_validate({"name": "t", "sandbox": {}, "data_dir": str(tmp_path / "data"), "pull": pull})


def write(run: SnapshotRun, rows: list[tuple[str, str, bool]], name: str = "Contact") -> None:
    w = run.writer("salesforce", name, SCHEMA)
    w.write(pa.table(list(zip(*rows, strict=True)), schema=SCHEMA) if rows else SCHEMA.empty_table())
    w.close()


def result(bookmark: str | None = None) -> StreamResult:
    return StreamResult(records=1, api_calls=2, duration_s=0.1, bookmark=bookmark, mode="full")


def test_complete_snapshot_layout_manifest_and_reader(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    run = SnapshotRun.begin(cfg, full=True, now=T0)
    assert run.partial.name == "20261126T120000Z.partial"
    write(run, [("003A", "a@x.io", False), ("003B", None, True)])
    run.stream_done("salesforce/Contact", result("2026-11-26T11:00:00.000000Z"))
    # Until complete, nothing is visible to readers.
    with pytest.raises(ConfigError, match="no complete snapshot"):
        open_snapshot(cfg)
    snap = run.complete()
    assert snap.path == snapshots_root(cfg) / "20261126T120000Z"
    assert (snapshots_root(cfg) / "LATEST").read_text().strip() == snap.id
    m = open_snapshot(cfg).manifest
    assert m["status"] == "complete" and m["config_hash"] == cfg.config_hash()
    assert m["tables"]["salesforce/Contact"]["rows"] == 2
    assert m["api_calls"] == {"salesforce": 2, "intercom": 0}
    assert not any(p.suffix == ".tmp" for p in snap.path.rglob("*"))
    con = open_snapshot(cfg, snap.id).duckdb()
    assert con.execute("select count(*) from sf_Contact where IsDeleted").fetchone() == (1,)
    assert open_snapshot(cfg).table_path("salesforce", "Contact").is_file()


def test_killed_run_is_not_complete_and_is_resumed(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    first = SnapshotRun.begin(cfg, full=True, now=T0)
    write(first, [("003A", "a@x.io", False)])
    first.stream_done("salesforce/Contact", result())
    half = first.writer("salesforce", "Lead", SCHEMA)  # dies while writing Lead
    half.write(pa.table([["00QA"], ["l@x.io"], [False]], schema=SCHEMA))
    first.release()  # the process is gone; its lock with it
    assert latest_snapshot(snapshots_root(cfg)) is None
    with pytest.raises(ConfigError, match="incomplete"):
        open_snapshot(cfg, first.id)
    again = SnapshotRun.begin(cfg, full=True, now=T0 + timedelta(hours=1))
    assert again.id == first.id and again.resumed
    assert again.is_done("salesforce/Contact") and not again.is_done("salesforce/Lead")
    assert not again.table_path("salesforce", "Lead").exists()  # half-written file never got its name
    write(again, [("00QA", "l@x.io", False)], "Lead")
    again.stream_done("salesforce/Lead", result())
    snap = again.complete()
    assert snap.manifest["resumed"] is True
    assert set(snap.manifest["tables"]) == {"salesforce/Contact", "salesforce/Lead"}


def test_partial_of_another_config_is_discarded(tmp_path: Path) -> None:
    run = SnapshotRun.begin(cfg_for(tmp_path), full=True, now=T0)
    run.stream_done("salesforce/Contact", result())
    run.release()
    other = SnapshotRun.begin(cfg_for(tmp_path, lookback_s=60), full=True, now=T0 + timedelta(minutes=5))
    assert other.id != run.id and not other.resumed
    assert not run.partial.exists()
    other.release()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    run = SnapshotRun.begin(cfg, full=True, now=T0)
    with pytest.raises(SyncAuditError, match="another pull"):
        SnapshotRun.begin(cfg, full=True, now=T0)
    run.release()


def test_incremental_run_has_base_and_its_bookmarks(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    run = SnapshotRun.begin(cfg, full=True, now=T0)
    write(run, [("003A", "a@x.io", False)])
    run.stream_done("salesforce/Contact", result("2026-11-26T11:59:00.000000Z"))
    first = run.complete()
    inc = SnapshotRun.begin(cfg, full=False, now=T0 + timedelta(hours=1))
    assert inc.mode == "incremental" and inc.base is not None and inc.base.id == first.id
    assert inc.base_bookmark("salesforce/Contact") == "2026-11-26T11:59:00.000000Z"
    inc.release()
    forced = SnapshotRun.begin(cfg, full=True, now=T0 + timedelta(hours=2))
    assert forced.mode == "full" and forced.base is None
    forced.release()


def test_bookmarks_only_move_forward_and_never_past_the_start() -> None:
    start = T0
    assert advance_bookmark(None, "2026-11-26T11:00:00Z", start) == "2026-11-26T11:00:00.000000Z"
    # A server clock ahead of ours: the bookmark stops at our start.
    assert advance_bookmark(None, "2026-11-26T13:00:00Z", start) == "2026-11-26T12:00:00.000000Z"
    # Older data than the previous bookmark (or nothing new): keep the previous one.
    assert (
        advance_bookmark("2026-11-26T11:30:00.000000Z", "2026-11-26T10:00:00Z", start) == "2026-11-26T11:30:00.000000Z"
    )
    assert advance_bookmark("2026-11-26T11:30:00.000000Z", None, start) == "2026-11-26T11:30:00.000000Z"
    assert advance_bookmark(None, None, start) is None


def rows(table: Path, order: str = "ALL") -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM ({table_sql(table)}) ORDER BY {order}").fetchall()


@pytest.mark.parametrize("share", [1.0, 0.0], ids=["delta-layer", "compacted"])
def test_merge_upserts_replaces_children_and_drops_removed(tmp_path: Path, share: float) -> None:
    base = tmp_path / "s1" / "contacts.parquet"
    base.parent.mkdir()
    delta = tmp_path / "delta.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "v": [1, 2, 3]}), base)
    pq.write_table(pa.table({"id": ["b", "d"], "v": [20, 4]}), delta)
    out = tmp_path / "s2" / "contacts.parquet"
    n = upsert(base, delta, out, key="id", removed=["c"], compact_share=share)
    assert n == 3 == table_rows(out)
    assert rows(out) == [("a", 1), ("b", 20), ("d", 4)]
    # The delta layer leaves the base file as it was (one file, two snapshots); compaction writes a new one.
    assert out.samefile(base) == (share == 1.0)
    assert delta_files(out)[1].is_file() == (share == 1.0)
    assert rows(base) == [("a", 1), ("b", 2), ("c", 3)]
    # Child table: every link of a re-pulled parent is replaced, others kept.
    cbase = tmp_path / "s1" / "links.parquet"
    cdelta = tmp_path / "cdelta.parquet"
    pq.write_table(pa.table({"contact_id": ["a", "b", "b", "c"], "company_id": ["1", "2", "3", "4"]}), cbase)
    pq.write_table(pa.table({"contact_id": ["d"], "company_id": ["9"]}), cdelta)
    cout = tmp_path / "s2" / "links.parquet"
    upsert(cbase, cdelta, cout, key="contact_id", replaced=delta, replaced_key="id", removed=["c"], compact_share=share)
    assert rows(cout) == [("a", "1"), ("d", "9")]
    # A second run stacks on the first one's layer: b changes again, a is found gone, c comes back.
    delta2 = tmp_path / "delta2.parquet"
    pq.write_table(pa.table({"id": ["b", "c"], "v": [200, 30]}), delta2)
    out3 = tmp_path / "s3" / "contacts.parquet"
    assert upsert(out, delta2, out3, key="id", compact_share=share) == 4
    assert drop_removed(out3, "id", ["a"]) == 3
    assert rows(out3) == [("b", 200), ("c", 30), ("d", 4)]
    assert rows(out) == [("a", 1), ("b", 20), ("d", 4)]  # the earlier snapshot is untouched


def test_a_delta_outgrowing_its_share_or_new_columns_compact_into_a_new_base(tmp_path: Path) -> None:
    base = tmp_path / "s1" / "t.parquet"
    base.parent.mkdir()
    pq.write_table(pa.table({"id": [str(i) for i in range(100)], "v": list(range(100))}), base)
    small = tmp_path / "small.parquet"
    pq.write_table(pa.table({"id": ["5"], "v": [-5]}), small)
    out = tmp_path / "s2" / "t.parquet"
    assert upsert(base, small, out, key="id", compact_share=0.1) == 100
    assert out.samefile(base) and delta_files(out)[1].is_file()
    big = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(10, 21)], "v": [0] * 11}), big)
    out2 = tmp_path / "s3" / "t.parquet"
    assert upsert(out, big, out2, key="id", compact_share=0.1) == 100
    assert not out2.samefile(base) and not delta_files(out2)[1].is_file()
    assert pq.read_table(out2).num_rows == 100
    assert dict(rows(out2))["5"] == -5
    wider = tmp_path / "wider.parquet"
    pq.write_table(pa.table({"id": ["7"], "v": [7], "new": ["x"]}), wider)
    out3 = tmp_path / "s4" / "t.parquet"
    assert upsert(out2, wider, out3, key="id") == 100
    assert pq.read_schema(out3).names == ["id", "v", "new"] and not delta_files(out3)[1].is_file()
    assert duckdb.sql(f"select count(new) from ({table_sql(out3)})").fetchall() == [(1,)]


def test_merge_tolerates_null_keys(tmp_path: Path) -> None:
    base = tmp_path / "s1" / "b.parquet"
    base.parent.mkdir()
    delta = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["a", None], "v": [1, 2]}), base)
    pq.write_table(pa.table({"id": pa.array([None, "b"], pa.string()), "v": [3, 4]}), delta)
    out = tmp_path / "s2" / "b.parquet"
    assert upsert(base, delta, out, key="id") == 4
    assert len(rows(out, "v")) == 4


def test_a_whole_table_written_over_a_stale_delta_layer_drops_it(tmp_path: Path) -> None:
    # A resumed run may pull a table in full where an earlier attempt left a delta layer beside it.
    run = SnapshotRun.begin(cfg_for(tmp_path), full=True, now=T0)
    rows_path, keys_path = delta_files(run.table_path("salesforce", "Contact"))
    rows_path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"Id": ["003Z"], "Email": ["z@x.io"], "IsDeleted": [False]}), rows_path)
    pq.write_table(pa.table({"Id": ["003A"]}), keys_path)
    write(run, [("003A", "a@x.io", False)])
    run.stream_done("salesforce/Contact", result())
    snap = run.complete()
    assert not snap.has_delta("salesforce", "Contact")
    assert snap.duckdb().execute("select Id from sf_Contact").fetchall() == [("003A",)]


def test_an_empty_delta_links_the_base_alone(tmp_path: Path) -> None:
    base = tmp_path / "s1" / "t.parquet"
    base.parent.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "v": [1, 2]}), base)
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "v": pa.array([], pa.int64())}), empty)
    out = tmp_path / "s2" / "t.parquet"
    assert upsert(base, empty, out, key="id") == 2
    assert out.samefile(base) and not delta_files(out)[1].exists()
