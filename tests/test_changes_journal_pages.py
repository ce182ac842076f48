"""Apply and verify read the journal by pages: never the state of every operation of a run at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from changes_world import make_world, world_config, world_services
from crmsandbox.testing import running_sandbox
from syncaudit.changes import verify as verify_module
from syncaudit.changes.apply import apply_plan, journal_for, plans_dir
from syncaudit.changes.journal import PAGE_KEYS, Journal
from syncaudit.changes.model import Operation
from syncaudit.changes.plan import build_change_plan
from syncaudit.changes.verify import verify_run


def _op(i: int) -> Operation:
    return Operation("salesforce", "Contact", f"003{i:015d}", "update", {"Title": "x"}, {"Title": "y"}, None, f"f{i}")


def test_journal_pages_return_every_operation_once_in_seq_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    run = journal.start_run("h" * 16, str(tmp_path))
    n = 2 * PAGE_KEYS + 37
    journal.intent(run, [(i, _op(i)) for i in range(n)])
    journal.outcomes(run, [(i, _op(i), "updated", None, None, None) for i in range(n) if i % 3])
    other = journal.start_run("g" * 16, str(tmp_path))  # another run's rows are never returned
    journal.outcomes(other, [(0, _op(0), "updated", None, None, None)])
    pages = list(journal.done_rows(run, page=100))
    seqs = [r["seq"] for page in pages for r in page]
    assert seqs == [i for i in range(n) if i % 3] and max(len(p) for p in pages) == 100
    states = journal.states_of(run, range(n + 5))  # more sequence numbers than one look-up takes
    assert len(states) == n and states[3] == ("intent", 1) and states[4] == ("done", 1)
    assert list(journal.in_state(run, "intent")) == list(range(0, n, 3))
    journal.close()


@pytest.fixture
def applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    world = make_world(12)
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp_path / "sb"))
    with running_sandbox(services=world_services(world, tmp_path), state_dir=tmp_path / "sb") as sb:
        cfg = world_config(tmp_path)
        plan = build_change_plan(cfg, world["snapshot"], world["findings"])
        plan.save(plans_dir(cfg))
        yield {"cfg": cfg, "plan": plan, "sb": sb}


def test_apply_and_resume_never_load_the_whole_runs_state(applied: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def whole(*_a: object) -> None:
        raise AssertionError("the state of every operation was loaded at once")

    asked: list[int] = []
    pages = Journal.states_of

    def spy(self: Journal, run_id: str, seqs) -> dict:  # noqa: ANN001
        seqs = list(seqs)
        asked.append(len(seqs))
        return pages(self, run_id, seqs)

    monkeypatch.setattr(Journal, "state_map", whole)
    monkeypatch.setattr(Journal, "ops", whole)
    monkeypatch.setattr(Journal, "states_of", spy)
    monkeypatch.setattr("syncaudit.changes.engine.PAGE_KEYS", 4)  # 14 writes: four look-ups of at most 4
    cfg, plan = applied["cfg"], applied["plan"]
    res = apply_plan(cfg, plan, plan.hash, dry_run=False)
    assert res.status == "complete" and res.counts == {"updated": 12, "created": 1, "merged": 1}
    assert asked and max(asked) <= 4 and sum(asked) == 14
    report = verify_run(cfg, res.run_id)
    assert report.ok and report.checked == 14


def test_verify_in_windows_finds_what_one_window_finds(applied: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, plan, sb = applied["cfg"], applied["plan"], applied["sb"]
    res = apply_plan(cfg, plan, plan.hash, dry_run=False)
    edited = "003000000000001AAA"
    sb.control(
        "POST", "service/salesforce/touch", {"obj": "Contact", "id": edited, "fields": {"Plan_Type__c": "Starter"}}
    )
    whole = verify_run(cfg, res.run_id)
    monkeypatch.setattr(verify_module, "WINDOW", 3)
    windows = verify_run(cfg, res.run_id)
    assert [m["key"] for m in whole.mismatches] == [edited] == [m["key"] for m in windows.mismatches]
    assert (windows.checked, windows.matched) == (whole.checked, whole.matched) == (14, 13)
    _, parts = verify_module.run_windows(journal_for(cfg), res.run_id, size=3)
    assert [len(w) for w in parts] == [3, 3, 3, 3, 2]
