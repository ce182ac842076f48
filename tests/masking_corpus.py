"""A hostile corpus for the masking twins (Python walk and DuckDB set-based path): texts and findings."""

from __future__ import annotations

import json

HOSTILE_TEXTS = [
    "Mail jane.doe@example.com or call +44 20 7946 0958 / (415) 555-0132; id 0035g00000AbCdE 1234567890, 2026-11-26 12:40",
    "Zoë Ågren-Łukasz <zoë.ågren@exämple.de> wrote",
    "(Jane Doe <jane@x.com>), [Bob Stone <bob@corp.io>]: 'Ann Lee <ann.lee@a.b.co.uk>'",
    '"José Núñez <jose.nunez@empresa.es>"',
    "contact:Renée O'Brien <renee@obrien.ie>,Mike <m@x.io>",
    "münchen.müller@bücher.de, 山田太郎@例え.jp and ивaн.петров@почта.рф",
    "glued:jane@example.com;bob@x.org,(carl@y.net).<dina@z.de>!",
    "ann@@x.de dave@icloud bo @x.io x@y",
    "a.b+tag@sub.domain.example.com_",
    "_under@x.com",
    "-dash@x.com",
    ".dot@x.com",
    "+plus@x.com",
    '=HYPERLINK("mailto:evil@x.com")',
    "+1 415 555 0132",
    "-2+3 cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd@x.io",
    "+1 (415) 555-0132",
    "+44 20 7946 0958",
    "(030) 1234 5678",
    "030-1234-5678",
    "415.555.0132 ext 12",
    "tel: 555-123-4567/555-123-4568",
    "555-123-4567/+49 151 2345 6789",
    "+49 151 2345678x",
    "call+15551234567",
    "1+5551234567",
    "2026-11-26 12",
    "2026-11-26",
    "2026.11.26",
    "2026-11-265 12",
    "12/05/2026",
    "20261126",
    "order 1234567890123",
    "ids 001Dn00003OgSUCIA3, 6594fbf51bb69f9f2200284c",
    "+1-----2",
    "+12 34",
    "12 34 56",
    "١٢٣ ٤٥٦ ٧٨٩٠ arabic-indic",
    "phone ０３ １２３４ ５６７８ fullwidth",
    "load-load-200000-11",
    "<script>alert('jane@x.com')</script> &amp; &lt;b&gt;",
    "multi\nline jane@x.com\n+1 415 555 0132\n",
    "tab\tjane@x.com\u00a0nbsp +1\u2009415\u2009555\u20090132",
    "\u2028sep jane@x.com\u2029",
    "   ",
    "",
    "x",
    "Jane Doe <jane@x.com>",
    " (Jane  Doe <jane@x.com>)",
    "(\u00a0Jane Doe <jane@x.com>)",
    "(Ja:ne <j@x.com>)",
    "(" + "N" * 90 + " <long@x.com>)",
    "emoji 😀 jane😀@x.com 😀+1 415 555 0132😀",
    '\\njane@x.com \\"bob@y.io\\"',
    "ünïcödé_wörd@dömäin.org",
    "ǅemo@x.com",
    "x²@y.com ½1234567",
    "café\u0301@x.com",
    "ok (Ünal Öz <ü@ö.de>)",
    'nested {"email": "jane@x.com", "phone": "+1 415 555 0132"}',
    "555 123 4567 555 123 4567",
    "+1 415 555 0132, +1 415 555 0133",
    "0049 (0)151 234 56789",
    "(0151) 234-56789",
    "12-34-56-78-90",
]

PERSONAL = {"email": "email", "full_name": "name", "phone": "phone", "LastName": "name"}


