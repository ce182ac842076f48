"""The truth about a run, in one place: did it complete, where did it stop, what do the gates say.

The index, the mail and the alert all read these two dicts (kept in metrics.json), so none of them can
call a failed run healthy or "all gates passed" when no gate is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncaudit.report.names import page_title
from syncaudit.report.sanitize import error_sentence


def run_status(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"failed": bool, "step", "title", "error", "skipped": [names], "sentence"}`` of a chain's runs."""
    failed = [r for r in runs if r.get("status") == "failed"]
    skipped = [str(r["name"]) for r in runs if r.get("status") == "skipped"]
    if not failed and not skipped:
        return {"failed": False, "step": None, "title": None, "error": None, "skipped": [],
                "sentence": f"The run completed: all {len(runs)} steps ran."}  # fmt: skip
    first = failed[0] if failed else next(r for r in runs if r.get("status") == "skipped")
    raw = str(first.get("error") or "")
    ename, _, evalue = raw.partition(": ")
    error = error_sentence(ename, evalue) if raw else "no error text"
    name = str(first["name"])
    more = f"; {len(skipped)} later step{'s' if len(skipped) != 1 else ''} skipped" if skipped else ""
    return {
        "failed": True,
        "step": name,
        "title": page_title(name),
        "error": error,
        "skipped": skipped,
        "sentence": f"The run FAILED at step {name} ({page_title(name)}): {error}{more}.",
    }


def gates_configured(gates: Any) -> list[str]:
    """The gates a config sets, each in words (empty: none configured)."""
    out = [f"at most {limit:,} {kind} findings" for kind, limit in sorted((gates.max_findings or {}).items())]
    if gates.min_quality_pass_rate is not None:
        out.append(f"quality pass rate at least {gates.min_quality_pass_rate:.0%}")
    if gates.fail_on_critical_expectations:
        out.append("no critical expectation fails")
    return out


def gates_state(gates: Any, failures: Sequence[str], *, run_failed: bool) -> dict[str, Any]:
    """``state`` is ``none`` (no gate configured), ``not_evaluated`` (the run failed), ``passed`` or ``failed``.

    ``passed`` keeps its old meaning for readers of metrics.json: true only when gates were checked and held.
    """
    configured = gates_configured(gates)
    if failures:
        state = "failed"
    elif run_failed:
        state = "not_evaluated"
    elif not configured:
        state = "none"
    else:
        state = "passed"
    return {"state": state, "passed": state in {"passed", "none"}, "failures": list(failures), "configured": configured}
