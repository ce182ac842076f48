"""The command line: every command of ARCHITECTURE.md is listed; errors print no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from syncaudit import cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "pull", "audit", "plan", "apply", "rollback", "sandbox"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "syncaudit", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for c in COMMANDS:
        assert c in out.stdout


def test_unbuilt_handler_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.HANDLERS, "pull", "syncaudit.no_such_module:cli_pull")
    code = cli.main(["pull", "--config", "config/demo.yaml"])
    assert code == 70
    assert "not built yet" in capsys.readouterr().err


def test_bad_config_prints_one_message_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncolour: blue\n")
    out = run("pull", "--config", str(bad))
    assert out.returncode == 2, out.stderr
    assert "colour" in out.stderr and "unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_internal_error_has_no_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.HANDLERS, "pull", "syncaudit.errors:ZeroDivisionError_does_not_exist")
    import syncaudit.errors as errors

    def boom(args):  # noqa: ANN001
        raise RuntimeError("kaputt")

    monkeypatch.setattr(errors, "boom", boom, raising=False)
    monkeypatch.setitem(cli.HANDLERS, "pull", "syncaudit.errors:boom")
    code = cli.main(["pull", "--config", "config/demo.yaml"])
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error: RuntimeError: kaputt" in err
    assert "Traceback" not in err


def test_sandbox_subcommand_runs_the_sandbox_package(tmp_path: Path) -> None:
    """`syncaudit sandbox ...` delegates to crmsandbox's own command line (help, and bad input = exit 2)."""
    env = {"PYTHONPATH": f"{ROOT / 'lib'}:{ROOT / 'sandbox' / 'src'}", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "syncaudit", "sandbox", "serve", "--help"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and "--latency-ms" in out.stdout
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncaudit",
            "sandbox",
            "serve",
            "--load",
            str(tmp_path),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2 and "not a load folder" in out.stderr and "Traceback" not in out.stderr


def _subparsers(parser):  # noqa: ANN001, ANN202
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for sub_name, nested in _subparsers(sub):
                    yield f"{name} {sub_name}", nested


def test_every_option_has_help_and_the_exit_codes_are_in_help() -> None:
    parser = cli.build_parser()
    missing = []
    for name, sub in _subparsers(parser):
        if name == "sandbox":  # the sandbox's own command line documents its options
            continue
        for action in sub._actions:
            if action.option_strings and not action.help:
                missing.append(f"{name} {action.option_strings[0]}")
        assert "exit codes:" in sub.format_help() and "6  a gate failed" in sub.format_help(), name
    assert not missing, f"options without help text: {missing}"
    top = run("--help").stdout
    for code in range(9):
        assert f"  {code}  " in top


def test_wrong_confirmation_is_refused_without_revealing_the_hash() -> None:
    from types import SimpleNamespace

    from syncaudit.changes.apply import check_guards
    from syncaudit.config import load_config
    from syncaudit.errors import GuardError

    plan = SimpleNamespace(hash="0f1e2d3c4b5a6978", header={}, path=None)
    with pytest.raises(GuardError) as err:
        check_guards(load_config(ROOT / "config" / "demo.yaml"), plan, "deadbeefdeadbeef")
    assert err.value.exit_code == 5
    assert "0f1e2d3c4b5a6978" not in str(err.value) and "does not match" in str(err.value)


def _isolated_config(tmp_path: Path) -> Path:
    import yaml

    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "data")
    raw["report"]["out_dir"] = str(tmp_path / "reports")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


def test_missing_plan_run_or_snapshot_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_isolated_config(tmp_path))
    cases = [
        (["apply", "--config", cfg, "--plan", str(tmp_path / "nope"), "--confirm", "x"], "no change plan at"),
        (["verify", "--config", cfg, "--run", "r1"], "nothing has been applied"),
        (["rollback", "--config", cfg, "--run", "r1"], "nothing has been applied"),
        (["audit", "--config", cfg, "--snapshot", "20990101T000000Z", "--period", "2026-11"], "was not found"),
        (["audit", "--config", cfg, "--snapshot", "", "--period", "2026-11"], "--snapshot is empty"),
        (["send", "--config", cfg, "--period", "2026-11"], "no report for 2026-11"),
    ]
    for argv, message in cases:
        code = cli.main(argv)
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and "fix:" in err, (argv, code, err)
    # The audit refused before any notebook ran: no report folder, no work folder.
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "data" / "work").exists()


def test_audit_without_a_running_sandbox_is_refused_before_any_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    code = cli.main(["audit", "--config", str(_isolated_config(tmp_path)), "--period", "2026-11"])
    assert code == 2
    assert "no running sandbox" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_the_dry_run_names_irreversible_operations(capsys: pytest.CaptureFixture[str]) -> None:
    from syncaudit.changes.apply import RunResult, print_result

    merge = {"object": "contact", "key": "66aa", "into": "66bb", "finding_id": "f1"}
    res = RunResult(run_id=None, plan_hash="h", dry_run=True, status="dry_run", message="dry run: nothing written",
                    would_write={"intercom.contact.merge": 1, "salesforce.Contact.update": 187}, irreversible=[merge])  # fmt: skip
    print_result(res)
    out = capsys.readouterr().out
    assert "irreversible: 1 operation(s) that rollback cannot undo" in out and "66aa into 66bb" in out
    assert "deletes the merged lead" in out
