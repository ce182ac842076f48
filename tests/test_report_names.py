"""Plain names and record links: the URL shapes of Salesforce Lightning and the Intercom app."""

from __future__ import annotations

import pandas as pd

from syncaudit.report.display import table_html
from syncaudit.report.names import intercom_app_base, kind_label, object_label, page_title, record_url

LINKS = {
    "salesforce": "https://acme.my.salesforce.com",
    "intercom": intercom_app_base("https://api.intercom.io", "abc123"),
}


def test_record_urls_follow_the_vendors_shapes() -> None:
    assert (
        record_url("003Dn00002wdctZIAQ", LINKS)
        == "https://acme.my.salesforce.com/lightning/r/Contact/003Dn00002wdctZIAQ/view"
    )
    assert record_url("00QDn00007NLrrFMAT", LINKS).endswith("/lightning/r/Lead/00QDn00007NLrrFMAT/view")
    assert record_url("6672a89b1bb69f9f21000506", LINKS, "contact") == (
        "https://app.intercom.com/a/apps/abc123/users/6672a89b1bb69f9f21000506/all"
    )
    assert record_url("697258591bb69f9f220000c0", LINKS, "Account").endswith(
        "/a/apps/abc123/companies/697258591bb69f9f220000c0"
    )
    assert (
        record_url("4521", LINKS, "conversation") == "https://app.intercom.com/a/inbox/abc123/inbox/conversation/4521"
    )
    assert intercom_app_base("https://api.eu.intercom.io", "x") == "https://app.eu.intercom.com/a/apps/x"
    # Not ids: no link; no base known: no link.
    assert record_url("accounts", LINKS) is None and record_url("salesforce people", LINKS) is None
    assert record_url("003Dn00002wdctZIAQ", {}) is None


def test_tables_link_record_ids_and_escape_everything_else() -> None:
    df = pd.DataFrame({"object": ["Contact"], "records": [["003Dn00002wdctZIAQ", "<b>x</b>"]], "detail": ["<script>"]})
    page = table_html(df, mask=False, links=LINKS)
    assert '<a href="https://acme.my.salesforce.com/lightning/r/Contact/003Dn00002wdctZIAQ/view"' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "&lt;script&gt;" in page and "<script>" not in page.split("</style>")[1]


def test_plain_names() -> None:
    assert kind_label("orphan") == "Missing counterpart" and kind_label("new_kind") == "New kind"
    assert (
        object_label("contact", "intercom") == "Intercom contact" and object_label("Contact", "salesforce") == "Contact"
    )
    assert page_title("40_duplicates") == "Duplicates" and page_title("95_team_extra") == "Team extra"


def test_linked_tables_still_mask_names_whatever_the_last_row_is() -> None:
    df = pd.DataFrame(
        {"object": ["Contact", "Account"], "survivor": ["003Dn00002wdctZIAQ", "001Dn00006Bv4jbIAB"],
         "survivor_name": ["Nicholas Small", "Acme Ltd"]}
    )  # fmt: skip
    page = table_html(df, mask=True, links=LINKS)
    assert "Nicholas Small" not in page and "N*** S***" in page


def test_summaries_read_as_words_and_objects_are_one_bar_each() -> None:
    from syncaudit.report.views import key_values, labelled

    kv = key_values({"plan_hash": "ab12", "dry_run": True, "would_write": {"intercom.contact.merge": 6}, "skipped": 0,
                     "counts": {}, "api_calls": None, "message": "dry run"})  # fmt: skip
    assert kv.to_dict("records") == [
        {"what": "plan hash", "value": "ab12"},
        {"what": "dry run", "value": "yes"},
        {"what": "would write · intercom.contact.merge", "value": "6"},
        {"what": "skipped", "value": "0"},
        {"what": "message", "value": "dry run"},
    ]
    counts = pd.DataFrame({"kind": ["orphan", "orphan"], "object": ["contact", "Contact"],
                           "system": ["intercom", "salesforce"], "n": [3, 4]})  # fmt: skip
    assert labelled(counts)[["object", "n"]].values.tolist() == [["Contact", 4], ["Intercom contact", 3]]
