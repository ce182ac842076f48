"""Conversation pages parsed straight into Arrow equal the ordinary per-row conversion, on the emulator's pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.context import IntercomContext
from syncaudit.connectors.intercom.conversations import ConversationsStream
from syncaudit.connectors.intercom.pages import parse_conversation_page
from syncaudit.snapshot import TableWriter


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    # A generated org: conversations with several contacts, tags, assignees, statistics, open and closed ones.
    with running_sandbox(size=400, seed=3, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def _bodies(sb: RunningSandbox) -> list[bytes]:
    client = IntercomClient(sb["intercom"]["base_url"], sb["intercom"]["token"], build_http_session(sb["ca_cert"], 30))
    bodies, params = [], {"per_page": 40}
    while True:
        body = client.request("GET", "conversations", "list conversations", params=params, parse=bytes)
        bodies.append(body)
        nxt = (orjson.loads(body).get("pages") or {}).get("next")
        if not isinstance(nxt, dict):
            return bodies
        params = {"per_page": 40, "starting_after": nxt["starting_after"]}


def test_the_arrow_page_equals_the_per_row_conversion(sandbox: RunningSandbox) -> None:
    bodies = _bodies(sandbox)
    assert len(bodies) > 1
    tagged = multi = assigned = 0
    for body in bodies:
        page = parse_conversation_page(body)
        doc = orjson.loads(body)
        expected, _ = convert.conversations_table(doc["conversations"])
        assert page.fast, "a 2.16 list page must take the Arrow path"
        assert page.table.equals(expected)
        assert page.total_count == doc["total_count"]
        assert page.next_cursor == ((doc["pages"].get("next") or {}).get("starting_after"))
        rows = page.table.to_pylist()
        tagged += sum(1 for r in rows if r["tags"])
        multi += sum(1 for r in rows if len(r["contact_ids"]) > 1)
        assigned += sum(1 for r in rows if r["admin_assignee_id"])
    assert tagged and assigned  # the comparison saw the lists and ids it converts


def test_a_page_of_another_shape_is_read_the_ordinary_way() -> None:
    rows = [
        # an integer id and a string assignee: not the 2.16 types the Arrow path declares
        {"id": 7, "state": "open", "open": True, "created_at": 1_700_000_000, "updated_at": 1_700_000_100,
         "admin_assignee_id": "12", "contacts": {"contacts": [{"id": "b"}, {"id": "a"}]}, "tags": {"tags": []}},
    ]  # fmt: skip
    body = orjson.dumps({"type": "conversation.list", "conversations": rows, "pages": {}, "total_count": 1})
    page = parse_conversation_page(body)
    assert not page.fast
    assert page.table.equals(convert.conversations_table(rows)[0])
    assert page.table.column("contact_ids").to_pylist() == [["a", "b"]]
    with pytest.raises(ValueError):
        parse_conversation_page(body[: len(body) // 2])  # a truncated transfer: the connector retries it
    lean = orjson.dumps({"conversations": [{**rows[0], "id": "7", "admin_assignee_id": 12}], "pages": {}})
    assert parse_conversation_page(lean).fast
    with pytest.raises(ValueError):  # invalid UTF-8 is refused, not written to the snapshot
        parse_conversation_page(lean.replace(b'"state":"open"', b'"state":"op\xffen"'))


def test_the_stream_reads_every_page_the_lean_way(sandbox: RunningSandbox, tmp_path: Path) -> None:
    client = IntercomClient(
        sandbox["intercom"]["base_url"], sandbox["intercom"]["token"], build_http_session(sandbox["ca_cert"], 30)
    )
    stream = ConversationsStream(IntercomContext(client), workers=1)
    out = stream.pull(lambda name, schema: TableWriter(tmp_path / f"{name}.parquet", schema), None, lambda n: None)
    pages = -(-out.records // 150)
    assert out.records > 0 and out.extra["fast_pages"] == pages
