"""`syncaudit audit`: the monthly batch run, from one process, on one snapshot.

    syncaudit audit --config F [--period YYYY-MM] [--out DIR] [--snapshot ID]

Runs the notebooks in order with papermill (the first pulls a new snapshot
unless --snapshot names one; every later notebook gets that snapshot's id),
exports each to stakeholder HTML as soon as it ends, then writes metrics.json,
evaluates the gates and writes index.html. The notebooks work in a folder of
the run's own under the data dir (``work/report-<name>/``: raw executed
notebooks, findings with their values), and the report folder gets masked
copies of what they wrote (see publish.py). Both folders are built under
temporary names and renamed when complete, so reports/<period>/ is never half
written. A failed notebook still gets its page; the exit status is non-zero
when a gate fails (GateFailed, 6) or a notebook failed (1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import syncaudit
from syncaudit.config import Config
from syncaudit.errors import ConfigError, GateFailed, SyncAuditError
from syncaudit.report.context import SNAPSHOT_FILE, read_json
from syncaudit.report.export import export_html
from syncaudit.report.findings import combine_findings
from syncaudit.report.index import write_index
from syncaudit.report.masking import mask_json, mask_text, personal_fields
from syncaudit.report.metrics import build_metrics, check_period, evaluate_gates, load_history, write_json
from syncaudit.report.names import page_title
from syncaudit.report.permissions import NOT_CHECKED, permission_review
from syncaudit.report.publish import publish_folder
from syncaudit.report.runner import NotebookRun, run_chain
from syncaudit.report.sanitize import RUN_LOG
from syncaudit.report.status import gates_state, run_status
from syncaudit.report.summary import changes_since, health, planned_changes, previous_findings, top_actions
from syncaudit.report.worklists import read_links, write_kind_worklists, write_links
from syncaudit.workspace import DataDir

PULL_NOTEBOOK = "00_pull"
PERMISSIONS_FILE = "permissions.json"


@dataclass
class BatchResult:
    """What a batch run produced."""

    out_dir: Path
    index: Path
    runs: list[NotebookRun]
    metrics: dict[str, Any]
    gate_failures: list[str] = field(default_factory=list)
    work_dir: Path | None = None  # the run's raw outputs (unmasked executed notebooks, findings), for analysts
    withheld: list[str] = field(default_factory=list)  # work files not published (masking could not check them)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.runs if r.status != "ok"]


# What each notebook of the chain needs from the ones before it; a need that is missing skips the notebook
# (shown as skipped, never "ok"). A team's own notebooks need the snapshot only.
NEEDS: dict[str, tuple[str, ...]] = {
    "00_pull": (),
    "10_schema_mapping": ("snapshot",),
    "20_identity_links": ("snapshot", "findings"),
    "30_field_drift": ("snapshot", "findings"),
    "40_duplicates": ("snapshot", "findings"),
    "50_data_quality": ("snapshot",),
    "60_fixup_plan": ("snapshot", "findings"),
    "70_apply": ("snapshot", "plan"),
    "80_rollback": ("snapshot",),
    "90_monthly_summary": ("snapshot", "findings", "quality"),
}
# The file of the work folder that shows a need was met, and the step that makes it.
_NEED_FILES = {"findings": ("findings.jsonl", "the audit"), "quality": ("quality_summary.json", "the quality checks"),
               "plan": ("plan_summary.json", "the fix-up plan")}  # fmt: skip

# The monthly chain, in order. Other notebooks in notebooks/ (e.g. the suite editor) are interactive tools.
CHAIN = (
    "00_pull",
    "10_schema_mapping",
    "20_identity_links",
    "30_field_drift",
    "35_rules",
    "40_duplicates",
    "50_data_quality",
    "60_fixup_plan",
    "70_apply",
    "80_rollback",
    "90_monthly_summary",
)


def find_notebooks(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """The chain's notebooks in order.

    A team's own chain: every ``NN_name.ipynb`` of ``directory`` (or $SYNCAUDIT_NOTEBOOKS_DIR). Otherwise
    the shipped chain (:data:`CHAIN`) from notebooks/ of the checkout.
    """
    override = directory or os.environ.get("SYNCAUDIT_NOTEBOOKS_DIR")
    if override:
        found = sorted(p for p in Path(override).glob("[0-9][0-9]_*.ipynb") if p.is_file())
        if not found:
            raise ConfigError(f"no notebooks named NN_name.ipynb in {override}", hint="check SYNCAUDIT_NOTEBOOKS_DIR")
        return found
    candidates = [Path.cwd() / "notebooks", Path(syncaudit.__file__).parents[2] / "notebooks"]
    for d in candidates:
        if all((d / f"{name}.ipynb").is_file() for name in CHAIN):
            return [d / f"{name}.ipynb" for name in CHAIN]
    where = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"the notebooks of the monthly chain were not found (looked in {where})",
        hint="run syncaudit from the project's checkout",
    )


def run_batch(
    cfg: Config,
    *,
    period: str | None = None,
    out: str | os.PathLike[str] | None = None,
    snapshot_id: str | None = None,
    notebooks: list[Path] | None = None,
    progress: Callable[[str], None] | None = None,
    full_pull: bool = False,
) -> BatchResult:
    """Run the whole chain into the report folder and return what happened (gates not raised)."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    period = check_period(period)
    if not cfg.source_path:
        raise ConfigError("the config has no file path", hint="load it with syncaudit.config.load_config")
    chain = notebooks or find_notebooks()
    check_inputs(cfg, snapshot_id)  # before any notebook starts: a bad input is exit 2, not a red report
    out_dir = Path(out) if out else Path(cfg.report.out_dir) / period
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    work_dir = DataDir(cfg).report_work_dir(out_dir.name)
    work = work_dir.parent / f".{work_dir.name}.partial-{os.getpid()}"
    for d in (staging, work):
        shutil.rmtree(d, ignore_errors=True)
    staging.mkdir(parents=True)
    (work / "executed").mkdir(parents=True)
    mask = cfg.report.mask_personal_data
    params: dict[str, Any] = {
        "config_path": str(Path(cfg.source_path).resolve()),
        "snapshot_id": snapshot_id or "",
        "report_dir": str(work.resolve()),
        "full": full_pull,
    }
    if snapshot_id:
        write_json({"snapshot_id": snapshot_id}, work / SNAPSHOT_FILE)

    removed_by_page: dict[str, list[str]] = {}

    def after_each(run: NotebookRun) -> None:
        if run.output and Path(run.output).is_file():
            html = staging / f"{run.name}.html"
            try:
                export_html(
                    run.output,
                    html,
                    mask=mask,
                    banner=f"syncaudit · {cfg.name} · {period} · {page_title(run.name)}",
                    removed=removed_by_page.setdefault(run.name, []),
                )
                run.html = str(html)
            except Exception as exc:  # noqa: BLE001 - a page that cannot be rendered is reported, the run goes on
                run.error = (run.error + "\n" if run.error else "") + f"HTML export failed: {type(exc).__name__}: {exc}"
                run.status = "failed"
        if run.name == PULL_NOTEBOOK and not params["snapshot_id"]:
            recorded = read_json(work / SNAPSHOT_FILE) or {}
            params["snapshot_id"] = str(recorded.get("snapshot_id") or "")
        if run.name == PULL_NOTEBOOK:
            write_json(_permissions_after_pull(cfg, run, bool(snapshot_id)), work / PERMISSIONS_FILE)
        if run.name == PULL_NOTEBOOK and params["snapshot_id"]:
            write_links(cfg, _open_snapshot_quietly(cfg, params["snapshot_id"]), work)

    def should_skip(name: str, done: list[NotebookRun]) -> str | None:
        return missing_need(name, done, work, bool(params["snapshot_id"]))

    try:
        runs = run_chain(
            chain,
            work / "executed",
            params,
            cwd=Path.cwd(),
            after_each=after_each,
            should_skip=should_skip,
            # A failed notebook's line quotes its error; the log (e.g. reports/cron.log) is masked like the report.
            progress=(lambda line: say(str(mask_text(line)))) if mask else say,
        )
        write_run_log(work, runs, removed_by_page)
        result = _finish(cfg, period, staging, work, runs, params["snapshot_id"] or None, out_dir.name)
    except BaseException:
        for d in (staging, work):
            shutil.rmtree(d, ignore_errors=True)
        raise
    if result.withheld:
        say(f"not copied to the report folder (masking cannot check them): {', '.join(result.withheld)}")
    _replace_dir(staging, out_dir)
    _replace_dir(work, work_dir)
    result.out_dir, result.index, result.work_dir = out_dir, out_dir / "index.html", work_dir
    if mask:
        say(f"report folder (personal data masked): {out_dir}; the run's unmasked outputs: {work_dir}")
    for r in result.runs:  # the published copies, at their final place
        r.html = str(out_dir / Path(r.html).name) if r.html else None
        r.output = str(out_dir / "executed" / Path(r.output).name) if r.output else r.output
    return result


