"""Masking of personal data, and CSV exports a spreadsheet cannot execute."""

from __future__ import annotations

import csv

import pandas as pd

from syncaudit.config import FieldMapping
from syncaudit.report.masking import (
    mask_email,
    mask_findings,
    mask_frame,
    mask_name,
    mask_phone,
    mask_text,
    personal_fields,
    personal_kind,
)
from syncaudit.report.safe_csv import neutralize_cell, neutralize_frame, write_safe_csv


def test_personal_kind_by_column_and_object() -> None:
    assert personal_kind("Email") == "email"
    assert personal_kind("custom_attributes.work_email") == "email"
    assert personal_kind("MobilePhone") == "phone"
    assert personal_kind("LastName") == "name"
    assert personal_kind("Name", "Contact") == "name"
    assert personal_kind("Name", "Account") is None  # a company name is business data
    assert personal_kind("Plan_Type__c") is None


def test_maskers_hide_the_identifying_part() -> None:
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_phone("+1 (415) 555-0132") == "***32"
    assert mask_name("Zoë  Ågren-Łukasz") == "Z*** Å***"
    assert "jane" not in mask_email("jane@x.io")


def test_mask_text_finds_emails_and_phones_but_leaves_dates_and_ids() -> None:
    text = "Mail jane.doe@example.com or call +44 20 7946 0958 / (415) 555-0132; id 0035g00000AbCdE 1234567890, 2026-11-26 12:40"
    out = mask_text(text)
    assert "jane.doe" not in out and "7946" not in out and "555-0132" not in out
    assert "0035g00000AbCdE" in out and "1234567890" in out and "2026-11-26 12:40" in out


def test_mask_text_masks_known_values() -> None:
    assert mask_text("names differ: Bartholomew Quigley vs Bart", known=["Bartholomew Quigley"]) == (
        "names differ: B*** Q*** vs Bart"
    )


def test_mask_frame_masks_personal_columns_and_free_text() -> None:
    df = pd.DataFrame(
        {
            "Id": ["0031", "0032", "0033"],
            "Name": ["Jane Doe", None, "<script>alert(1)</script>"],
            "Email": ["jane@example.com", "", None],
            "Phone": ["+1 415 555 0132", "12", None],
            "Notes": ["reach me at bob@corp.io", "nothing", None],
            "Seats": [1, 2, 3],
        }
    )
    out = mask_frame(df, obj="Contact")
    assert out["Id"].tolist() == ["0031", "0032", "0033"]
    assert out["Name"].tolist()[:2] == ["J*** D***", None]
    assert "alert" not in out["Name"][2]
    assert out["Email"].tolist()[0] == "j***@example.com"
    assert out["Phone"].tolist()[0] == "***32"
    assert out["Notes"].tolist()[0] == "reach me at b***@corp.io"
    assert out["Seats"].tolist() == [1, 2, 3]
    assert df["Email"][0] == "jane@example.com"  # the input is not modified


def test_personal_fields_from_the_mapping() -> None:
    fields = [
        FieldMapping(
            name="email",
            salesforce="Email",
            intercom="email",
            objects=["Contact"],
            direction="both",
            owner="salesforce",
        ),
        FieldMapping(
            name="full_name",
            salesforce="Name",
            intercom="name",
            objects=["Contact"],
            direction="both",
            owner="salesforce",
        ),
        FieldMapping(
            name="company_name",
            salesforce="Name",
            intercom="name",
            objects=["Account"],
            direction="both",
            owner="salesforce",
        ),
        FieldMapping(
            name="seats",
            salesforce="Seats__c",
            intercom="custom_attributes.seats",
            objects=["Contact"],
            direction="both",
            owner="salesforce",
        ),
    ]
    assert personal_fields(fields) == {"email": "email", "full_name": "name"}


