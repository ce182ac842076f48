"""Conformance: Schemathesis with Intercom's official OpenAPI 2.16 description against a live sandbox.

Every operation the emulator routes is exercised in the examples, coverage, fuzzing and stateful phases
(bounded examples, a fixed seed) with the checks not_a_server_error, response_schema_conformance and
status_code_conformance. The description is first corrected where it is itself wrong about the real API,
by the documented patches in schemathesis_allowlist.yaml; nothing else is excused.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crmsandbox.intercom import IntercomService
from crmsandbox.intercom.responses import URLS
from crmsandbox.testing import running_sandbox
from ic_support import write_load_folder

pytestmark = pytest.mark.slow

SPEC = Path(__file__).parents[1] / "src" / "crmsandbox" / "intercom" / "spec" / "intercom-api-2.16.yaml"
ALLOWLIST = Path(__file__).parent / "schemathesis_allowlist.yaml"
MAX_EXAMPLES = 12
ERROR_RESPONSE = {
    "description": "An error the real API answers here (see schemathesis_allowlist.yaml)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}},
}
SEED = 18


def _pointer(doc: dict, pointer: str) -> tuple[object, str]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node: object = doc
    for p in parts[:-1]:
        node = node[p]  # type: ignore[index]
    return node, parts[-1]


# How the stateful phase chains calls: the id a create answers feeds the operations on that record. The
# description declares no links; these are test configuration, not corrections (they change no schema).
_CONTACT_OPS = [
    "ShowContact", "UpdateContact", "DeleteContact", "ArchiveContact", "UnarchiveContact", "listNotes", "createNote",
    "listTagsForAContact", "attachTagToContact", "listCompaniesForAContact", "attachContactToACompany",
    "listSegmentsForAContact",
]  # fmt: skip
_COMPANY_OPS = [
    "RetrieveACompanyById", "UpdateCompany", "deleteCompany", "ListAttachedContacts", "listCompanyNotes",
    "createCompanyNote",
]  # fmt: skip
LINKS = {
    "CreateContact": {op: {"contact_id": "$response.body#/id"} for op in _CONTACT_OPS}
    | {"ListContactMergeHistory": {"id": "$response.body#/id"}},
    "createOrUpdateCompany": {op: {"company_id": "$response.body#/id"} for op in _COMPANY_OPS},
    "createTag": {"findTag": {"tag_id": "$response.body#/id"}, "deleteTag": {"tag_id": "$response.body#/id"}},
    "createDataAttribute": {"updateDataAttribute": {"data_attribute_id": "$response.body#/id"}},
    "createNote": {"retrieveNote": {"note_id": "$response.body#/id"}},
}


def with_links(doc: dict) -> dict:
    """The document with LINKS on the 200 answers of the creating operations."""
    for ops in doc["paths"].values():
        for method, op in ops.items():
            links = LINKS.get(op.get("operationId")) if method != "parameters" else None
            if links:
                op["responses"]["200"]["links"] = {
                    f"To{target}": {"operationId": target, "parameters": params} for target, params in links.items()
                }
    return doc


def corrected_description() -> dict:
    """The official description, with the allow-list's corrections applied (each must still apply).

    ``add_responses`` is not a patch kind: undocumented error statuses are listed apart (see the allow-list).
    """
    doc = yaml.safe_load(SPEC.read_text())
    for patch in yaml.safe_load(ALLOWLIST.read_text())["patches"]:
        parent, key = _pointer(doc, patch["at"])
        assert key in parent, f"allow-list entry no longer applies: {patch['at']}"  # type: ignore[operator]
        if patch.get("remove"):
            del parent[key]  # type: ignore[union-attr]
        elif "set" in patch:
            parent[key] = copy.deepcopy(patch["set"])  # type: ignore[index]
    errors = yaml.safe_load(ALLOWLIST.read_text())["undocumented_errors"]
    listed = {tuple(k.split(" ", 1)): v for k, v in errors["operations"].items()}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            for status in [*errors["every_operation"], *listed.pop((method.upper(), path), [])]:
                op["responses"].setdefault(str(status), ERROR_RESPONSE)
    assert not listed, f"the allow-list names operations the description does not have: {sorted(listed)}"
    return doc


def routed_only(doc: dict) -> tuple[dict, int]:
    """The description restricted to the operations the emulator routes; (document, operation count)."""
    routed = set()
    for rule in URLS.iter_rules():
        template = re.sub(r"<(?:\w+:)?\w+>", "{}", rule.rule)
        routed |= {(m.lower(), template) for m in rule.methods - {"HEAD", "OPTIONS"}}
    paths, n = {}, 0
    for path, ops in doc["paths"].items():
        norm = re.sub(r"\{[^}]+\}", "{}", path)
        kept = {m: op for m, op in ops.items() if (m, norm) in routed}
        if kept:
            paths[path] = kept | ({"parameters": ops["parameters"]} if "parameters" in ops else {})
            n += len(kept)
    assert n == len(routed), "an emulated route is missing from the description"
    return {**doc, "paths": paths}, n


def test_allowlist_entries_are_documented():
    for patch in yaml.safe_load(ALLOWLIST.read_text())["patches"]:
        assert patch.get("why") and patch.get("at", "").startswith("/"), patch


def test_schemathesis_finds_no_failure_on_any_routed_operation(tmp_path):
    doc, n_ops = routed_only(with_links(corrected_description()))
    spec = tmp_path / "intercom-routed.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert st, "schemathesis is not installed: make setup installs requirements-dev.txt"
    service = IntercomService(tmp_path / "state", write_load_folder(tmp_path / "load"), default_version="2.16")
    with running_sandbox(services={"intercom": service}, state_dir=tmp_path / "sb") as sb:
        ic = sb["intercom"]
        sb.control("POST", "service/intercom/rate_limit", {"per_minute": 10_000_000})
        proc = subprocess.run(
            [
                st,
                "run",
                str(spec),
                "--url",
                ic["base_url"],
                "-H",
                f"Authorization: Bearer {ic['token']}",
                "-H",
                "Intercom-Version: 2.16",
                "--tls-verify",
                sb["ca_cert"],
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--no-color",
                "--max-failures",
                "200",
                "--continue-on-failure",
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            check=False,
        )
    out = proc.stdout + proc.stderr
    assert f"Selected: {n_ops}/{n_ops}" in out and f"Tested: {n_ops}" in out, out[-4000:]
    assert proc.returncode == 0, out[-20000:]
