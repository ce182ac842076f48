"""Fix-ups and migrations: plan -> review -> apply (guarded, journaled, exactly-once) -> verify -> rollback.

Entry points for notebooks 60/70/80 and other callers:

    build_change_plan(cfg, snapshot, findings, fixes=None) -> Plan      # syncaudit.changes.plan
    summarize_plan(plan) -> dict;  operations_frame(plan) -> DataFrame   # syncaudit.changes.model
    load_plan(path) -> Plan;  plan.save(plans_dir(cfg)) -> folder      # a stored plan is read lazily:
    plan.iter_batches(n) / plan.iter_writes() / plan.ops_at(seqs)        # streamed; plan.operations loads all
    apply_plan(cfg, plan, confirm_hash, dry_run=True, writers=None)    # syncaudit.changes.apply
        writers: {system: writer} or a callable systems -> writers (connectors.build.writer_factory); None
        builds the real ones (syncaudit.writes.resolve_writers). changes/ never imports a connector.
    verify_run(cfg, run_id) -> VerifyReport                             # syncaudit.changes.verify
    plan_rollback(cfg, run_id) -> Plan  (then apply_plan(..., kind="rollback", parent_run=run_id))
    journal_frame(cfg, run_id) -> DataFrame                             # the audit log of one run
    list_runs(cfg) -> list[dict]                                        # every run, newest first, with counts
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "apply_plan",
    "build_change_plan",
    "build_rollback_plan",
    "list_runs",
    "journal_frame",
    "load_plan",
    "operations_frame",
    "plan_rollback",
    "summarize_plan",
    "verify_run",
]


def __getattr__(name: str) -> Any:  # lazy: `import syncaudit.changes` stays cheap
    from importlib import import_module

    where = {
        "apply_plan": "apply",
        "build_change_plan": "plan",
        "build_rollback_plan": "rollback",
        "list_runs": "journal",
        "journal_frame": "model",
        "load_plan": "model",
        "operations_frame": "model",
        "plan_rollback": "rollback",
        "summarize_plan": "model",
        "verify_run": "verify",
    }
    if name not in where:
        raise AttributeError(name)
    return getattr(import_module(f"syncaudit.changes.{where[name]}"), name)
