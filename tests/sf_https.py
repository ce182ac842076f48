"""Test helper: serve a SalesforceService over real HTTPS on port 0 with a throwaway CA.

Stands in for the shared sandbox server (sandbox/server.py) until it lands; tests only need the
connection facts and the CA path.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server


def make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server cert, server key) for 127.0.0.1 / localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sf test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem, cert_pem, key_pem


@contextmanager
def serve_https(service, folder: Path):
    """Yield the connection facts (plus ca_cert) of ``service`` served on https://127.0.0.1:<free port>."""
    ca, cert, key = make_certs(folder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, service.wsgi_app(), threaded=True, ssl_context=ctx)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        facts = service.connection_facts(f"https://127.0.0.1:{server.server_port}")
        facts["ca_cert"] = str(ca)
        yield facts
    finally:
        server.shutdown()
        thread.join(5)


DEMO_SCHEMA = {
    "Contact": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {"name": "Plan_Type__c", "type": "picklist", "restrictedPicklist": True,
         "picklistValues": ["Free", "Starter", "Pro", "Enterprise"]},
        {"name": "Trial_Status__c", "type": "picklist",
         "picklistValues": ["Not Started", "Active", "Expired", "Converted"]},
        {"name": "Partner_Code__c", "type": "string", "length": 20},
        {"name": "Seats__c", "type": "double", "precision": 18, "scale": 0},
    ],
    "Lead": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {"name": "Plan_Type__c", "type": "picklist", "restrictedPicklist": True,
         "picklistValues": ["Free", "Starter", "Pro", "Enterprise"]},
    ],
}

# Ids written by "the generator": valid 18-character ids with the right prefixes.
ACME = "001000000000001AAA"
GLOBEX = "001000000000002AAA"
ANN = "003000000000001AAA"
BOB = "003000000000002AAA"
CARL = "003000000000003AAA"
LEAD_OPEN = "00Q000000000001EAA"
LEAD_CONV = "00Q000000000002EAA"
TASK1 = "00T000000000001EAA"


def write_load_dir(root: Path) -> Path:
    """A small load folder in the ARCHITECTURE.md format (what `sandbox generate` writes)."""
    import json

    sf = root / "salesforce"
    sf.mkdir(parents=True, exist_ok=True)
    (sf / "schema.json").write_text(json.dumps(DEMO_SCHEMA))
    (sf / "Account.csv").write_text(
        "Id,Name,AccountNumber,Industry,NumberOfEmployees,CreatedDate,LastModifiedDate\n"
        f"{ACME},Acme Corp,ACME-001,Technology,250,2024-01-02T10:00:00Z,2024-03-01T09:30:00Z\n"
        f"{GLOBEX},Globex,,Retail,,2024-01-05T10:00:00Z,2024-01-05T10:00:00Z\n"
    )
    (sf / "Contact.csv").write_text(
        "Id,FirstName,LastName,Email,AccountId,Product_User_Id__c,Plan_Type__c,Seats__c,HasOptedOutOfEmail,"
        "CreatedDate,LastModifiedDate,SystemModstamp\n"
        f"{ANN},Ann,Lee,ann@acme.example,{ACME},u-1,Pro,5,false,2024-01-02T17:38:59.000Z,2024-02-01T00:00:00Z,"
        "2024-02-01T00:00:00Z\n"
        f"{BOB},Bob,O'Neil,bob@acme.example,{ACME},u-2,Free,,true,2024-01-03T08:00:00+02:00,,\n"
        f"{CARL},,Zed,,,u-3,,1.5,,2024-01-04T00:00:00Z,,\n"
    )
    (sf / "Lead.csv").write_text(
        "Id,FirstName,LastName,Company,Email,Status,Product_User_Id__c,IsConverted,ConvertedContactId,"
        "ConvertedAccountId,ConvertedDate\n"
        f"{LEAD_OPEN},Dee,Dot,Dot Inc,dee@dot.example,Open - Not Contacted,u-9,false,,,\n"
        f"{LEAD_CONV},Ann,Lee,Acme Corp,ann@acme.example,Closed - Converted,,true,{ANN},{ACME},2024-01-02\n"
    )
    (sf / "Task.csv").write_text(
        "Id,Subject,WhoId,WhatId,Status,Priority,Description\n"
        f"{TASK1},Intercom conversation,{ANN},{ACME},Completed,Normal,"
        "https://app.intercom.com/a/inbox/x/inbox/conversation/42\n"
    )
    return root