def _finish(
    cfg: Config,
    period: str,
    staging: Path,
    work: Path,
    runs: list[NotebookRun],
    snapshot_id: str | None,
    out_name: str | None = None,
) -> BatchResult:
    mask = cfg.report.mask_personal_data
    findings = work / "findings.jsonl"
    if findings.is_file():  # without the audit's findings the figures read "not measured", never quality alone
        combine_findings(work)
        write_kind_worklists(findings, work / "worklists", personal_fields(cfg.mapping.fields), read_links(work))
    published = publish_folder(work, staging, mask=mask, personal=personal_fields(cfg.mapping.fields))
    for r in runs:
        copy = staging / "executed" / Path(r.output).name if r.output else None
        r.output = str(copy) if copy and copy.is_file() else ""
    shown = [_shown(r, mask) for r in runs]
    metrics = build_metrics(
        period=period,
        config_name=cfg.name,
        config_hash=cfg.config_hash(),
        snapshot_id=snapshot_id,
        findings_path=findings,
        quality=read_json(work / "quality_summary.json"),
        manifest=read_json(work / "manifest.json"),
        runs=shown,
        audit=read_json(work / "audit_metrics.json"),
        plan=read_json(work / "plan_summary.json"),
    )
    metrics["run"] = run_status(shown)
    failures = evaluate_gates(cfg.gates, metrics)
    if metrics["findings"]["total"] is None and cfg.gates.max_findings:
        failures.append("no findings were produced, so gates.max_findings could not be checked")
    metrics["gates"] = gates_state(cfg.gates, failures, run_failed=metrics["run"]["failed"])
    history = load_history(staging.parent, before=period, exclude=out_name, config=cfg.name)
    usable = findings if findings.is_file() else None
    metrics["health"] = health(usable, metrics["audit"])
    metrics["actions"] = top_actions(usable, {f.name: f.owner for f in cfg.mapping.fields})
    metrics["changes"] = changes_since(usable, previous_findings(history))
    metrics["planned"] = planned_changes(metrics["plan"])
    metrics["permissions"] = _masked_json(read_json(work / PERMISSIONS_FILE) or NOT_CHECKED, mask)
    write_json(metrics, staging / "metrics.json")
    index = write_index(staging, metrics, shown, history, failures, masked=mask)
    return BatchResult(
        out_dir=staging, index=index, runs=runs, metrics=metrics, gate_failures=failures, withheld=published.withheld
    )


