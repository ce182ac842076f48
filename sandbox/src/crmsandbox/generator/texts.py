"""Free text as real orgs hold it: multi-line transcripts, case notes and second address lines.

Every value is a pure function of a row index (no random draws), so adding or changing text
never shifts the generator's random streams: a seed still gives the same world, byte for byte.
The text carries what breaks naive CSV handling: line breaks inside values, quotes, commas,
non-Latin letters and emoji.
"""

from __future__ import annotations

CUSTOMER_LINES = [
    'Hi, I was charged twice this month on the "Pro" plan.',
    'Hello! Can\'t log in since this morning, it says "invalid token".',
    "We need 5 more seats, ideally today.",
    "Export to CSV stops at 10,000 rows, is that a limit?",
    "Bonjour, pouvez-vous m'envoyer la facture de mars ?",
    "Danke, das hat funktioniert 👍",
    "Our admin left; who can reset the SSO settings?",
    "Is there a way to export the data, including attachments, as a zip?",
    "こんにちは、請求書の宛名を変更できますか？",
    "The dashboard shows 0 users, but we have 42.",
]
AGENT_LINES = [
    "Thanks for reaching out! Let me check that for you.",
    "Sorry about that 🙏 I've refunded the duplicate charge; it takes 3–5 days.",
    "Done: the seats are added, see Settings > Billing.",
    "That's a known issue, fixed in today's release. Could you try again?",
    'I\'ve sent the invoice to your billing contact, "accounts@" address.',
    "Happy to help, anything else? 😊",
    "I've escalated this to our engineers, ticket #4821.",
]
# Second lines of a street address (addresses.py): commas, quotes and a line break inside one value.
SECOND_LINES = ["Suite {n}", "Floor {n}, Building B", "c/o Accounts Payable", "Unit {n}\nRear entrance",
                '"The Old Mill", Unit {n}']  # fmt: skip


def transcript(header: str, url: str, title: str, index: int) -> str:
    """A closed conversation logged as a Task: the header, the inbox URL, then 2 to 7 exchanged lines."""
    lines = [header, url, "", f"Transcript: {title}"]
    for k in range(2 + index % 6):
        if k % 2 == 0:
            lines.append("Customer: " + CUSTOMER_LINES[(index + 3 * k) % len(CUSTOMER_LINES)])
        else:
            lines.append("Agent: " + AGENT_LINES[(index + 5 * k) % len(AGENT_LINES)])
    return "\n".join(lines)


def case_note(index: int) -> str:
    """A Case description typed by an agent: a few lines, one with quotes and a comma."""
    return (
        "Customer called about an invoice.\n"
        f'Asked for a corrected copy, "PO {1000 + index % 9000}" missing.\n'
        "Sent it by email."
    )
