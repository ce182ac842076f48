"""`syncaudit snapshot generate`: a generated org pair written partition by partition straight into a snapshot
holds exactly what generating the load folder and converting it (`snapshot from-load`) gives."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crmsandbox.generator import generate
from syncaudit.cli import main
from syncaudit.config import load_config
from syncaudit.loadfolder import convert_load_folder, lit
from syncaudit.snapshot import open_snapshot
from syncaudit.snapshot_generate import generate_snapshot
from test_scale_resources import write_config

SIZE, SEED, PER = 1500, 4, 500


def _tables(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def test_partitions_written_into_a_snapshot_equal_the_converted_load_folder(tmp_path: Path) -> None:
    snap = generate_snapshot(SIZE, SEED, out=tmp_path / "snap", partition_people=PER)
    load = generate(tmp_path / "load", SIZE, SEED, partition_people=PER)
    ref = convert_load_folder(load, tmp_path / "ref").path
    assert _tables(snap) == _tables(ref) and len(_tables(snap)) >= 14
    con = duckdb.connect()
    for rel in _tables(ref):
        a, b = lit(str(snap / rel)), lit(str(ref / rel))
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({b})").fetchall()]
        assert sorted(cols) == sorted(r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({a})").fetchall())
        names = ", ".join(f'"{c}"' for c in cols)
        n = con.execute(f"SELECT count(*) FROM read_parquet({b})").fetchone()[0]
        diff = con.execute(
            f"SELECT count(*) FROM ((SELECT {names} FROM read_parquet({a}) EXCEPT ALL SELECT {names} FROM read_parquet({b})) "
            f"UNION ALL (SELECT {names} FROM read_parquet({b}) EXCEPT ALL SELECT {names} FROM read_parquet({a})))"
        ).fetchone()[0]
        assert diff == 0, rel
        assert n == con.execute(f"SELECT count(*) FROM read_parquet({a})").fetchone()[0]
    assert (snap / "truth.json").read_bytes() == (load / "truth.json").read_bytes()
    pods = con.execute(
        f"SELECT count(DISTINCT substr(Id, 4, 2)) FROM read_parquet({lit(str(snap / 'salesforce' / 'Contact.parquet'))})"
    ).fetchone()[0]
    assert pods == 3
    assert not (snap / ".work").exists()


def test_converted_contacts_keep_who_last_modified_them(tmp_path: Path) -> None:
    """LastModifiedById is a user id (a reference), not a timestamp: the conversion keeps every value the load
    folder holds (the audit tells syncaudit's own writes and the sync user's from others' edits by it)."""
    load = generate(tmp_path / "load", 300, SEED)
    ref = convert_load_folder(load, tmp_path / "ref").path
    con = duckdb.connect()
    src = next((load / "salesforce").glob("Contact.*"))
    reader = "read_csv" if src.suffix == ".csv" else "read_json_auto"
    loaded = con.execute(
        f"SELECT count(LastModifiedById), count(DISTINCT LastModifiedById) FROM {reader}({lit(str(src))})"
    ).fetchone()
    got = con.execute(
        f"SELECT count(LastModifiedById), count(DISTINCT LastModifiedById), min(typeof(LastModifiedById)) "
        f"FROM read_parquet({lit(str(ref / 'salesforce' / 'Contact.parquet'))})"
    ).fetchone()
    assert loaded[0] > 0 and got[:2] == loaded and got[2] == "VARCHAR"


def test_with_a_config_it_becomes_the_latest_snapshot(tmp_path: Path, capsys) -> None:
    cfg_file = write_config(tmp_path)
    assert main(["snapshot", "generate", "--size", "300", "--seed", "2", "--config", str(cfg_file)]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    snap = open_snapshot(load_config(cfg_file))
    assert snap.path == Path(printed) and snap.path.name == "gen-300-2"
    assert snap.manifest["source"] == "generator" and snap.manifest["started_at"].startswith("2026-11-01")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["snapshot", "generate", "--size", "0", "--out", "{tmp}/s"], "--size must be"),
        (["snapshot", "generate", "--size", "10"], "say where the snapshot goes"),
        (
            ["snapshot", "generate", "--size", "10", "--out", "{tmp}/s", "--conversations-per-person", "-2"],
            "--conversations-per-person must be a number from 0 to 10",
        ),
        (
            ["snapshot", "generate", "--size", "10", "--out", "{tmp}/s", "--calls-per-person", "1e12"],
            "--calls-per-person must be a number from 0 to 10",
        ),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path: Path, capsys, argv: list[str], needle: str) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "s.partial").exists()


def test_a_non_number_activity_is_refused_by_the_parser_with_exit_2(tmp_path: Path, capsys) -> None:
    argv = ["snapshot", "generate", "--size", "10", "--out", str(tmp_path / "s"), "--calls-per-person", "many"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--calls-per-person: invalid float value: 'many'" in err
    assert "Traceback" not in err and not (tmp_path / "s").exists()


def test_activity_options_reach_the_generated_snapshot(tmp_path: Path, capsys) -> None:
    """--conversations-per-person and --calls-per-person set the generator's volume; the manifest and truth.json
    record it, and the snapshot holds the conversations and Tasks of the load folder with the same options."""
    busy = {"conversations_per_person": 2.0, "calls_per_person": 0.5}
    argv = ["snapshot", "generate", "--size", "400", "--seed", "3", "--out", str(tmp_path / "snap")]
    assert main([*argv, "--conversations-per-person", "2", "--calls-per-person", "0.5"]) == 0
    root = tmp_path / "snap"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["generator"]["activity"] == busy
    load = generate(tmp_path / "load", 400, 3, activity=busy)
    truth = json.loads((load / "truth.json").read_text())
    written = json.loads((root / "truth.json").read_text())
    assert written["generator"] == truth["generator"] and written["counts"] == truth["counts"]
    assert written["generator"]["activity"] == busy
    con = duckdb.connect()
    tasks = con.execute(f"SELECT count(*) FROM read_parquet({lit(str(root / 'salesforce' / 'Task.parquet'))})")
    assert tasks.fetchone()[0] == truth["counts"]["salesforce"]["Task"] > 400
    convs = con.execute(f"SELECT count(*) FROM read_parquet({lit(str(root / 'intercom' / 'conversations.parquet'))})")
    assert convs.fetchone()[0] == truth["counts"]["intercom"]["conversations"] > 600
