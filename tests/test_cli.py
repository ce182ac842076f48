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
