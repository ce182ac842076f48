"""Plans built set-based (operations planned and encoded by DuckDB, written column-wise) are the plans the
per-operation Python path makes: the same operations, in the same order, byte for byte, so the same hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from changes_world import make_world, world_config
from syncaudit.changes import context as plan_context
from syncaudit.changes.context import PlanContext
from syncaudit.changes.encoded import EncodedOps
from syncaudit.changes.model import Plan
from syncaudit.changes.plan import build_change_plan
from syncaudit.changes.policies import normalize_values
from syncaudit.snapshot import open_snapshot


def _reference(cfg):  # noqa: ANN001, ANN202 - the config with normalize_values on its per-operation path
    policy = cfg.fixes.normalize_values.model_copy(update={"options": {"reference": True}})
    return cfg.model_copy(update={"fixes": cfg.fixes.model_copy(update={"normalize_values": policy})})


def _count_update_ops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = plan_context.update_op

    def spy(ctx, system, obj, rid, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(rid)
        return original(ctx, system, obj, rid, *a, **k)

    monkeypatch.setattr("syncaudit.changes.policies.update_op", spy)
    return calls


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A generated org pair (300 people a side) converted to a Parquet snapshot."""
    from crmsandbox.generator import generate
    from syncaudit.config import load_config
    from syncaudit.snapshot_from_load import snapshot_from_load

    root = tmp_path_factory.mktemp("generated")
    generate(root / "load", 300, 5)
    cfg = load_config("config/demo.yaml").model_copy(update={"data_dir": str(root / "data")})
    snapshot_from_load(root / "load", cfg=cfg, out=root / "snap")
    return {"cfg": cfg, "snap": root / "snap"}


def test_a_generated_org_pairs_normalizations_are_planned_in_sql_as_python_plans_them(
    generated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = generated["cfg"]
    snap = open_snapshot(cfg, str(generated["snap"]))
    old = build_change_plan(_reference(cfg), snap, [], fixes=["normalize_values"], save=False)
    calls = _count_update_ops(monkeypatch)
    new = build_change_plan(cfg, snap, [], fixes=["normalize_values"], save=False)
    assert new.summary()["operations"] > 100  # emails, names, phones and partner codes of a generated org
    assert (new.path / "plan.jsonl").read_bytes() == (old.path / "plan.jsonl").read_bytes()
    assert new.hash == old.hash
    summary = lambda p: {k: v for k, v in json.loads((p.path / "summary.json").read_text()).items()}  # noqa: E731
    assert summary(new) == summary(old)
    assert len(calls) < new.summary()["operations"] / 10  # planned in SQL, not one Python call per update


def _tricky_world(tmp_path: Path) -> dict:
    """Values whose JSON text, number reading or length only Python judges exactly, next to plain ones."""
    world = make_world(12)
    contacts, users = world["snapshot"].tables["sf_Contact"], world["snapshot"].tables["ic_contacts"]
    emails = [
        "  P0@Acme.Example",  # plain: SQL
        "Ünïcødé😀@Acme.Example ",  # non-ASCII: SQL (to_json writes UTF-8 as Python does)
        'Quote"Back\\slash@Acme.Example ',  # escapes: SQL
        "Tab\tesc\x1b@Acme.Example ",  # control characters: Python (DuckDB writes \u001B in upper-case hex)
        " 5.0",  # a number both ways (5.0 and 5): same_value says unchanged, no write
        " 1_000",  # Python reads 1_000 as a number, DuckDB does not: Python decides
        " +15551234567 ",  # the same number once trimmed: no write
        "x" * 79 + "@Acme.Example",  # longer than Email's 80 characters once it is written: a review
    ]
    for c, e in zip(contacts, emails, strict=False):
        c["Email"] = e
    # digits only: a number both ways, but another number in E.164 (compared in SQL): a write
    phones = ["(415) 555-0134", "4155550199", "+1 415\u2028555 0100", "+14155550111"]
    for u, p in zip(users, phones, strict=False):
        u["phone"] = p
    snap_dir = tmp_path / "snap"
    (snap_dir / "salesforce" / "describe").mkdir(parents=True)
    fields = [{"name": "Email", "type": "email", "length": 80, "updateable": True}]
    (snap_dir / "salesforce" / "describe" / "Contact.json").write_text(json.dumps({"fields": fields}))
    world["snapshot"].path = str(snap_dir)
    return world


def test_tricky_values_plan_the_same_operations_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = _tricky_world(tmp_path)
    cfg = world_config(tmp_path)
    old = build_change_plan(_reference(cfg), world["snapshot"], [], fixes=["normalize_values"], save=False)
    new = build_change_plan(cfg, world["snapshot"], [], fixes=["normalize_values"], save=False)
    assert (new.path / "plan.jsonl").read_bytes() == (old.path / "plan.jsonl").read_bytes()
    ops = {o.key: o for o in new.operations}
    keys = [c["Id"] for c in world["snapshot"].tables["sf_Contact"]]
    assert ops[keys[1]].after == {"Email": "ünïcødé😀@acme.example"}
    assert ops[keys[3]].after == {"Email": "tab\tesc\x1b@acme.example"}
    assert not {keys[4], keys[5], keys[6]} & set(ops)  # the same number in Python's eyes: nothing to write
    assert ops[keys[7]].op == "review"  # too long for Email: a person decides
    users = [u["id"] for u in world["snapshot"].tables["ic_contacts"]]
    assert ops[users[1]].before == {"phone": "4155550199"} and ops[users[1]].after == {"phone": "+14155550199"}
    # Which rows went which way: plain text in SQL, the rest through Python.
    users = [u["id"] for u in world["snapshot"].tables["ic_contacts"]]
    ctx = PlanContext(cfg, world["snapshot"].duckdb(), [], world["snapshot"])
    fast, slow = [], []
    for item in normalize_values(ctx, {}):
        if isinstance(item, EncodedOps):
            fast += [r[0] for r in ctx.con.sql(f"SELECT key FROM ({item.sql})").fetchall()]
        else:
            slow.append(item.key)
    assert {keys[0], keys[1], keys[2], users[0], users[1]} <= set(fast) and {keys[3], keys[7]} <= set(slow)


def test_a_built_plan_hashes_as_the_same_operations_held_in_memory(tmp_path: Path) -> None:
    # The in-memory Plan hashes operation by operation (model.py); the built one column-wise (planfile.py).
    world = _tricky_world(tmp_path)
    built = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"], save=False)
    again = Plan(built.header, list(built.operations))
    assert len(again.operations) > 10 and again.hash == built.hash
    assert json.loads((built.path / "summary.json").read_text())["operations"] == len(again.operations)
