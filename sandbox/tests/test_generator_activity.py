"""The generator's activity volume: conversations and logged calls per person (generator option ``activity``).

The default must leave the output exactly as it was before the option existed: the golden digests below were
computed from the generator's code before it (see ``_digests``); the conversation logging is drawn with numpy
columns instead of a Python loop, and these digests prove it draws the same numbers in the same order.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crmsandbox.cli import main as sandbox_main
from crmsandbox.errors import SandboxInputError
from crmsandbox.generator import DEFAULT_ACTIVITY, check_activity, generate
from crmsandbox.generator.conversations import _kinds_and_times

# sha256 over (path, sha256 of the file) of every file generate() writes. First computed with the generator of main
# before `activity` (PYTHONHASHSEED=0: it_IT's places followed the hash seed then); recomputed when those places were
# sorted (the same digests under PYTHONHASHSEED 0 and 7 since). Recompute (run DIGESTS below in a subprocess) only
# when the output changes on purpose.
GOLDEN = {
    (2000, 5, None): "d5d47ed9548cca9e862f0aa279a23fe8446f5d433f9299871caa4fa0efbc68a2",
    (2400, 9, 1000): "df792b4fa2b9607a5e9670df153ee136c2e7257a0362f376cfab3f2bca9eac14",
}
DIGESTS = """
import hashlib, json, sys, tempfile
from pathlib import Path
from crmsandbox.generator import generate
out = {}
with tempfile.TemporaryDirectory() as t:
    for size, seed, per in json.loads(sys.argv[1]):
        kw = {"partition_people": per} if per else {}
        folder = generate(Path(t) / f"{size}-{seed}", size, seed, **kw)
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(folder)).encode())
                h.update(hashlib.sha256(p.read_bytes()).digest())
        out[f"{size},{seed},{per}"] = h.hexdigest()
