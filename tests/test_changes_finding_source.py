"""The plan reads its findings a kind and a batch at a time (FindingSource): the same plan as from the whole list,
with no policy ever holding more than a batch of findings and their records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from changes_world import make_world, world_config
from syncaudit.changes import finding_source
from syncaudit.changes.context import PlanContext
from syncaudit.changes.finding_source import FindingSource
from syncaudit.changes.plan import build_change_plan
from syncaudit.errors import SyncAuditError


def _lines(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"id": "b", "kind": "orphan", "system": "salesforce", "records": ["1"]},
    {"id": "a", "kind": "duplicate", "system": "intercom", "records": ["2"], "extra": {"x": [1, {"y": "é"}]}},
    {"id": "c", "kind": "duplicate", "system": "salesforce", "records": ["3"]},
    {"id": "a", "kind": "duplicate", "system": "salesforce", "records": ["4"]},  # a tie: file order
    {"kind": "orphan", "records": []},  # no id: str(None)
    {"id": "Z", "kind": "duplicate", "records": ["5"]},
    {"id": "é", "kind": "duplicate", "records": ["6"]},
]


def test_a_file_and_a_list_give_the_same_findings_in_the_plans_order(tmp_path: Path) -> None:
    expected = sorted(ROWS, key=lambda f: (str(f.get("kind")), str(f.get("id"))))
    src = FindingSource.from_file(_lines(tmp_path / "f.jsonl", ROWS))
    mem = FindingSource(ROWS)
    try:
        for s in (src, mem):
            assert list(s) == expected and len(s) == len(ROWS)
            assert [f["records"] for f in s.of_kind("duplicate")] == [["5"], ["2"], ["4"], ["3"], ["6"]]
            assert [f["records"] for f in s.of_kind("duplicate", "salesforce")] == [["4"], ["3"]]
            assert s.count("duplicate") == 5 and s.count("orphan", "salesforce") == 1 and s.count("nope") == 0
            assert [len(b) for b in s.batches("duplicate", size=2)] == [2, 2, 1]
    finally:
        src.close()
    assert src._tmp is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "kind": "orphan"}\n\n{"id": \n', "line 3 is not JSON"),
        ('{"id": "a", "kind": "orphan"}\n[1, 2]\n', "line 2 is not a finding"),
    ],
)
def test_a_bad_findings_file_names_its_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "f.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(SyncAuditError, match=message):
        FindingSource.from_file(tmp_path / "f.jsonl")
    with pytest.raises(SyncAuditError, match="no findings at"):
        FindingSource.from_file(tmp_path / "missing.jsonl")


def test_batched_policies_plan_what_the_whole_list_plans_holding_one_batch(tmp_path: Path, monkeypatch) -> None:
    world = make_world(24, leads=3, convs=6)
    cfg = world_config(tmp_path)
    whole = build_change_plan(cfg, world["snapshot"], world["findings"], save=False)
    path = _lines(tmp_path / "findings.jsonl", world["findings"])
    # Batches of 2: every policy that runs by batch prefetches and holds the records of two findings at most.
    monkeypatch.setattr(finding_source, "BATCH", 2)
    held: list[int] = []
    real_prefetch, real_forget = PlanContext.prefetch, PlanContext.forget

    def prefetch(self, system, obj, ids):  # noqa: ANN001, ANN202
        real_prefetch(self, system, obj, ids)
        held.append(len(self._cache))

    def forget(self):  # noqa: ANN001, ANN202
        held.append(-1)
        real_forget(self)

    monkeypatch.setattr(PlanContext, "prefetch", prefetch)
    monkeypatch.setattr(PlanContext, "forget", forget)
    batched = build_change_plan(cfg, world["snapshot"], path, save=False)
    assert batched.hash == whole.hash and len(batched.operations) == len(whole.operations) > 20
    assert batched.header["findings"] == len(world["findings"])
    assert held.count(-1) > 10  # forgotten after each batch
    # Two findings name at most 2 x 3 records (a pair and a lead's user) on one side.
    assert 0 < max(held) <= 6, held
