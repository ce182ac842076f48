"""config/demo.yaml and the sandbox generator agree on the mapped fields and sync lags.

The generator takes the mapping as an input (crmsandbox.generator.mapping) and records in truth.json the one it
planted drift against; its default is the demo mapping. If config/demo.yaml changes an owner, a direction or a
lag, the demo's planted truth would silently disagree with what the audit compares: this test says so.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from crmsandbox.generator.mapping import PLANTABLE, MappingInputs, mapping_from_file

DEMO = Path(__file__).resolve().parents[1] / "config" / "demo.yaml"


def test_generator_defaults_are_the_demo_mapping():
    demo = yaml.safe_load(DEMO.read_text())["mapping"]
    default = MappingInputs().describe()
    timing = demo["sync_timing"]
    assert default["sync_lag_s"] == {
        "intercom_to_salesforce": timing["intercom_to_salesforce_s"],
        "salesforce_to_intercom": timing["salesforce_to_intercom_s"],
    }
    for f in demo["fields"]:
        if f["name"] in PLANTABLE:
            planted = default["fields"][f["name"]]
            assert (planted["owner"], planted["direction"]) == (f["owner"], f["direction"]), f["name"]
            assert set(planted["objects"]) <= set(f["objects"]), f["name"]
    assert set(default["fields"]) <= {f["name"] for f in demo["fields"]}


def test_the_demo_config_is_a_valid_generator_mapping():
    assert mapping_from_file(DEMO).describe() == MappingInputs().describe()
