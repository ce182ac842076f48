"""Plan building looks records up in one query per object, never one per finding (each one scans a table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changes_world import make_world, world_config
from syncaudit.changes.context import PlanContext
from syncaudit.changes.policies import merge_intercom_leads, relink_stale


def _queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Calls of PlanContext.prefetch that reach DuckDB (ids not cached yet, table present)."""
    seen: list[tuple[str, str]] = []
    original = PlanContext.prefetch

    def spy(self: PlanContext, system: str, obj: str, ids) -> None:  # noqa: ANN001
        ids = list(ids)
        if self.table(system, obj) in self.tables and any(i and (system, obj, i) not in self._cache for i in ids):
            seen.append((system, obj))
        original(self, system, obj, ids)

    monkeypatch.setattr(PlanContext, "prefetch", spy)
    return seen


def _stale(world: dict, n: int) -> list[dict]:
    """stale_link findings [converted Lead, its Contact, Intercom user] for the first n people."""
    out = []
    for i in range(n):
        contact, user = world["sf"]["Contact"][i]["Id"], world["ic"][i]["id"]
        out.append({"id": f"st{i:03d}", "kind": "stale_link", "system": "both", "object": "Lead", "field": None,
                    "records": [f"00Q00000000{i:04d}AAA", contact, user]})  # fmt: skip
    return out


@pytest.mark.parametrize("leads", [2, 24])
def test_merging_intercom_leads_costs_one_lookup_however_many_duplicates(
    leads: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(8, leads=leads)
    ctx = PlanContext(world_config(tmp_path), world["snapshot"].duckdb(), world["findings"], world["snapshot"])
    queries = _queries(monkeypatch)
    ops = list(merge_intercom_leads(ctx, {}))
    assert len([o for o in ops if o.op == "merge"]) == leads  # every lead of person 1 merged into the user
    assert queries == [("intercom", "contact")]


@pytest.mark.parametrize("n", [2, 8])
def test_relinking_stale_links_costs_one_lookup_per_object(n: int, tmp_path: Path, monkeypatch) -> None:
    world = make_world(8)
    findings = world["findings"] + _stale(world, n)
    ctx = PlanContext(world_config(tmp_path), world["snapshot"].duckdb(), findings, world["snapshot"])
    queries = _queries(monkeypatch)
    ops = list(relink_stale(ctx, {}))
    assert len(ops) == n  # no Lead table in this snapshot: each one is a review item, and still looked up once
    assert sorted(set(queries)) == sorted(queries) and len(queries) <= 2


class CountingConnection:
    """A DuckDB connection that remembers the SQL it was given."""

    def __init__(self, con) -> None:  # noqa: ANN001
        self._con, self.sql = con, []

    def execute(self, sql: str, *args):  # noqa: ANN202
        self.sql.append(sql)
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._con, name)


@pytest.mark.parametrize("convs", [2, 8])
def test_unlogged_conversations_find_their_person_in_one_join(convs: int, tmp_path: Path) -> None:
    from syncaudit.changes.policies import log_conversations

    world = make_world(8, convs=convs)
    findings = [
        {**f, "records": [r for r in f["records"] if r.isdigit()]} if f["kind"] == "conversation_unlogged" else f
        for f in world["findings"]
    ]
    snap = world["snapshot"]
    snap.tables["ic_conversations"] = [
        {"id": str(471 + k), "contact_ids": [world["ic"][k]["id"], world["ic"][(k + 1) % 8]["id"]]}
        for k in range(convs)
    ]
    con = CountingConnection(snap.duckdb())
    ctx = PlanContext(world_config(tmp_path), con, findings, snap)
    ops = {o.key: o for o in log_conversations(ctx, {"app_id": "abc123de"}) if o.op == "upsert"}
    contacts = [c["Id"] for c in world["sf"]["Contact"]]
    # Person k's key is missing on one side when k % 4 is 2 or 3: the conversation's other contact (k + 1) is
    # then the only linked one, unless it is unlinked too; of two linked people, the first by Id is taken.
    linked = {k for k in range(8) if k % 4 in (0, 1)}
    expected = {}
    for k in range(convs):
        people = sorted(contacts[j] for j in (k, (k + 1) % 8) if j in linked)
        if people:
            expected[str(471 + k)] = people[0]
    assert {key: op.after["WhoId"] for key, op in ops.items()} == expected
    assert len([s for s in con.sql if "ic_conversations" in s]) == 1


def test_resolving_a_plan_larger_than_the_spools_memory_cap_spills(tmp_path: Path) -> None:
    from syncaudit.changes.model import Operation
    from syncaudit.changes.planfile import PlanSpool

    spool = PlanSpool(tmp_path, memory_limit="32MB")
    n = 30_000  # ~50 MB of operation bodies: more than the cap
    ops = [
        Operation(
            "intercom",
            "contact",
            f"{(i * 7919) % n:024x}",
            "update",
            {"name": str(i % 5)},
            {"name": "x" * 1500},
            1,
            f"f{i}",
            "p",
        )  # fmt: skip
        for i in range(n)
    ]
    spool.add(0, ops)
    assert spool.resolve() == 0
    spool.con.execute("SET memory_limit = '1GB'")  # writing the plan out is not what this test is about
    keys = [o.key for batch in spool.ordered() for o in batch]
    assert keys == sorted(f"{i:024x}" for i in range(n))  # plan order: by record key within one policy and op
    spool.close()
