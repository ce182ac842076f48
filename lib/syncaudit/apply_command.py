"""`syncaudit apply`, `verify` and `rollback`: guards, preflight, then changes/ on the config's connectors.

The apply engine (changes/) is handed its writers and never imports a connector; this command builds the one
connector per system, runs preflight on it (exit 2/3/4/5 before any write is sent) and passes the writers on.
A dry run checks the guards and counts, and makes no call at all.
"""

from __future__ import annotations

import argparse

from syncaudit.changes.apply import apply_plan, check_guards, print_result
from syncaudit.changes.model import load_plan
from syncaudit.connectors.build import connect, writer_factory
from syncaudit.connectors.preflight import run_preflight


def cli_apply(args: argparse.Namespace) -> int:
    """`syncaudit apply --config F --plan P --confirm HASH [--execute]`."""
    cfg = args.cfg
    plan = load_plan(args.plan)
    writers = None
    if args.execute:
        check_guards(cfg, plan, args.confirm)  # refuse a wrong hash or an oversized plan before any call
        conns = connect(cfg, purpose="apply")
        run_preflight(cfg, conns)
        writers = writer_factory(cfg, conns)
    res = apply_plan(cfg, plan, args.confirm, dry_run=not args.execute, writers=writers)
    print_result(res)
    return 0 if not res.failed else 7


def cli_rollback(args: argparse.Namespace) -> int:
    """`syncaudit rollback`: reads and writes go through the config's connectors, after preflight."""
    from syncaudit.changes.rollback import cli_rollback as rollback

    args.writers = writer_factory(args.cfg, preflight=True)
    return rollback(args)


def cli_verify(args: argparse.Namespace) -> int:
    """`syncaudit verify`: re-reads through the config's connectors, after preflight."""
    from syncaudit.changes.verify import cli_verify as verify

    args.writers = writer_factory(args.cfg, preflight=True)
    return verify(args)