print(json.dumps(out))
"""


def test_default_output_is_byte_identical_to_the_generator_before_the_option() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cases = [list(k) for k in GOLDEN]
    proc = subprocess.run(
        [sys.executable, "-c", DIGESTS, json.dumps(cases)], capture_output=True, text=True, env=env, check=True
    )
    got = json.loads(proc.stdout)
    assert {tuple(json.loads(f"[{k.replace('None', 'null')}]")): v for k, v in got.items()} == GOLDEN


@pytest.mark.parametrize("rows", [777, 1, 2, 0])
@pytest.mark.parametrize("held", [False, True])
def test_calls_drawn_as_columns_match_one_scalar_call_per_row(held: bool, rows: int) -> None:
    """_kinds_and_times draws what ``rng.random()`` then ``rng.integers(0, 2)`` per row would, and leaves the
    generator where those calls leave it, whether or not a 32-bit half is held when it starts."""
    a, b = np.random.Generator(np.random.PCG64(42)), np.random.Generator(np.random.PCG64(42))
    if held:  # one 32-bit draw leaves the other half of a 64-bit output held
        assert a.integers(0, 7) == b.integers(0, 7)
    start = np.arange(1_000, 1_000 + rows, dtype=np.int64)
    span = np.full(len(start), 10**9, dtype=np.int64) - start
    want_t, want_k = [], []
    for s, d in zip(start, span, strict=True):
        want_t.append(int(s) + int(d * a.random()))
        want_k.append(("call", "email")[int(a.integers(0, 2))])
    got_t, got_k = _kinds_and_times(b, start, span, ("call", "email"))
    assert got_t == want_t and got_k == want_k
    assert rows < 100 or 0.4 < want_k.count("call") / len(want_k) < 0.6
    # the generator goes on where the scalar calls left it (32-bit draws, then 64-bit ones)
    assert a.integers(0, 1000, size=9).tolist() == b.integers(0, 1000, size=9).tolist()
    assert a.random(3).tolist() == b.random(3).tolist()


def _task_kinds(folder: Path) -> dict[str, int]:
    with open(folder / "salesforce" / "Task.csv", newline="", encoding="utf-8") as fh:
        subtypes = [r["TaskSubtype"] for r in csv.DictReader(fh)]
    return {"conversation": subtypes.count("Task"), "call_email": len(subtypes) - subtypes.count("Task")}


def test_activity_scales_conversations_and_tasks(tmp_path: Path) -> None:
    size = 3000
    base = generate(tmp_path / "base", size, 4)
    busy = generate(tmp_path / "busy", size, 4, activity={"conversations_per_person": 1.0, "calls_per_person": 0.32})
    t0, t1 = (json.loads((f / "truth.json").read_text()) for f in (base, busy))
    conv0, conv1 = t0["counts"]["intercom"]["conversations"], t1["counts"]["intercom"]["conversations"]
    assert 3.4 < conv1 / conv0 < 4.6, (conv0, conv1)  # mean 1.0 against 0.25 per contact
    k0, k1 = _task_kinds(base), _task_kinds(busy)
    assert 3.4 < k1["conversation"] / k0["conversation"] < 4.6, (k0, k1)
    assert 3.4 < k1["call_email"] / k0["call_email"] < 4.6, (k0, k1)  # 0.32 against 0.08 per Salesforce person
    # about one conversation and one Task per person
    assert 0.85 < conv1 / size < 1.05 and 0.85 < t1["counts"]["salesforce"]["Task"] / size < 1.1, t1["counts"]
    # planted conversation defects stay shares of the loggable conversations
    for kind in ("conversation_unlogged", "conversation_misfiled"):
        assert 3.2 < t1["summary"][kind] / t0["summary"][kind] < 4.8, (kind, t0["summary"], t1["summary"])
    # truth.json says what was asked, and only when it is not the default
    assert "activity" not in t0["generator"]
    assert t1["generator"]["activity"] == {"conversations_per_person": 1.0, "calls_per_person": 0.32}
    # nothing else moves: the people and companies are those of the default
    for name in ("Contact.csv", "Lead.csv", "Account.csv"):
        assert (base / "salesforce" / name).read_bytes() == (busy / "salesforce" / name).read_bytes()


def test_no_activity_writes_no_conversations_and_no_calls(tmp_path: Path) -> None:
    quiet = {"conversations_per_person": 0, "calls_per_person": 0}
    out = generate(tmp_path / "quiet", 500, 4, {"rule_violation": 0}, activity=quiet)
    truth = json.loads((out / "truth.json").read_text())
    # (with rule_violation above 0 the rule planter adds a few open churn-risk conversations of its own)
    assert truth["counts"]["intercom"]["conversations"] == 0 and truth["counts"]["salesforce"]["Task"] == 0
    assert "conversation_unlogged" not in truth["summary"]


@pytest.mark.parametrize("value", [-0.1, 10.5, 1e9, math.nan, math.inf, "1", True, None], ids=lambda v: repr(v))
def test_bad_activity_values_are_refused_with_the_option_named(value: object) -> None:
    with pytest.raises(SandboxInputError) as exc:
        check_activity({"conversations_per_person": value})
    assert "--conversations-per-person must be a number from 0 to 10" in str(exc.value)


def test_unknown_activity_option_is_refused() -> None:
    with pytest.raises(SandboxInputError, match="unknown activity option 'tasks_per_person'"):
        check_activity({"tasks_per_person": 1})
    assert check_activity(None) == DEFAULT_ACTIVITY


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--conversations-per-person", "-1", "--conversations-per-person must be a number from 0 to 10"),
        ("--calls-per-person", "400", "--calls-per-person must be a number from 0 to 10"),
        ("--calls-per-person", "nan", "--calls-per-person must be a number from 0 to 10"),
        ("--conversations-per-person", "lots", "invalid float value: 'lots'"),
    ],
)
def test_sandbox_cli_refuses_bad_activity_with_exit_2(
    flag: str, value: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) if value == "lots" else _no_exit() as stop:
        code = sandbox_main(["generate", "--size", "50", "--out", str(tmp_path / "o"), flag, value])
    code = stop.value.code if value == "lots" else code
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


class _no_exit:  # noqa: N801 - a stand-in for pytest.raises when the call returns
    def __enter__(self) -> _no_exit:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_sandbox_cli_writes_the_asked_activity(tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = ["generate", "--size", "300", "--seed", "3", "--out", str(out), "--conversations-per-person", "2"]
    assert sandbox_main(argv) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["generator"]["activity"] == {"conversations_per_person": 2.0}
    assert truth["counts"]["intercom"]["conversations"] > 300
