"""The sandbox clock's as-of moment: `serve --as-of now` serves a load folder as if it were taken at start."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from crmsandbox.asof import folder_as_of, shift_for
from crmsandbox.errors import SandboxInputError
from crmsandbox.http import ca_session
from crmsandbox.server import prepare_load_dir
from crmsandbox.testing import generated_load_dir, running_sandbox

SIZE, SEED = 100, 3


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00")).timestamp()


def _newest(sb) -> tuple[float, int]:
    """The newest Salesforce SystemModstamp and the newest Intercom updated_at the sandbox serves."""
    http = ca_session(sb["ca_cert"])
    sf, ic = sb["salesforce"], sb["intercom"]
    q = "SELECT SystemModstamp FROM Contact ORDER BY SystemModstamp DESC LIMIT 1"
    rec = http.get(
        f"{sf['instance_url']}/services/data/v59.0/query",
        params={"q": q},
        headers={"Authorization": f"Bearer {sf['session_id']}"},
    ).json()["records"][0]
    page = http.post(
        f"{ic['base_url']}/contacts/search",
        json={"query": {"field": "updated_at", "operator": ">", "value": 0}, "sort": {"field": "updated_at"}},
        headers={"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"},
    ).json()
    return _ts(rec["SystemModstamp"]), page["data"][0]["updated_at"]


def test_as_of_now_moves_the_data_to_the_start_and_original_keeps_it(tmp_path):
    load = generated_load_dir(SIZE, SEED)
    as_of = folder_as_of(load)
    truth = json.loads((load / "truth.json").read_text())
    in_flight = [f for f in truth["findings"] if f.get("within_lag")]
    assert as_of and in_flight, "the generator plants drift still in flight at its as-of moment"

    with running_sandbox(load_dir=load, state_dir=tmp_path / "orig") as sb:
        sf_newest, ic_newest = _newest(sb)
    assert sf_newest <= as_of and ic_newest <= as_of < time.time() - 86_400  # served unchanged, in the past

    started = time.time()
    with running_sandbox(load_dir=load, state_dir=tmp_path / "now", as_of="now") as sb:
        sf_now, ic_now = _newest(sb)
        shifted_truth = json.loads((tmp_path / "now" / "load-as-of" / "truth.json").read_text())
    shift = shifted_truth["generator"]["shifted_by_s"]
    assert abs(shifted_truth["generator"]["as_of_unix"] - started) < 60
    assert sf_now == pytest.approx(sf_newest + shift, abs=0.002) and ic_now == ic_newest + shift
    # every change is as far before the start as it was before the as-of moment: what was in flight then
    # (a few seconds before as_of, within the sync lag) is in flight now
    assert abs((started - ic_now) - (as_of - ic_newest)) < 60
    assert folder_as_of(load) == as_of  # the load folder itself is never changed


def test_as_of_a_given_moment_and_every_kind_of_timestamp_moves(tmp_path):
    load = generated_load_dir(SIZE, SEED)
    out = prepare_load_dir(tmp_path, load=str(load), size=None, seed=0, as_of="2030-01-01T00:00:00Z")
    assert folder_as_of(out) == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    shift = folder_as_of(out) - folder_as_of(load)
    before = [json.loads(line) for line in (load / "intercom" / "conversations.jsonl").open()]
    after = [json.loads(line) for line in (out / "intercom" / "conversations.jsonl").open()]
    assert [c["created_at"] + shift for c in before] == [c["created_at"] for c in after]
    parts_b = [p["created_at"] for c in before for p in c["conversation_parts"]["conversation_parts"]]
    parts_a = [p["created_at"] for c in after for p in c["conversation_parts"]["conversation_parts"]]
    assert parts_a == [t + shift for t in parts_b] and parts_a
    old_csv = (load / "salesforce" / "Contact.csv").read_text().splitlines()[1]
    new_csv = (out / "salesforce" / "Contact.csv").read_text().splitlines()[1]
    assert old_csv.split(",")[0] == new_csv.split(",")[0] and old_csv != new_csv
    # the same shift again reuses the copy; original serves the folder itself and loads afresh
    assert prepare_load_dir(tmp_path, load=str(load), size=None, seed=0, as_of="2030-01-01T00:00:00Z") == out
    assert prepare_load_dir(tmp_path, load=str(load), size=None, seed=0, as_of="original") == load
    assert "as_of_shift_s" not in json.loads((tmp_path / "source.json").read_text())


def test_as_of_needs_a_folder_that_knows_its_moment(tmp_path):
    (tmp_path / "hand" / "intercom").mkdir(parents=True)
    with pytest.raises(SandboxInputError, match="--as-of original"):
        shift_for("now", tmp_path / "hand", time.time())
    with pytest.raises(SandboxInputError, match="not now, original or an ISO datetime"):
        shift_for("yesterday", generated_load_dir(SIZE, SEED), time.time())
    assert shift_for("original", tmp_path / "hand", time.time()) == 0


def test_serve_default_is_now_for_generated_folders_and_original_for_hand_written_ones(tmp_path):
    load = generated_load_dir(SIZE, SEED)
    hand = tmp_path / "hand"
    (hand / "intercom").mkdir(parents=True)
    assert shift_for("auto", hand, time.time()) == 0
    assert abs(shift_for("auto", load, time.time()) - shift_for("now", load, time.time())) <= 1
    from crmsandbox.cli import build_parser

    assert build_parser().parse_args(["serve"]).as_of == "auto"