def hostile_findings() -> list[dict]:
    """Findings of every shape the audit writes, filled with hostile values, plus rows that are not findings."""
    out: list[dict] = []
    for i, text in enumerate(HOSTILE_TEXTS):
        nxt = HOSTILE_TEXTS[(i + 7) % len(HOSTILE_TEXTS)]
        base = {
            "id": f"f{i}",
            "kind": "field_drift",
            "system": "both",
            "object": "Contact",
            "records": [f"003{i:05d}", f"66{i:06d}"],
            "severity": "medium",
            "confidence": 1.0,
            "rule": "field_drift",
            "suggested_survivor": None,
            "snapshot": "load-load-200000-11",
        }
        for field in ("email", "full_name", "phone", "website", None, "LastName"):
            out.append(
                base
                | {
                    "id": f"f{i}-{field}",
                    "field": field,
                    "values": {"salesforce": text, "intercom": nxt},
                    "detail": f"Contact disagrees on {field}: Salesforce {text!r} vs Intercom {nxt!r}",
                    "suggested_fix": f"copy {text} to Intercom",
                    "extra": {
                        "newer": "salesforce",
                        "normalized": {"salesforce": text.lower(), "intercom": nxt.strip()},
                        "owner": {"changed_by": text, "email": nxt},
                    },
                }
            )
        evidence = {
            "deterministic": i % 2 == 0,
            "match_probability": 0.97,
            "weakest_link": {"records": ["003a", "003b"], "weight": 1.5},
            "pairs": [
                {
                    "records": ["003a", "003b"],
                    "fields": [
                        {"field": "email", "left": text, "right": nxt, "level": "exact"},
                        {"field": "full_name", "left": nxt, "right": text, "level": "fuzzy"},
                        {"field": "company", "left": text, "right": "Acme <sales@acme.io>", "level": "same"},
                        {"field": "birthdate", "left": "1980-02-03", "right": text, "level": "differs"},
                        {"field": None, "left": text, "right": nxt},
                        {"field": "title", "left": text, "right": {"deep": [text, {"email": nxt}]}},
                    ],
                }
            ],
        }
        merge = {
            "full_name": {"value": text, "from": "003a", "source": nxt, "candidates": [text, nxt]},
            "email": {"value": nxt, "records": ["003a"], "alternatives": [{"value": text, "id": text}]},
            "Phone": [text, {"value": nxt}],
            "company": {"value": text},
            "notes": text,
        }
        dup = base | {
            "kind": "duplicate",
            "field": None,
            "values": {"salesforce": None, "intercom": None},
            "detail": f"2 records are the same person: {text} and {nxt}",
            "suggested_fix": f"merge into {text}",
            "suggested_survivor": "003a",
        }
        out.append(dup | {"id": f"d{i}", "extra": {"merge": merge, "evidence": evidence}})
        out.append(
            dup | {"id": f"ds{i}", "extra": json.dumps({"merge": merge, "evidence": evidence}, ensure_ascii=False)}
        )
        out.append(
            base
            | {
                "id": f"r{i}",
                "kind": "rule_violation",
                "field": "customer_company_plan",
                "values": {"salesforce": None, "intercom": {"nested": text, "id": nxt}},
                "detail": text,
                "suggested_fix": None,
                "extra": {"rule": text, "anchors": [text, nxt], "missing": nxt, "link_confidence": None},
                "custom": {"note": text, "list": [nxt, 3, None, True]},
            }
        )
        out.append(
            base
            | {
                "id": f"n{i}",
                "kind": "identity_gap",
                "field": "email",
                "values": {
                    "salesforce": {"email": text, "id": nxt, "deep": {"from": text, "x": [nxt]}},
                    "intercom": "",
                },
                "detail": "",
                "suggested_fix": 12,
                "extra": {"evidence": {"pairs": [{"fields": [{"field": "phone", "left": text, "right": ""}]}]}},
            }
        )
    out.append({"summary": "not a finding", "owner": HOSTILE_TEXTS[1], "phones": HOSTILE_TEXTS[14:20], "n": 3})
    out.append({"kind": "note", "text": HOSTILE_TEXTS[0]})  # no records: not a finding
    return out
