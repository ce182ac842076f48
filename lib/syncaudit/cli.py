"""The ``syncaudit`` command line.

Arguments for every command are declared here, in one place; each command's
work lives in the module that owns it and is imported lazily, so ``--help``
stays fast and a command that is not built yet says so (exit 70) instead of
pretending to work. Errors print one message, no traceback (set
SYNCAUDIT_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

import syncaudit.offline  # noqa: F401  (switches analytics off before anything imports GE)
from syncaudit import __version__
from syncaudit.errors import NotBuiltError, SyncAuditError
from syncaudit.redact import install_log_redaction, redact

# command -> "module:function"; the function takes the parsed argparse.Namespace and returns an exit code.
HANDLERS: dict[str, str] = {
    "demo": "syncaudit.report.demo:cli_demo",
    "pull": "syncaudit.pull:cli_pull",
    "audit": "syncaudit.report.batch:cli_audit",
    "findings": "syncaudit.audit.run:cli_findings",
    "quality": "syncaudit.quality.cli:cli_quality",
    "plan": "syncaudit.changes.plan:cli_plan",
    "apply": "syncaudit.apply_command:cli_apply",
    "check": "syncaudit.connectors.preflight:cli_check",
    "rollback": "syncaudit.apply_command:cli_rollback",
    "verify": "syncaudit.apply_command:cli_verify",
    "send": "syncaudit.report.delivery:cli_send",
    "snapshot": "syncaudit.snapshot_from_load:cli_snapshot",
}


EXIT_CODES = """exit codes:
  0  ok
  1  a notebook failed, or an internal error
  2  bad input: config, period, or a plan, run or snapshot that does not exist
  3  an API (Salesforce, Intercom, SMTP, webhook) refused
  4  allocation guard: the configured share of the API allocation is spent
  5  safety guard refused (hash not confirmed, change cap, production target)
  6  a gate failed
  7  some records failed to write
  8  verify found records that differ from the plan
