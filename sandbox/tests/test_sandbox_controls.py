"""The control operations tests use to count writes and to act as another user, on both emulators."""

from __future__ import annotations

import pytest

from crmsandbox.http import ca_session
from crmsandbox.intercom import IntercomService
from crmsandbox.salesforce import SalesforceService
from crmsandbox.testing import running_sandbox
from ic_support import write_load_folder
from sf_https import ANN, BOB, write_load_dir

V = "/services/data/v59.0"
IC1 = f"c{1:023x}"


@pytest.fixture
def live(tmp_path):
    write_load_dir(tmp_path / "sf")
    services = {
        "salesforce": SalesforceService(None, tmp_path / "sf"),
        "intercom": IntercomService(tmp_path / "ics", write_load_folder(tmp_path / "ic"), default_version="2.16"),
    }
    with running_sandbox(services=services, state_dir=tmp_path / "sb") as sb:
        sf, ic = sb["salesforce"], sb["intercom"]
        sfh = ca_session(sb["ca_cert"])
        sfh.headers["Authorization"] = f"Bearer {sf['session_id']}"
        ich = ca_session(sb["ca_cert"])
        ich.headers.update({"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"})
        yield sb, sfh, sf["instance_url"] + V, ich, ic["base_url"]


def svc(sb, system, op, **kw):
    return sb.control("POST", f"service/{system}/{op}", kw)


def test_salesforce_write_counters_count_committed_writes_only(live):
    sb, http, base, _, _ = live
    http.patch(f"{base}/sobjects/Contact/{ANN}", json={"Title": "One"})
    http.patch(f"{base}/sobjects/Contact/{ANN}", json={"Title": "Two"})
    made = http.post(f"{base}/sobjects/Task", json={"Subject": "Call"}).json()["id"]
    failed = http.post(  # all or none: the second record fails, the first is rolled back with its counter
        f"{base}/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Contact"}, "Id": BOB, "Title": "x"},
                {"attributes": {"type": "Contact"}, "Id": BOB, "Nope__c": 1},
            ],
        },
    )
    assert failed.status_code in (200, 400)
    writes = sb.control("GET", "state")["salesforce"]["writes"]
    assert writes == {f"Contact/{ANN}": 2, f"Task/{made}": 1}
    touched = svc(sb, "salesforce", "touch", obj="Contact", id=BOB, fields={"Title": "By someone else"})
    assert touched["Title"] == "By someone else"
    assert f"Contact/{BOB}" not in sb.control("GET", "state")["salesforce"]["writes"]
    assert svc(sb, "salesforce", "record", obj="Contact", id=BOB)["Title"] == "By someone else"
    assert [r["Id"] for r in svc(sb, "salesforce", "find", obj="Task", field="Subject", value="Call")] == [made]
    assert svc(sb, "salesforce", "record", obj="Contact", id="003000000000099AAA") is None
    sb.reset()
    assert sb.control("GET", "state")["salesforce"]["writes"] == {}


def test_intercom_counters_interleave_and_short_rate_windows(live):
    sb, _, _, http, base = live
    assert http.put(f"{base}/contacts/{IC1}", json={"name": "Mine"}).status_code == 200
    svc(sb, "intercom", "interleave", id=IC1, fields={"phone": "+15550100"})
    after = http.put(f"{base}/contacts/{IC1}", json={"name": "Mine again"}).json()
    assert after["name"] == "Mine again" and after["phone"] == "+15550100"  # someone else's write landed first
    assert svc(sb, "intercom", "touch", id=IC1, fields={"name": "Theirs"})["name"] == "Theirs"
    assert sb.control("GET", "state")["intercom"]["writes"] == {IC1: 2}
    assert svc(sb, "intercom", "contact", id=IC1)["name"] == "Theirs"
    assert svc(sb, "intercom", "contact", id="nope") is None
    limits = svc(sb, "intercom", "rate_limit", per_window=2, window_s=60)
    assert limits["per_window"] == 2 and limits["window_s"] == 60
    codes = [http.get(f"{base}/contacts/{IC1}").status_code for _ in range(3)]
    assert codes[-1] == 429 and sb.control("GET", "state")["intercom"]["429"] >= 1
    bad = ca_session(sb["ca_cert"]).post(
        sb["control"]["intercom"] + "/service/intercom/rate_limit", json={"per_window": 0}
    )
    assert bad.status_code == 400