def _masked_json(data: dict[str, Any], mask: bool) -> dict[str, Any]:
    """A JSON object for metrics.json and the index: emails and phones masked wherever they sit (e.g. the
    admin a token acts as, in the permission review)."""
    return mask_json(data) if mask else data  # type: ignore[return-value]


def _permissions_after_pull(cfg: Config, run: NotebookRun, reused_snapshot: bool) -> dict[str, Any]:
    """The connector permission review, taken right after a pull (the connections just worked)."""
    if reused_snapshot:
        return NOT_CHECKED
    if run.status != "ok":
        return {"available": False, "rows": [], "note": "not checked: the pull did not complete"}
    return permission_review(cfg)


def _open_snapshot_quietly(cfg: Config, snapshot_id: str) -> Any:
    """The snapshot (for the Intercom app id in record links), or None when it cannot be opened."""
    from syncaudit.snapshot import open_snapshot

    try:
        return open_snapshot(cfg, snapshot_id)
    except SyncAuditError:
        return None


def check_inputs(cfg: Config, snapshot_id: str | None) -> None:
    """The inputs a run needs, checked before any notebook starts (ConfigError, exit 2, names the fix).

    With ``snapshot_id``: it must name a complete snapshot that holds tables. Without: the connections
    the pull will use must be configured (the sandbox's facts file, or the secrets in the environment).
    """
    if snapshot_id is not None and not str(snapshot_id).strip():
        raise ConfigError("--snapshot is empty", hint="name a snapshot id, or leave --snapshot out to pull a new one")
    if snapshot_id:
        from syncaudit.snapshot import open_snapshot

        snap = open_snapshot(cfg, snapshot_id)
        if not snap.tables():
            raise ConfigError(
                f"snapshot {snapshot_id!r} holds no tables",
                hint="pull again (syncaudit pull --full) or pass another --snapshot",
            )
        return
    from syncaudit.connectors.build import connect

    connect(cfg, pool=1)  # no network: raises ConfigError when a connection fact or secret is missing


