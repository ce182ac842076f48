"""Suite files: loading, validation messages that name file and expectation, editing helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncaudit.errors import ConfigError
from syncaudit.quality.suites import (
    add_expectation,
    expectation_columns,
    load_suite,
    load_suites,
    remove_expectation,
    save_suite,
)

ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = ROOT / "expectations"


def _write(path: Path, body: object) -> Path:
    path.write_text(body if isinstance(body, str) else json.dumps(body), encoding="utf-8")
    return path


def _suite(exps: list, dataset: str = "sf_Contact") -> dict:
    return {"name": "s", "meta": {"dataset": dataset, "id_columns": ["Id"]}, "expectations": exps}


def test_committed_suites_load_cleanly_and_cover_every_dataset() -> None:
    suites, problems = load_suites(EXPECTATIONS)
    assert problems == []
    datasets = {s.dataset for s in suites}
    assert {"sf_Contact", "sf_Lead", "sf_Account", "sf_Task", "sf_Case"} <= datasets
    assert {"ic_contacts", "ic_companies", "ic_conversations", "linked_people", "linked_companies"} <= datasets
    for s in suites:
        assert s.id_columns, s.name
        kinds = {bool((e.get("meta") or {}).get("generated")) for e in s.expectations}
        assert kinds == {True, False}, f"{s.name} should hold generated and hand-written expectations"


def test_malformed_json_names_file_and_line_and_other_suites_still_load(tmp_path: Path) -> None:
    _write(tmp_path / "bad.json", '{"name": "bad",\n "expectations": [}')
    _write(
        tmp_path / "good.json", _suite([{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "Id"}}])
    )
    with pytest.raises(ConfigError) as err:
        load_suite(tmp_path / "bad.json")
    assert "bad.json" in str(err.value) and "line 2" in str(err.value)
    suites, problems = load_suites(tmp_path)
    assert [s.name for s in suites] == ["s"]
    assert len(problems) == 1 and "bad.json" in str(problems[0]) and "invalid JSON" in str(problems[0])


def test_unknown_type_and_bad_kwargs_are_problems_naming_the_expectation(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "s.json",
        _suite(
            [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "Id"}},
                {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "Email"}},
                {"type": "expect_column_values_to_be_in_set", "kwargs": {"colum": "Plan_Type__c"}},
                "not an object",
            ]
        ),
    )
    suite = load_suite(f)
    assert suite.invalid == {1, 2, 3}
    assert [i for i, _ in suite.runnable()] == [0]
    messages = [str(p) for p in suite.problems]
    assert "s.json: expectation #1 expect_column_values_to_be_purple(Email): unknown expectation type" in messages[0]
    assert "#2 expect_column_values_to_be_in_set()" in messages[1] and "invalid arguments" in messages[1]
    assert "colum" in messages[1]
    assert "#3" in messages[2] and "JSON object" in messages[2]


def test_suite_without_dataset_is_refused_with_the_fix(tmp_path: Path) -> None:
    f = _write(tmp_path / "s.json", {"name": "s", "expectations": []})
    with pytest.raises(ConfigError, match="meta.dataset is missing") as err:
        load_suite(f)
    assert "sf_Contact" in str(err.value)


def test_save_round_trip_and_editing_helpers(tmp_path: Path) -> None:
    f = _write(tmp_path / "s.json", _suite([]))
    suite = load_suite(f)
    add_expectation(suite, "expect_column_values_to_not_be_null", column="Email", critical=True)
    add_expectation(suite, "expect_column_values_to_be_unique", column="Id")
    with pytest.raises(ConfigError, match="unknown expectation type"):
        add_expectation(suite, "expect_nothing", column="Id")
    save_suite(suite)
    again = load_suite(f)
    assert again.problems == []
    assert [e["kwargs"]["column"] for e in again.expectations] == ["Email", "Id"]
    assert again.expectations[0]["meta"] == {"critical": True}
    assert again.expectations[0]["severity"] == "critical"
    remove_expectation(again, 0)
    assert [e["kwargs"]["column"] for e in again.expectations] == ["Id"]
    with pytest.raises(ConfigError, match="no expectation #5"):
        remove_expectation(again, 5)
    # GX itself accepts what we write
    import great_expectations as gx

    gx_suite = gx.ExpectationSuite(**{k: v for k, v in json.loads(f.read_text()).items() if k != "meta"})
    assert len(gx_suite.expectations) == 2


def test_expectation_columns_include_row_condition_columns() -> None:
    exp = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {
            "column": "external_id",
            "row_condition": {"type": "comparison", "column": {"name": "role"}, "operator": "==", "parameter": "user"},
        },
    }
    assert expectation_columns(exp) == ["external_id", "role"]
