"""Contact pages parsed straight into Arrow equal the ordinary per-row conversion, on hostile pages.

The Arrow path (``ContactPageParser`` fast) must give exactly the table the per-row path (orjson +
``convert.contacts_table``) gives, or decline the page. The pages come from the HTTPS sandbox serving a
generated org plus hostile contacts from its load folder (unicode, emoji, NUL, 200k-character strings,
nulls, missing keys, blank location parts, custom attributes of every data type and of the wrong type,
social profiles, more than ten companies), as whole pages, as one-contact pages, in the 2.11 shape (integer
owner_id), and mutated into shapes the emulator never sends (bare tag lists, null items, duplicated keys,
numeric ids...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from crmsandbox.generator import generate
from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.contact_pages import ContactPage, ContactPageParser, blank
from syncaudit.connectors.intercom.context import IntercomContext
from syncaudit.connectors.intercom.streams import ContactsStream
from syncaudit.snapshot import TableWriter

ATTRS = [  # per-workspace custom attributes: names and types no demo uses
    ("plan tier", "string"),
    ("café €", "string"),
    ("a.b", "integer"),
    ("score", "float"),
    ("vip", "boolean"),
    ("renewal", "date"),
    ("opts", "options"),
    ("when2", "datetime"),
]
T0 = 1_702_702_735
HUGE = ('x"\n\\' * 50_000) + "🚀"
FAST = {  # contacts whose pages the Arrow path must read itself
    "unicode": {
        "name": 'Zoë 🚀 Ñandú 李雷\u200b "q" \\ \u0000 end', "email": "zoë@例え.jp", "phone": "+1 (555) 010 ext. 7",
        "custom_attributes": {"plan tier": "pro 🚀", "café €": "ü", "a.b": 2**62, "score": 7, "vip": True,
                              "renewal": 1_734_537_424, "opts": "1-10", "when2": 1_734_537_424, "unknown": [1]},
        "social_profiles": {"type": "list", "data": [{"type": "social_profile", "name": "X", "url": "https://x.com/z"}]},
    },
    "nulls": {"email": None, "phone": None, "name": None, "owner_id": None, "location": None,
              "custom_attributes": None, "signed_up_at": None, "updated_at": None},
    "huge": {"name": HUGE, "custom_attributes": {"plan tier": "é" * 150_000}},
    "blank location": {"location": {"type": "location", "city": " \t", "region": "\u3000\u2028", "country": "\x1c\x85"}},
    "kept location": {"location": {"city": " Paris ", "region": "\u200b", "country": ""}},
    "partial location": {"location": {"type": "location", "city": "Oslo"}},
    "float attribute of integers": {"custom_attributes": {"score": 3, "a.b": -0}},
    "date beyond int64 microseconds": {"custom_attributes": {"renewal": 10**15}, "last_seen_at": -5},
    "owner 0": {"owner_id": "0"},
    "many companies and tags": {},  # companies and tags added below
}  # fmt: skip
DECLINED = {  # values of another type than the data attribute or the 2.16 object declares
    "number in a string attribute": {"custom_attributes": {"plan tier": 42}},
    "float in an integer attribute": {"custom_attributes": {"a.b": 3.0}},
    "fraction in an integer attribute": {"custom_attributes": {"a.b": 3.5}},
    "string boolean": {"custom_attributes": {"vip": "true"}},
    "string date": {"custom_attributes": {"renewal": "2024-01-01"}},
    "fractional date": {"custom_attributes": {"renewal": 1_734_537_424.5}},
    "float attribute beyond 2**53": {"custom_attributes": {"score": 2**60}},
    "object attribute": {"custom_attributes": {"café €": {"x": 1}}},
    "list attribute": {"custom_attributes": {"plan tier": ["a", "b"]}},
    "numeric phone": {"phone": 15_551_230_000},
    "numeric location": {"location": {"city": 75001}},
}


def _contacts(folder: Path) -> None:
    ic = folder / "intercom"
    attrs = json.loads((ic / "data_attributes.json").read_text(encoding="utf-8"))
    for k, (name, data_type) in enumerate(ATTRS):
        attrs["data"].append({"type": "data_attribute", "id": 900 + k, "name": name, "model": "contact",
                              "full_name": f"custom_attributes.{name}", "data_type": data_type, "custom": True,
                              "archived": False, "api_writable": True})  # fmt: skip
    attrs["data"].append({"type": "data_attribute", "id": 999, "name": "retired", "model": "contact",
                          "data_type": "string", "custom": True, "archived": True})  # fmt: skip
    (ic / "data_attributes.json").write_text(json.dumps(attrs), encoding="utf-8")
    tags = json.loads((ic / "tags.json").read_text(encoding="utf-8"))
    tags["data"] += [{"type": "tag", "id": "97", "name": "🔥 hot"}, {"type": "tag", "id": "98", "name": "Zulu"},
                     {"type": "tag", "id": "99", "name": "älpha"}]  # fmt: skip
    (ic / "tags.json").write_text(json.dumps(tags), encoding="utf-8")
    companies = [json.loads(x)["id"] for x in (ic / "companies.jsonl").read_text(encoding="utf-8").splitlines()]
    lines = []
    for k, (label, extra) in enumerate([*FAST.items(), *DECLINED.items()]):
        c: dict[str, Any] = {"type": "contact", "id": f"ffff{k:020x}", "external_id": f"hostile {label}",
                             "role": "user", "email": f"h{k}@hostile.test", "created_at": T0 + k * 86_400 - 900 * 86_400 * (label in DECLINED),
                             "updated_at": T0 + k * 90_000, "owner_id": 991267466}  # fmt: skip
        c.update(extra)
        if label == "many companies and tags":
            c["companies"] = {"type": "list", "data": [{"type": "company", "id": i} for i in companies[:12]]}
            c["tags"] = {"type": "list", "data": [{"type": "tag", "id": t} for t in ("98", "97", "81", "99", "82")]}
        lines.append(json.dumps(c) + "\n")
    lines.append(json.dumps({"id": "ffff" + "e" * 20, "created_at": T0}) + "\n")  # the least a contact can be
    with (ic / "contacts.jsonl").open("a", encoding="utf-8") as f:
        f.writelines(lines)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("contact-pages")
    folder = generate(root / "load", 300, 3)
    _contacts(folder)
    with running_sandbox(load_dir=folder, state_dir=root / "sd") as sb:
        yield sb


def _client(sb: RunningSandbox, version: str = "2.16") -> IntercomClient:
    http = build_http_session(sb["ca_cert"], 30)
    return IntercomClient(sb["intercom"]["base_url"], sb["intercom"]["token"], http, version=version)


def _bodies(client: IntercomClient, search: bool = False) -> list[bytes]:
    bodies: list[bytes] = []
    cursor = None
    while True:
        if search:
            pagination: dict[str, Any] = {"per_page": 25, **({"starting_after": cursor} if cursor else {})}
            q = {"query": {"field": "created_at", "operator": ">", "value": 0}, "pagination": pagination}
            body = client.request("POST", "contacts/search", "search", json=q, parse=bytes)
        else:
            params = {"per_page": 40, **({"starting_after": cursor} if cursor else {})}
            body = client.request("GET", "contacts", "list contacts", params=params, parse=bytes)
        bodies.append(body)
        nxt = (orjson.loads(body).get("pages") or {}).get("next")
        if not isinstance(nxt, dict):
            return bodies
        cursor = nxt["starting_after"]


@pytest.fixture(scope="module")
def parser(sandbox: RunningSandbox) -> ContactPageParser:
    ctx = IntercomContext(_client(sandbox))
    return ContactPageParser(convert.contact_schema(ctx.data_attributes()), ctx.tags())


def _diff(a: pa.Table, b: pa.Table) -> str:
    if a.schema != b.schema:
        return f"schema {a.schema} != {b.schema}"
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if x != y:
            bad = [i for i, (u, v) in enumerate(zip(x, y, strict=False)) if u != v][:3]
            return f"{name}: rows {bad}: {[str(x[i])[:80] for i in bad]} != {[str(y[i])[:80] for i in bad]}"
    return "equal values, other chunks or nulls"


def check(parser: ContactPageParser, body: bytes) -> ContactPage | None:
    """The page by both paths: identical tables, links and paging, or the same exception; the fast page."""
    try:
        want = parser.parse(body, fast=False)
    except Exception as exc:  # noqa: BLE001 - the per-row path's answer to this body is the reference
        with pytest.raises(type(exc)):
            parser.parse(body)
        return None
    got = parser.parse(body)
    assert got.table.equals(want.table), _diff(got.table, want.table)
    assert got.links.equals(want.links), _diff(got.links, want.links)
    assert (got.next_cursor, got.total_count, got.cut) == (want.next_cursor, want.total_count, want.cut)
    assert got.more_companies == want.more_companies
    if got.more_companies:  # the companies beyond the embedded ten, as the stream adds them after fetching
        extra = {cid: ["z9", "a1", "ü", "A0"] for cid in got.more_companies}
        got, want = parser.with_companies(got, extra), parser.with_companies(want, extra)
        assert got.table.equals(want.table), _diff(got.table, want.table)
        assert got.links.equals(want.links), _diff(got.links, want.links)
    return got


def _one_contact(row: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "list", "data": [row], "total_count": 1, "pages": {"type": "pages", "next": None}})


def test_a_blank_location_part_is_what_python_strips_away() -> None:
    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000]
    texts = chars + [f"{c}x{c}" for c in chars[:0x3100]] + ["", " \u3000\t"]
    assert blank(pa.array(texts)).to_pylist() == [not t.strip() for t in texts]


def test_hostile_contacts_give_the_per_row_table_or_are_declined(sandbox: RunningSandbox, parser) -> None:
    pages = _bodies(_client(sandbox)) + _bodies(_client(sandbox), search=True)
    fast = 0
    for body in pages:
        page = check(parser, body)
        fast += page is not None and page.fast
        # the reference itself is the plain per-row conversion of the page's rows
        rows = orjson.loads(body)["data"]
        assert parser.parse(body, fast=False).table.equals(
            convert.contacts_table(rows, parser.schema, parser.tag_names, {})[0]
        )
    assert fast >= len(pages) // 2  # the generated org's pages, at least
    seen = set()
    for body in pages[: len(pages) // 2]:
        for row in orjson.loads(body)["data"]:
            label = (row.get("external_id") or "").removeprefix("hostile ")
            page = check(parser, _one_contact(row))
            assert page is not None
            if label in DECLINED:
                assert not page.fast, f"{label}: the Arrow path must decline it"
            else:
                assert page.fast, f"{label or row['id']}: the Arrow path must read it"
            seen.add(label)
            if label == "many companies and tags":
                assert page.more_companies == [row["id"]]
                assert page.table.column("tags").to_pylist() == [sorted(["Zulu", "🔥 hot", "vip", "älpha", "beta"])]
            if label == "blank location":
                assert page.table.select(["location.city", "location.region", "location.country"]).to_pylist() == [
                    {"location.city": None, "location.region": None, "location.country": None}
                ]
    assert set(FAST) | set(DECLINED) <= seen


def test_the_2_11_shape_and_an_incremental_page(sandbox: RunningSandbox, parser) -> None:
    old = _bodies(_client(sandbox, "2.11"))
    assert any(isinstance(r.get("owner_id"), int) for b in old for r in orjson.loads(b)["data"])
    assert all(check(parser, b).fast for b in old if b'plan tier":42' not in b and b"hostile" not in b)
    updated = sorted(r["updated_at"] or 0 for b in old for r in orjson.loads(b)["data"])
    since = ContactPageParser(parser.schema, parser.tag_names, newer_than=updated[len(updated) // 2])
    cuts = [check(since, b) for b in old]
    assert any(p is not None and p.cut for p in cuts) and any(p is not None and p.fast for p in cuts)


def _mutated(body: bytes) -> Iterator[tuple[str, bytes]]:
    doc = orjson.loads(body)
    rows = doc["data"]

    def page(**changes: Any) -> bytes:
        return orjson.dumps({**doc, **changes})

    def first(**changes: Any) -> bytes:
        return page(data=[{**rows[0], **changes}, *rows[1:]])

    yield "tags as a bare list", first(tags=[{"type": "tag", "id": "81"}])
    yield "odd tag items", first(tags={"data": [None, {"id": None}, {}, {"id": "4242"}, {"id": "82"}, {"id": "81"}]})
    yield "a tag item that is a string", first(tags={"data": ["81", {"id": "82"}]})
    yield "odd company items", first(companies={"data": [{"id": "b"}, {"id": None}, None, {"id": "a"}, {"id": ""}]})
    yield "companies cut short", first(companies={"data": [{"id": "a"}], "has_more": True})
    yield "numeric company ids", first(companies={"data": [{"id": 7}]})
    yield "location as text", first(location="Paris")
    yield "custom attributes as a list", first(custom_attributes=[])
    yield "numeric contact id", first(id=12)
    yield "no contact id", page(data=[{k: v for k, v in rows[0].items() if k != "id"}])
    yield "fractional timestamp", first(created_at=1_702_702_735.25)
    yield "timestamp beyond int64", first(created_at=2**63 + 5)
    yield "archived flags", page(data=[{**r, "archived": k % 3 == 0 or None} for k, r in enumerate(rows)])
    yield "archived as text", first(archived="false")
    yield "a null contact", page(data=[None, *rows])
    yield "a string contact", page(data=["x", *rows])
    yield "data as an object", page(data={"a": 1})
    yield "no data", orjson.dumps({"type": "list", "total_count": 0})
    yield "empty data", page(data=[])
    yield "next as a URL", page(pages={"next": "https://api.intercom.io/contacts?page=2"})
    yield "numeric cursor", page(pages={"next": {"starting_after": 5}})
    yield "total as text", page(total_count="many")
    yield "a byte order mark", b"\xef\xbb\xbf" + body
    yield "invalid UTF-8", body.replace(b'"role":"', b'"role":"\xff\xfe', 1)
    yield "a NUL after the body", body + b"\x00"
    yield "a list body", orjson.dumps(rows)
    yield "two documents", body + b"\n" + body
    yield "truncated", body[: len(body) // 2]
    yield "duplicated key", body.replace(b'{"type":"contact",', b'{"type":"contact","name":"dup",', 1)
    yield "lone surrogate", json.dumps({**doc, "data": [{**rows[0], "name": "a\ud800b"}]}).encode()
    yield "escaped emoji", json.dumps({**doc, "data": [{**rows[0], "name": "🚀é \u2028 \x00"}, *rows[1:]]}).encode()
    yield (
        "float beyond double",
        body.replace(b'"type":"contact"', b'"type":"contact","custom_attributes":{"score":1e400}', 1),
    )


def test_shapes_the_emulator_never_sends(sandbox: RunningSandbox, parser) -> None:
    body = next(b for b in _bodies(_client(sandbox)) if b"hostile" not in b)
    assert check(parser, body).fast
    outcomes = {}
    for label, mutated in _mutated(body):
        page = check(parser, mutated)
        outcomes[label] = None if page is None else page.fast
    assert outcomes["odd tag items"] and outcomes["odd company items"] and outcomes["archived flags"]
    assert outcomes["escaped emoji"] and outcomes["no contact id"] and outcomes["empty data"]
    for label in ("tags as a bare list", "a tag item that is a string", "location as text", "numeric contact id",
                  "fractional timestamp", "a null contact", "next as a URL", "duplicated key"):  # fmt: skip
        assert outcomes[label] is False, label
    assert outcomes["a byte order mark"]
    for label in ("data as an object", "a list body", "two documents", "truncated", "lone surrogate", "invalid UTF-8"):
        assert outcomes[label] is None, label  # an error (ValueError: the connector retries) on both paths


def _pulled(sb: RunningSandbox, tmp: Path, fast: bool) -> tuple[Any, dict[str, pa.Table]]:
    paths: dict[str, Path] = {}

    def open_writer(name: str, schema: Any) -> TableWriter:
        paths[name] = tmp / f"{name}.parquet"
        return TableWriter(paths[name], schema)

    stream = ContactsStream(IntercomContext(_client(sb)), partitions=2)
    stream.fast = fast
    out = stream.pull(open_writer, None, lambda n: None)
    con = duckdb.connect()
    tables = {n: con.sql(f"SELECT * FROM read_parquet('{p}') ORDER BY ALL").to_arrow_table() for n, p in paths.items()}
    return out, tables


def test_the_stream_gives_the_same_snapshot_either_way(sandbox: RunningSandbox, tmp_path: Path) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "rows").mkdir()
    out, fast = _pulled(sandbox, tmp_path / "fast", True)
    ref_out, rows = _pulled(sandbox, tmp_path / "rows", False)
    assert out.records == ref_out.records > 300
    assert 0 < out.extra["fast_pages"] < out.extra["pages"] and ref_out.extra["fast_pages"] == 0
    for name in ("contacts", "contact_companies"):
        assert fast[name].equals(rows[name]), (name, _diff(fast[name], rows[name]))
    many = [r for r in fast["contacts"].to_pylist() if r["external_id"] == "hostile many companies and tags"]
    assert len(many[0]["company_ids"]) == 12  # the ten embedded and the rest fetched


def test_the_workers_follow_what_a_whole_page_costs(sandbox: RunningSandbox, monkeypatch) -> None:
    """A full pull times its first probe on a whole page: where pages are slow to transfer (316 KB of 150
    contacts) and a one-contact answer is not, the workers are sized from the page, not from the probe."""
    from syncaudit.connectors.intercom import pacing

    monkeypatch.setattr(pacing, "MIN_PAGES", 1)  # the module's org is small; the sizing rule is what is tested
    sandbox.control("POST", "cost", {"profile": "none", "bytes_per_s": 3_000_000})
    try:
        stream = ContactsStream(IntercomContext(_client(sandbox)), partitions=2)
        stream.client.request("GET", "me", "me")  # the connection is open: the probe times the call alone
        stream.plan(None)
    finally:
        sandbox.control("POST", "cost", {"profile": "none"})
    # ~100 ms a page at 166 calls a second with a quarter of headroom: ~20 workers (a one-contact probe: 2)
    assert stream.partitions >= 12
