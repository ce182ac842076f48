"""Out-of-core settings (audit.memory_limit, temp_dir, threads) and `syncaudit snapshot from-load`."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from audit_fixtures import ROOT, write_org_pair
from syncaudit.audit.run import run_audit
from syncaudit.cli import main
from syncaudit.config import AuditOptions, load_config
from syncaudit.duckdb_resources import ENV_MEMORY, OutOfMemoryError, configure_duckdb
from syncaudit.errors import ConfigError
from syncaudit.quality.datasets import open_tables


def write_config(tmp: Path, audit_yaml: str = "") -> Path:
    """config/demo.yaml with a temporary data_dir, without the demo's rules (the hand-written org pair has no
    Case Priority, Account Type or tags) and with ``audit_yaml`` as its audit section."""
    data = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
    data.update({"data_dir": str(tmp / "data"), "rules": []})
    if audit_yaml:
        data["audit"] = yaml.safe_load(audit_yaml)
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return cfg


def with_audit(tmp: Path, **opts):
    cfg = load_config(write_config(tmp))
    return cfg.model_copy(update={"audit": AuditOptions(**opts)})


def test_a_memory_limit_without_a_unit_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, "memory_limit: '12'\n"))
    assert "memory_limit" in str(err.value)
    assert load_config(write_config(tmp_path, "  memory_limit: 12GB\n  threads: 2\n")).audit.memory_limit == "12GB"


def test_resource_settings_do_not_change_the_config_hash(tmp_path: Path) -> None:
    # A resumed pull and a report compare config hashes: where a run computes must not make them differ.
    a = load_config(write_config(tmp_path))
    b = a.model_copy(update={"audit": AuditOptions(memory_limit="1GB", threads=1, temp_dir="/x")})
    assert a.config_hash() == b.config_hash()
    c = a.model_copy(update={"data_dir": "elsewhere"})
    assert a.config_hash() != c.config_hash()


def test_settings_reach_duckdb_and_the_environment_overrides_the_limit(tmp_path: Path, monkeypatch) -> None:
    cfg = with_audit(tmp_path, memory_limit="300MB", threads=1, temp_dir=str(tmp_path / "spill"))
    con = duckdb.connect()
    configure_duckdb(con, cfg)
    limit, folder, threads = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory'), current_setting('threads')"
    ).fetchone()
    assert limit == "286.1 MiB" and folder == str(tmp_path / "spill") and int(threads) == 1
    monkeypatch.setenv(ENV_MEMORY, "1GB")
    configure_duckdb(con, cfg)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"
    monkeypatch.setenv(ENV_MEMORY, "lots")
    with pytest.raises(ConfigError, match=ENV_MEMORY):
        configure_duckdb(duckdb.connect(), cfg)


def test_a_spill_folder_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cfg = with_audit(tmp_path, temp_dir=str(tmp_path / "file" / "spill"))
    with pytest.raises(ConfigError) as err:
        configure_duckdb(duckdb.connect(), cfg)
    assert "audit.temp_dir" in str(err.value)


def test_above_the_limit_duckdb_spills_into_the_configured_folder(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    con = duckdb.connect()
    configure_duckdb(con, with_audit(tmp_path, memory_limit="40MB", threads=1, temp_dir=str(spill)))
    # ~75 MB of sorted rows held in a 40 MB budget: only possible by offloading blocks to the spill folder.
    con.execute("CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS h FROM range(1000000) r(i) ORDER BY h")
    assert con.execute("SELECT count(*), sum(i) FROM t").fetchone() == (1_000_000, 499_999_500_000)
    files = [Path(p) for (p,) in con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()]
    assert files and all(p.parent == spill for p in files)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("org")
    write_org_pair(tmp / "load")
    return tmp


def test_the_audit_in_a_tight_budget_finds_the_same_and_too_tight_says_which_setting(org: Path, tmp_path: Path) -> None:
    roomy = run_audit(with_audit(tmp_path), str(org / "load"), tmp_path / "a")
    tight_cfg = with_audit(tmp_path, memory_limit="64MB", threads=1, temp_dir=str(tmp_path / "spill"))
    tight = run_audit(tight_cfg, str(org / "load"), tmp_path / "b")
    ids = "SELECT id FROM findings_final ORDER BY id"
    assert tight.con.execute(ids).fetchall() == roomy.con.execute(ids).fetchall() != []
    assert tight.con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    with pytest.raises(OutOfMemoryError) as err:
        run_audit(with_audit(tmp_path, memory_limit="2MB", threads=1), str(org / "load"), tmp_path / "c")
    assert err.value.exit_code == 2 and "audit.memory_limit" in str(err.value) and "raise" in str(err.value)


def test_findings_cli_too_small_a_budget_exits_2_with_one_message(org: Path, tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, "  memory_limit: 2MB\n  threads: 1\n")
    code = main(["findings", "--config", str(cfg), "--snapshot", str(org / "load"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("syncaudit: error: ") and "audit.memory_limit" in err and "Traceback" not in err


def test_snapshot_from_load_becomes_the_latest_snapshot_audit_and_quality_read(org: Path, tmp_path: Path, capsys):
    cfg_file = write_config(tmp_path, "  memory_limit: 500MB\n")
    assert main(["snapshot", "from-load", str(org / "load"), "--config", str(cfg_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    snap = Path(out[0])
    assert snap == tmp_path / "data" / "snapshots" / "load-load" and (snap / "salesforce" / "Contact.parquet").is_file()
    assert '"sf_Contact"' in out[1]
    assert (tmp_path / "data" / "snapshots" / "LATEST").read_text().strip() == "load-load"
    cfg = load_config(cfg_file)
    res = run_audit(cfg)  # no snapshot named: LATEST
    assert res.snapshot_id == "load-load" and sum(res.counts().values()) > 0
    tables = open_tables(cfg)  # the quality side opens it as a complete snapshot too
    assert tables.id == "load-load" and "sf_Contact" in tables.views()
    assert tables.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "476.8 MiB"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["snapshot", "from-load", "{tmp}/missing", "--out", "{tmp}/s"], "does not exist"),
        (["snapshot", "from-load", "{load}"], "say where the snapshot goes"),
        (["snapshot", "from-load", "{load}", "--out", "{load}/inside"], "inside the load folder"),
        (["snapshot", "from-load", "{org}", "--out", "{tmp}/s2"], "not a load folder"),
    ],
)
def test_snapshot_from_load_bad_input_exits_2(org: Path, tmp_path: Path, capsys, argv, needle) -> None:
    argv = [a.format(tmp=tmp_path, load=org / "load", org=org) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
