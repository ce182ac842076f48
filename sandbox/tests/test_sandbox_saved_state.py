"""A sandbox restarted on a saved state folder keeps answering like the real APIs; its bugs answer in their shape.

The state a bench or a developer reuses may have been saved by an older emulator (its baseline, the loaded
state that ``reset`` restores, is never rewritten while the load folder is unchanged). A restart plus a reset
must still serve every write, and an unexpected exception anywhere in an emulator must reach the client as the
real API's 500 body, with its traceback in the server log, never cheroot's plain-text page.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from crmsandbox.http import ca_session
from crmsandbox.intercom import IntercomService
from crmsandbox.testing import RunningSandbox, running_sandbox

CONTACT_ID = "0000000000000000000000a1"


def _load_folder(root: Path) -> Path:
    """A hand-written Intercom load folder: three contacts with a typed custom attribute."""
    folder = root / "load" / "intercom"
    folder.mkdir(parents=True)
    (folder / "data_attributes.json").write_text(
        json.dumps([{"name": "seats", "model": "contact", "data_type": "integer", "custom": True, "id": 1}])
    )
    with open(folder / "contacts.jsonl", "w") as f:
        for i in range(3):
            doc = {
                "id": f"{0xA1 + i:024x}",
                "role": "user",
                "external_id": f"u{i}",
                "email": f"p{i}@saved.test",
                "name": f"Person {i}",
                "created_at": 1_700_000_000 + i,
                "updated_at": 1_700_000_100 + i,
                "custom_attributes": {"seats": i},
            }
            f.write(json.dumps(doc) + "\n")
    return root / "load"


def _intercom(sb: RunningSandbox) -> requests.Session:
    s = ca_session(sb["ca_cert"])
    s.headers.update({"Authorization": f"Bearer {sb['intercom']['token']}", "Intercom-Version": "2.16"})
    return s


def _serve(state: Path, load: Path):  # noqa: ANN202
    return running_sandbox(services={"intercom": IntercomService(state / "intercom", load)}, state_dir=state)


def test_reset_after_restart_on_a_baseline_saved_before_write_counts_still_updates_contacts(tmp_path: Path) -> None:
    load, state = _load_folder(tmp_path), tmp_path / "state"
    with _serve(state, load) as sb:
        assert _intercom(sb).get(f"{sb['intercom']['base_url']}/contacts/{CONTACT_ID}", timeout=30).ok
    # The baseline as an emulator from before the per-record write counters saved it (same schema_version).
    with sqlite3.connect(state / "intercom" / "intercom.loaded.sqlite") as db:
        db.execute("DROP TABLE write_counts")
    with _serve(state, load) as sb:
        sb.reset()  # what bench_pull does on a reused state: back to the loaded state
        r = _intercom(sb).put(
            f"{sb['intercom']['base_url']}/contacts/{CONTACT_ID}", json={"name": "Changed"}, timeout=30
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Changed"
        assert sb.control("GET", "state")["intercom"]["writes"] == {CONTACT_ID: 1}
        sb.reset()  # and a reset of the upgraded state clears the counters again
        assert sb.control("GET", "state")["intercom"]["writes"] == {}


def test_a_bug_inside_an_intercom_handler_answers_error_list_and_logs_the_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    load, state = _load_folder(tmp_path), tmp_path / "state"
    with _serve(state, load) as sb:
        backend = sb.sandbox.services["intercom"].backend
        # A body the emulator cannot serialise: the failure happens while rendering, after the handler returned.
        monkeypatch.setattr(backend, "get_contact", lambda *a, **k: ({"id": CONTACT_ID, "bad": {1, 2}}, 1))
        with caplog.at_level(logging.ERROR):
            r = _intercom(sb).get(f"{sb['intercom']['base_url']}/contacts/{CONTACT_ID}", timeout=30)
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "server_error"
    assert any(rec.exc_info and "not JSON serializable" in str(rec.exc_info[1]) for rec in caplog.records)


class RaisingService:
    """An emulator with a bug that escapes its own error handling (the server is the last line)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def wsgi_app(self):  # noqa: ANN201
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            raise RuntimeError(f"{self.name} emulator bug")

        return app

    def reset(self) -> None:
        pass

    def dump(self) -> dict[str, Any]:
        return {}

    def connection_facts(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url}

    def control_boom(self) -> dict[str, Any]:
        raise RuntimeError(f"{self.name} control bug")


def test_an_exception_escaping_an_emulator_is_answered_in_its_api_shape_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = {"salesforce": RaisingService("salesforce"), "intercom": RaisingService("intercom")}
    with running_sandbox(services=services) as sb, caplog.at_level(logging.ERROR):
        s = ca_session(sb["ca_cert"])
        ic = s.put(f"{sb['intercom']['base_url']}/contacts/x", json={"name": "n"}, timeout=30)
        sf = s.get(f"{sb['salesforce']['base_url']}/services/data/v59.0/sobjects", timeout=30)
        logged = [e["status"] for e in sb.requests()]
    assert ic.status_code == 500 and sf.status_code == 500
    assert ic.json()["type"] == "error.list" and ic.json()["errors"][0]["code"] == "server_error"
    assert sf.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert logged == [500, 500]  # the request log records what the client got
    bugs = {str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info}
    assert bugs == {"intercom emulator bug", "salesforce emulator bug"}


def test_a_bug_in_a_control_action_answers_json_naming_it_and_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running_sandbox(services={"intercom": RaisingService("intercom")}) as sb, caplog.at_level(logging.ERROR):
        r = ca_session(sb["ca_cert"]).post(f"{sb['control']['intercom']}/service/intercom/boom", json={}, timeout=30)
    assert r.status_code == 500
    assert "RuntimeError: intercom control bug" in r.json()["error"]
    assert any(rec.exc_info and str(rec.exc_info[1]) == "intercom control bug" for rec in caplog.records)
