"""The generator's inputs: the mapped fields and sync lags that drift is planted against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsandbox.errors import SandboxInputError
from crmsandbox.generator import generate
from crmsandbox.generator.mapping import DEFAULT_LAG, DEFAULT_PEOPLE_FIELDS, MappingInputs, mapping_from_file


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text())


def test_default_inputs_are_recorded_in_truth(tmp_path):
    truth = _truth(generate(tmp_path / "pair", 300, 11))
    gen = truth["generator"]
    assert gen["sync_lag_s"] == DEFAULT_LAG == gen["mapping"]["sync_lag_s"]
    assert set(gen["mapping"]["fields"]) >= set(DEFAULT_PEOPLE_FIELDS) | {"owner", "company_name"}
    assert gen["mapping"]["fields"]["plan_type"] == {
        "owner": "intercom",
        "direction": "intercom_to_salesforce",
        "objects": ["Contact"],
    }


def test_a_mapping_file_decides_where_drift_is_planted_and_what_is_in_flight(tmp_path):
    spec = tmp_path / "mapping.yaml"
    spec.write_text(
        "mapping:\n"
        "  fields:\n"
        "    - {name: plan_type, owner: intercom, direction: intercom_to_salesforce, objects: [Contact]}\n"
        "    - {name: lifecycle_stage, owner: salesforce, direction: salesforce_to_intercom, objects: [Lead]}\n"
        "    - {name: shoe_size, owner: intercom, direction: intercom_to_salesforce, objects: [Contact]}\n"
        "  sync_timing: {intercom_to_salesforce_s: 20, salesforce_to_intercom_s: 40}\n"
    )
    out = generate(tmp_path / "pair", 600, 5, rates={"field_drift": 0.2}, mapping=mapping_from_file(spec))
    truth = _truth(out)
    assert truth["generator"]["sync_lag_s"] == {"intercom_to_salesforce": 20, "salesforce_to_intercom": 40}
    assert truth["generator"]["mapping"]["unplanted"] == ["shoe_size"]
    drift = [f for f in truth["findings"] if f["kind"] == "field_drift" and not f.get("cause")]
    assert drift and {(f["field"], f["object"]) for f in drift} <= {
        ("plan_type", "Contact"),
        ("lifecycle_stage", "Lead"),
    }
    as_of = truth["generator"]["as_of_unix"]
    contacts = {json.loads(x)["id"]: json.loads(x) for x in (out / "intercom" / "contacts.jsonl").open()}
    in_flight = [f for f in drift if f["within_lag"] and f["field"] == "plan_type"]
    assert in_flight, "some planted drift is still within the (configured) sync lag"
    for f in in_flight:  # Intercom owns plan_type: its newer change is less than 20 s before as_of
        assert as_of - 20 <= contacts[f["records"][1]]["updated_at"] <= as_of


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fields: []\n", "non-empty list"),
        ("fields: [{name: plan_type, owner: nobody, direction: intercom_to_salesforce}]\n", "owner"),
        ("fields: [{name: shoe_size, owner: intercom, direction: both}]\n", "none of the mapped fields"),
        ("fields: [{name: website, owner: intercom, direction: both}]\n", "Salesforce-owned"),
        (
            "fields: [{name: seats, owner: intercom, direction: both}]\nsync_timing: {intercom_to_salesforce_s: -1}\n",
            "whole seconds",
        ),
        ("[1, 2\n", "not valid YAML"),
    ],
)
def test_bad_mapping_files_get_one_clear_message(tmp_path, text, message):
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    with pytest.raises(SandboxInputError, match=message):
        mapping_from_file(spec)


def test_the_cli_takes_a_mapping_file(tmp_path, capsys):
    from crmsandbox.cli import main

    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"fields": [{"name": "seats", "owner": "intercom", "direction": "both"}]}))
    assert main(["generate", "--size", "50", "--seed", "1", "--out", str(tmp_path / "p"), "--mapping", str(spec)]) == 0
    assert list(_truth(tmp_path / "p")["generator"]["mapping"]["fields"]) == ["seats"]
    assert main(["generate", "--size", "50", "--out", str(tmp_path / "q"), "--mapping", str(tmp_path / "nope")]) == 2
    assert "cannot read the mapping file" in capsys.readouterr().err
    assert MappingInputs().lag("both") == max(DEFAULT_LAG.values())