def missing_need(name: str, done: list[NotebookRun], work: Path, have_snapshot: bool) -> str | None:
    """Why ``name`` cannot run (a need an earlier step did not produce), or None."""
    needs = NEEDS.get(name, () if name == PULL_NOTEBOOK else ("snapshot",))
    failed = [r.name for r in done if r.status != "ok"]
    because = f" ({failed[0]} did not complete)" if failed else ""
    for need in needs:
        if need == "snapshot" and not have_snapshot:
            return "no snapshot: the pull did not complete"
        if need in _NEED_FILES and not (work / _NEED_FILES[need][0]).is_file():
            return f"needs the results of {_NEED_FILES[need][1]}{because}"
    return None


def write_run_log(work: Path, runs: list[NotebookRun], removed: dict[str, list[str]]) -> Path:
    """The run's log in the work folder: each step's outcome, full tracebacks and stderr (never published)."""
    lines = []
    for r in runs:
        lines.append(f"== {r.name}: {r.status} in {r.duration_s:.1f} s" + (f" — {r.error}" if r.error else ""))
        if r.traceback:
            lines.append(r.traceback)
        for text in removed.get(r.name, []):
            if text.strip() and text.strip() not in (r.traceback or ""):
                lines.append(text.rstrip())
    path = work / RUN_LOG  # publish_folder never copies it to the report folder
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _shown(run: NotebookRun, mask: bool) -> dict[str, Any]:
    """A run as the report shows it: an error text (a traceback's last line) may quote personal data."""
    shown = run.as_dict()
    if mask and shown.get("error"):
        shown["error"] = mask_text(shown["error"])
    return shown


def _replace_dir(staging: Path, target: Path) -> None:
    """Swap the finished folder in; an earlier report of the same period is replaced."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def cli_audit(args: argparse.Namespace) -> int:
    """`syncaudit audit`: print the index path; exit 6 when a gate fails, 1 when a notebook failed."""
    result = run_batch(
        args.cfg,
        period=getattr(args, "period", None),
        out=getattr(args, "out", None),
        snapshot_id=getattr(args, "snapshot", None),
    )
    print(result.index.resolve())
    if result.gate_failures:
        raise GateFailed(
            f"{len(result.gate_failures)} gate(s) failed: " + "; ".join(result.gate_failures),
            hint=f"see {result.index}",
        )
    if result.failed:
        raise SyncAuditError(
            f"{len(result.failed)} notebook(s) did not complete: {', '.join(result.failed)}",
            hint=f"their pages in {result.out_dir} show the error",
        )
    return 0
