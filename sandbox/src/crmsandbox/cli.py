"""The sandbox's command line: ``python -m crmsandbox serve|generate`` (also ``crmsandbox`` when installed).

Bad input prints one message and exits 2; no traceback (set CRMSANDBOX_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from crmsandbox.errors import SandboxInputError


def add_activity_options(p: argparse.ArgumentParser) -> None:
    """The generator's activity volume (generator.conversations.DEFAULT_ACTIVITY); syncaudit's CLI adds the same."""
    p.add_argument(
        "--conversations-per-person",
        type=float,
        default=None,
        metavar="M",
        help="mean Intercom conversations per contact (default 0.25, about 0.24 per person; 1.05 gives about one "
        "conversation per person); closed ones with a Salesforce counterpart are logged as Tasks",
    )
    p.add_argument(
        "--calls-per-person",
        type=float,
        default=None,
        metavar="C",
        help="mean calls and emails logged as Tasks per Salesforce person, not from Intercom (default 0.08)",
    )


def build_parser(prog: str = "crmsandbox") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="HTTPS emulators of the Salesforce and Intercom APIs, with a generated org pair.",
        epilog="Exit status: 0 ok, 1 internal error, 2 bad input, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    g = sub.add_parser("generate", help="write a synthetic org pair (load folder + truth.json)")
    g.add_argument("--size", type=int, default=20_000, help="people per system (default 20000)")
    g.add_argument("--seed", type=int, default=7, help="random seed; the same seed writes the same bytes")
    g.add_argument("--out", required=True, metavar="DIR", help="the load folder to write")
    g.add_argument(
        "--mapping",
        metavar="FILE",
        help="YAML/JSON with the mapped fields (name, owner, direction, objects) and sync_timing to plant drift "
        "against (e.g. syncaudit's config/demo.yaml); default: the demo mapping",
    )
    add_activity_options(g)
    s = sub.add_parser("serve", help="start the emulators; writes <state-dir>/sandbox.json while they run")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--size", type=int, help="generate this many people per system at start (default 20000)")
    src.add_argument("--load", metavar="DIR", help="load a folder written by `generate` (or by hand)")
    s.add_argument("--seed", type=int, default=7, help="the generator's seed with --size")
    s.add_argument(
        "--state-dir",
        default=None,
        metavar="DIR",
        help="where state and sandbox.json live (default: $CRMSANDBOX_STATE_DIR or .sandbox/)",
    )
    s.add_argument(
        "--as-of",
        default="auto",
        metavar="WHEN",
        help="now: shift the data's timestamps so its as-of moment is the start (planted in-flight drift is in "
        "flight); original: keep them; or an ISO datetime. Default: now for a generated folder, original for "
        "a hand-written one (no truth.json)",
    )
    s.add_argument("--faults", default="none", metavar="PROFILE", help="fault profile: none, flaky or chaos")
    s.add_argument("--fault-seed", type=int, default=0, help="seed of the fault injector (reproducible faults)")
    s.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every API call (overrides the model's)"
    )
    s.add_argument(
        "--cost-model",
        default="none",
        metavar="MODEL",
        help="none (default: loopback speed) or realistic: per-call latency, transfer time per payload size, "
        "Bulk 2.0 jobs that take time in proportion to their rows (see the README)",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    s.add_argument("--salesforce-port", type=int, default=0, help="0 = a free port")
    s.add_argument("--intercom-port", type=int, default=0, help="0 = a free port")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; raises SandboxInputError on bad input."""
    if args.action == "generate":
        from crmsandbox.generator import cli_generate

        return cli_generate(args)
    from crmsandbox.server import cli_serve

    return cli_serve(args)


def main(argv: Sequence[str] | None = None, prog: str = "crmsandbox") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not args.action:
        parser.print_help()
        return 2
    try:
        return int(run(args) or 0)
    except SandboxInputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback for users
        if os.environ.get("CRMSANDBOX_DEBUG"):
            traceback.print_exc()
        print(f"{prog}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
