"""Accuracy against the generator's truth on a small org pair: recall >= 0.98, precision >= 0.97 per kind,
and at most 2% of the hard negatives (namesakes, look-alike names, family members) reported.

The full measurement (three seeds, 20,000 people a side) is bench/bench_accuracy.py; this is its
small-size guard, so a change that breaks a kind fails CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from audit_fixtures import ROOT
from syncaudit.config import load_config

spec = importlib.util.spec_from_file_location("bench_accuracy", ROOT / "bench" / "bench_accuracy.py")
bench_accuracy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_accuracy)


@pytest.mark.slow
def test_recall_and_precision_per_kind_on_a_generated_org_pair(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path / "data")})
    result = bench_accuracy.audit_seed(3000, 5, tmp_path, cfg)
    low = {
        kind: s
        for kind, s in result["scores"].items()
        if s["recall"] < bench_accuracy.RECALL_MIN or s["precision"] < bench_accuracy.precision_min(kind)
    }
    assert not low, f"below target: {low}"
    hn = result["hard_negatives"]
    assert hn["total"] > 0 and hn["share"] <= bench_accuracy.HARD_NEGATIVE_MAX, hn
    # Every kind the audit produces is planted at this size, so none passes vacuously.
    assert all(s["truth"] > 0 for s in result["scores"].values()), result["scores"]


@pytest.mark.slow
def test_conversation_findings_match_the_truth_with_more_activity(tmp_path: Path) -> None:
    """With about one conversation and one Task per person (the 10M-scale setting), the planted unlogged and
    misfiled conversations (shares of the loggable ones) are still the ones the audit finds."""
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path / "data")})
    busy = {"conversations_per_person": 1.05, "calls_per_person": 0.33}
    result = bench_accuracy.audit_seed(2000, 5, tmp_path, cfg, activity=busy)
    scores = {k: s for k, s in result["scores"].items() if k.startswith("conversation_")}
    assert set(scores) == {"conversation_unlogged", "conversation_misfiled"}, result["scores"]
    # about four times the default's ~0.7 * 0.24 loggable conversations per person: 3% and 2% of them are planted
    assert scores["conversation_unlogged"]["truth"] >= 40 and scores["conversation_misfiled"]["truth"] >= 25, scores
    for kind, s in scores.items():
        assert s["recall"] >= bench_accuracy.RECALL_MIN and s["precision"] >= bench_accuracy.precision_min(kind), (
            kind,
            s,
        )