"""


def _with_exit_codes(add_parser: Callable[..., argparse.ArgumentParser]) -> Callable[..., argparse.ArgumentParser]:
    """Every command's --help ends with the exit codes."""

    def add(name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs.setdefault("epilog", EXIT_CODES)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return add_parser(name, **kwargs)

    return add


def _add_config(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--config", required=required, metavar="FILE", help="the org pair's YAML config (e.g. config/demo.yaml)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncaudit",
        description="Audit and fix the drift between Salesforce and Intercom.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"syncaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser = _with_exit_codes(sub.add_parser)  # type: ignore[method-assign]

    p = sub.add_parser("demo", help="sandbox + full audit + dry-run fix-up plan; prints the report path")
    p.add_argument(
        "--size", type=int, default=20_000, help="people per system in the generated sandbox (default 20000)"
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the generated org pair (default 7: same data each run)")
    p.add_argument("--out", metavar="DIR", default=None, help="report folder (default reports/demo-<date>)")

    p = sub.add_parser("pull", help="pull both systems into a snapshot (incremental by default); prints its path")
    _add_config(p)
    p.add_argument("--full", action="store_true", help="ignore bookmarks and pull everything")
    p.add_argument("--objects", nargs="*", metavar="OBJ", help="limit to these streams (e.g. Contact contacts)")

    p = sub.add_parser(
        "check", help="preflight: credentials, API versions, allocation, the user's access against the mapping"
    )
    _add_config(p)

    p = sub.add_parser("audit", help="the monthly papermill batch run; writes reports/<period>/")
    _add_config(p)
    p.add_argument("--period", metavar="YYYY-MM", help="report period (default: this month)")
    p.add_argument("--out", metavar="DIR", help="report folder (default reports/<period>)")
    p.add_argument("--snapshot", metavar="ID", help="audit this snapshot instead of pulling a new one")

    p = sub.add_parser("findings", help="run the audit analyses on a snapshot and write findings.jsonl")
    _add_config(p)
    p.add_argument("--snapshot", metavar="ID", help="snapshot id or path (default: the latest complete one)")
    p.add_argument("--out", metavar="DIR", help="folder for findings.jsonl and findings.parquet")

    p = sub.add_parser("quality", help="Great Expectations suites: run them, or regenerate their generated part")
    qsub = p.add_subparsers(dest="quality_command", metavar="ACTION")
    qsub.add_parser = _with_exit_codes(qsub.add_parser)  # type: ignore[method-assign]
    q = qsub.add_parser("run", help="run every suite on a snapshot")
    _add_config(q)
    q.add_argument("--snapshot", metavar="ID", help="snapshot id (default: the latest complete one)")
    q.add_argument("--out", metavar="DIR", help="folder for the results and the offline Data Docs")
    q = qsub.add_parser("regenerate", help="rewrite the generated expectations; hand-written ones are kept")
    _add_config(q)
    q.add_argument("--snapshot", metavar="ID", help="snapshot to profile (default: the latest complete one)")

    p = sub.add_parser(
        "snapshot",
        help="snapshots without a pull: from-load converts a load folder, generate writes a generated org pair",
    )
    ssub = p.add_subparsers(dest="snapshot_command", metavar="ACTION")
    ssub.add_parser = _with_exit_codes(ssub.add_parser)  # type: ignore[method-assign]
    q = ssub.add_parser("from-load", help="convert a load folder (sandbox generate) into a ready snapshot")
    q.add_argument("load_dir", metavar="DIR", help="the load folder")
    _add_config(q, required=False)
    q.add_argument("--out", metavar="DIR", help="write the snapshot here (default: <data_dir>/snapshots/load-<name>)")
    q = ssub.add_parser(
        "generate",
        help="generate an org pair (sandbox generator) straight into a ready snapshot, partition by partition",
    )
    q.add_argument("--size", type=int, required=True, help="people per system (up to 50,000,000)")
    q.add_argument("--seed", type=int, default=7, help="the generator's seed (default 7)")
    _add_config(q, required=False)
    q.add_argument(
        "--out", metavar="DIR", help="write the snapshot here (default: <data_dir>/snapshots/gen-<size>-<seed>)"
    )
    q.add_argument(
        "--conversations-per-person",
        type=float,
        metavar="M",
        help="mean Intercom conversations per contact (default 0.25, about 0.24 per person; 1.05 with "
        "--calls-per-person 0.33 gives about one conversation and one Task per person)",
    )
    q.add_argument(
        "--calls-per-person",
        type=float,
        metavar="C",
        help="mean calls and emails logged as Tasks per Salesforce person, not from Intercom (default 0.08)",
    )

    p = sub.add_parser("plan", help="write a change plan from a snapshot's findings; prints its path and hash")
    _add_config(p)
    p.add_argument("--snapshot", metavar="ID", help="snapshot whose findings to fix (default: the latest complete one)")
    p.add_argument("--fixes", nargs="*", metavar="FIX", help="only these fix policies")

    p = sub.add_parser("apply", help="apply a confirmed plan with guards (dry-run unless --execute)")
    _add_config(p)
    p.add_argument("--plan", required=True, metavar="PATH", help="the plan folder `syncaudit plan` printed")
    p.add_argument(
        "--confirm", required=True, metavar="HASH", help="the plan's hash, as `plan` printed it (after your review)"
    )
    p.add_argument("--execute", action="store_true", help="really write (default is a dry run)")

    p = sub.add_parser("verify", help="re-read every record a run touched and compare with the plan")
    _add_config(p)
    p.add_argument("--run", required=True, metavar="RUN", help="the run id `syncaudit apply` printed")

    p = sub.add_parser("rollback", help="restore the before-images of an applied run")
    _add_config(p)
    p.add_argument("--run", required=True, metavar="RUN", help="the applied run to undo (its id, as apply printed)")
    p.add_argument("--confirm", metavar="HASH", help="the rollback plan's hash (printed by a first call without it)")
    p.add_argument("--execute", action="store_true", help="really restore (default is a dry run)")

    p = sub.add_parser("send", help="mail the report summary (zip attached) and post an alert when something failed")
    _add_config(p)
    p.add_argument("--period", metavar="YYYY-MM", help="the report to send (default: this month's)")

    p = sub.add_parser(
        "sandbox",
        help="the HTTPS emulators of Salesforce and Intercom (the crmsandbox package): generate | serve",
        add_help=False,
    )
    p.add_argument("sandbox_args", nargs=argparse.REMAINDER, help="passed to `python -m crmsandbox`")
    return parser


def _resolve(command: str) -> Callable[[argparse.Namespace], int]:
    target = HANDLERS[command]
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
            raise NotBuiltError(f"`syncaudit {command}` is not built yet", hint="see the open issues") from None
        raise
    func = getattr(module, func_name, None)
    if func is None:
        raise NotBuiltError(f"`syncaudit {command}` is not built yet", hint="see the open issues")
    return func


def _sandbox(argv: list[str]) -> int:
    """`syncaudit sandbox ...` runs the sandbox's own command line (a separate package, installed for development).

    The state dir defaults to $SYNCAUDIT_SANDBOX_DIR, the folder config/demo.yaml reads sandbox.json from.
    """
    try:
        from crmsandbox.cli import main as sandbox_main
    except ModuleNotFoundError:
        print(
            "syncaudit: error: the sandbox is not installed\n  fix: `make setup` installs it (pip install -e ./sandbox)",
            file=sys.stderr,
        )
        return 2
    argv = list(argv)
    if argv[:1] == ["serve"] and "--state-dir" not in argv and os.environ.get("SYNCAUDIT_SANDBOX_DIR"):
        argv += ["--state-dir", os.environ["SYNCAUDIT_SANDBOX_DIR"]]
    return sandbox_main(argv, prog="syncaudit sandbox")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    command = args.command
    if command == "sandbox":
        return _sandbox(args.sandbox_args)
    for sub_command in ("quality_command", "snapshot_command"):
        if hasattr(args, sub_command) and getattr(args, sub_command) is None:
            parser.parse_args([command, "--help"])
    install_log_redaction()
    try:
        if getattr(args, "config", None):
            # Validated once, at start-up, before any work; handlers get the result as args.cfg.
            from syncaudit.config import load_config, load_dotenv_file

            load_dotenv_file()
            args.cfg = load_config(args.config)
        return int(_resolve(command)(args) or 0)
    except SyncAuditError as exc:
        print(f"syncaudit: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("syncaudit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if os.environ.get("SYNCAUDIT_DEBUG"):
            traceback.print_exc()
        print(
            f"syncaudit: internal error: {type(exc).__name__}: {redact(str(exc))}\n"
            "  This is a bug in syncaudit. Re-run with SYNCAUDIT_DEBUG=1 for details and report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