def test_mask_findings_masks_values_and_detail_of_personal_fields() -> None:
    df = pd.DataFrame(
        [
            {
                "field": "full_name",
                "values": {"salesforce": "Bartholomew Quigley", "intercom": "Bart Quigley"},
                "detail": "Bartholomew Quigley vs Bart Quigley",
                "suggested_fix": "push",
            },
            {
                "field": "plan_type",
                "values": {"salesforce": "Pro", "intercom": "Free"},
                "detail": "plan differs; owner jane@example.com",
                "suggested_fix": None,
            },
        ]
    )
    out = mask_findings(df, {"full_name": "name"})
    assert out["values"][0] == {"salesforce": "B*** Q***", "intercom": "B*** Q***"}
    assert "Bartholomew" not in out["detail"][0] and "Bart " not in out["detail"][0]
    assert out["values"][1] == {"salesforce": "Pro", "intercom": "Free"}  # not personal: readable
    assert "jane@" not in out["detail"][1]


def test_neutralize_cells_that_spreadsheets_would_run() -> None:
    for bad in ('=HYPERLINK("http://evil","x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"):
        assert neutralize_cell(bad) == "'" + bad
    for fine in ("Jane", "a=b", "", None, 5, -3.5):
        assert neutralize_cell(fine) == fine


def test_write_safe_csv_neutralizes_text_but_keeps_numbers(tmp_path) -> None:
    df = pd.DataFrame(
        {
            "name": ['=HYPERLINK("http://evil","x")', "Zoë 🙂", "@SUM(A1)"],
            "records": [["=1+1", "003"], [], ["x"]],
            "delta": [-5, 3, 0],
        }
    )
    path = write_safe_csv(df, tmp_path / "out.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    assert rows[0]["name"].startswith("'=")
    assert rows[1]["name"] == "Zoë 🙂"
    assert rows[2]["name"] == "'@SUM(A1)"
    assert rows[0]["delta"] == "-5"  # a number stays a number
    assert all(not r["records"].startswith(("=", "+", "-", "@")) for r in rows)
    assert not (tmp_path / "out.csv.tmp").exists()
    frame = neutralize_frame(df)
    assert frame["delta"].tolist() == [-5, 3, 0]


def test_malformed_addresses_are_masked_too() -> None:
    """A failing email-format rule shows exactly the malformed addresses: they are personal data all the same."""
    import pandas as pd

    from syncaudit.report.masking import mask_email, mask_frame, mask_text

    bad = ["meza.dave@icloud", "dustin@@heronfinance.de", "mbarron @ivorywave.in"]
    assert [mask_email(v) for v in bad] == ["m***@icloud", "d***@heronfinance.de", "m***@ivorywave.in"]
    assert mask_frame(pd.DataFrame({"Email": bad}))["Email"].tolist() == [mask_email(v) for v in bad]
    assert "dustin" not in str(mask_text("samples: dustin@@heronfinance.de, meza.dave@icloud"))
    assert "meza.dave" not in str(mask_text("samples: dustin@@heronfinance.de, meza.dave@icloud"))


def test_owner_names_beside_addresses_are_masked_like_other_names() -> None:
    import pandas as pd

    from syncaudit.report.masking import _mask_free_text, mask_text

    detail = "owner: Salesforce '005A' (Jasmine Schmitt <jasmine.schmitt@northwind.example>) vs Intercom '99' (Bo Li <b@x.io>)"
    for masked in (str(mask_text(detail)), _mask_free_text(pd.Series([detail], dtype="string"))[0]):
        assert "Jasmine" not in masked and "Schmitt" not in masked and "Bo Li" not in masked, masked
        assert "(J*** S*** <j***@northwind.example>)" in masked and "'005A'" in masked


def test_durations_in_finding_details_read_as_durations() -> None:
    from syncaudit.report.names import human_duration
    from syncaudit.report.views import human_seconds

    assert human_duration(37883339) == "438 days" and human_duration(300) == "5 minutes"
    assert human_duration(95) == "1.6 minutes" and human_duration(None) == "—"
    text = "changed it 9971109 s before the snapshot, beyond the 300 s sync lag; record 20261206 stays"
    assert (
        human_seconds(text)
        == "changed it 115 days before the snapshot, beyond the 5 minutes sync lag; record 20261206 stays"
    )
