"""`syncaudit pull` end to end against the HTTPS sandbox (both emulators, port 0)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit import cli
from syncaudit.config import Config
from syncaudit.connect import build_clients
from syncaudit.pull import run_pull
from syncaudit.snapshot import VIEW_PREFIX, open_snapshot
from test_pull_fixture_data import make_load_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def load_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_load_dir(tmp_path_factory.mktemp("load"))


@pytest.fixture(scope="module")
def sandbox(load_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    sd = tmp_path_factory.mktemp("sd")
    with running_sandbox(load_dir=load_dir, state_dir=sd) as sb:
        yield sb


def make_cfg(sb: RunningSandbox, data: Path, monkeypatch: pytest.MonkeyPatch, **pull: object) -> Config:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sb["state_dir"])
    return Config.model_validate(
        {"name": "t", "sandbox": {}, "data_dir": str(data), "pull": {"bulk_threshold": 100, **pull}}
    )


def snapshot_rows(snap: object, system: str, name: str) -> list[tuple]:
    con = snap.duckdb()  # type: ignore[attr-defined]
    view = f"{VIEW_PREFIX[system]}_{name}"
    return con.execute(f"SELECT * FROM {view} ORDER BY ALL").fetchall()


def test_full_pull_writes_the_contract_layout(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    cfg = make_cfg(sandbox, tmp_path, monkeypatch)
    out = io.StringIO()
    snap = run_pull(cfg, out=out, bars=False)
    m = snap.manifest
    assert m["status"] == "complete" and m["mode"] == "full"
    for obj in ("Account", "Contact", "Lead", "Task", "Case", "User"):
        assert snap.table_path("salesforce", obj).is_file(), obj
        assert (snap.path / "salesforce" / "describe" / f"{obj}.json").is_file()
    for t in ("contacts", "companies", "contact_companies", "conversations", "conversation_parts", "admins"):
        assert snap.table_path("intercom", t).is_file(), t
    assert (snap.path / "intercom" / "data_attributes.json").is_file()
    con = snap.duckdb()
    assert con.execute("select count(*) from sf_Contact").fetchone()[0] == 420
    assert m["streams"]["salesforce/Contact"]["method"] == "bulk2"  # 420 > bulk_threshold 100
    assert m["streams"]["salesforce/Lead"]["method"] == "rest"
    assert con.execute("select count(*) from ic_contacts").fetchone()[0] == 413
    assert con.execute("select min(length(Id)) from sf_Contact").fetchone()[0] == 18
    types = dict(con.execute("select column_name, column_type from (describe sf_Contact)").fetchall())
    assert types["SystemModstamp"] == "TIMESTAMP WITH TIME ZONE" and types["IsDeleted"] == "BOOLEAN"
    # One summary line per object and a total; the manifest's counts match the request log.
    text = out.getvalue()
    assert "salesforce Contact" in text and "intercom   contacts" in text and "complete (full)" in text
    log = [r for r in sandbox.requests() if "__sandbox__" not in r["path"] and "/oauth2/" not in r["path"]]
    assert m["api_calls"]["salesforce"] + m["api_calls"]["intercom"] == len(log)
    for k in (
        "salesforce/Contact",
        "salesforce/Lead",
        "salesforce/Account",
        "intercom/contacts",
        "intercom/conversations",
    ):
        assert m["streams"][k]["bookmark"] <= m["started_at"], k
    assert "secret" not in (snap.path / "manifest.json").read_text().lower()


def test_cli_pull_prints_the_snapshot_path(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: cli\nsandbox: {{}}\ndata_dir: {tmp_path / 'data'}\n")
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sandbox["state_dir"])
    code = cli.main(["pull", "--config", str(cfg), "--objects", "Account", "admins"])
    out, err = capsys.readouterr()
    assert code == 0, err
    path = Path(out.strip())
    assert path.is_dir() and (path / "manifest.json").is_file()
    assert "Account" in err and "admins" in err


def test_missing_sandbox_gives_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: cli\nsandbox: {{}}\ndata_dir: {tmp_path / 'data'}\n")
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp_path / "nowhere"))
    assert cli.main(["pull", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no running sandbox" in err and "Traceback" not in err


def test_unknown_object_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: cli\nsandbox: {{}}\ndata_dir: {tmp_path / 'data'}\n")
    assert cli.main(["pull", "--config", str(cfg), "--objects", "Opportunity"]) == 2
    assert "unknown object(s) for --objects: opportunity" in capsys.readouterr().err


def test_clients_verify_tls(sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_cfg(sandbox, tmp_path, monkeypatch)
    clients = build_clients(cfg)
    assert clients.salesforce.http.verify == sandbox["ca_cert"]
    assert clients.intercom.http.verify == sandbox["ca_cert"]
    assert open_snapshot is not None


def test_each_object_is_described_once_per_pull(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preflight and the streams share one describe per object within a run; the next run describes afresh."""
    sandbox.reset()
    cfg = make_cfg(sandbox, tmp_path, monkeypatch)
    clients = build_clients(cfg)

    def describes() -> dict[str, int]:
        out: dict[str, int] = {}
        for r in sandbox.requests(system="salesforce"):
            path = r["path"].rstrip("/")
            if path.endswith("/describe") and "/sobjects/" in path:
                obj = path.split("/sobjects/")[1].split("/")[0]
                out[obj] = out.get(obj, 0) + 1
        return out

    run_pull(cfg, out=io.StringIO(), bars=False, clients=clients)  # preflight runs first and describes too
    first = describes()
    assert first and {"Contact", "Account", "Lead", "Task"} <= set(first)
    assert set(first.values()) == {1}, first
    run_pull(cfg, out=io.StringIO(), bars=False, clients=clients)  # a second run: a field may have appeared
    assert set(describes().values()) == {2}
