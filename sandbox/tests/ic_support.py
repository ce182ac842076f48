"""Test support for the Intercom emulator tests: HTTPS server on port 0, a moving clock, OpenAPI validation.

Every response that the test clients (plain httpx or the official SDK) receive
passes through an httpx response hook that validates it against Intercom's
official OpenAPI 2.16 description (the copy shipped in the package), so no
endpoint's shape is checked by eye.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import pickle
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

import crmsandbox.intercom as ic_pkg
from crmsandbox.intercom import IntercomService

SPEC_PATH = Path(ic_pkg.__file__).parent / "spec" / "intercom-api-2.16.yaml"


class FakeClock:
    """A settable clock (Unix seconds)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- the OpenAPI document, parsed once and cached --------------------------------------------------------
_SPEC: dict | None = None


def spec() -> dict:
    """The parsed OpenAPI document; the 1.3 MB YAML is parsed once and pickled next to the temp dir."""
    global _SPEC
    if _SPEC is None:
        raw = SPEC_PATH.read_bytes()
        cache = Path(tempfile.gettempdir()) / f"syncaudit-intercom-spec-{hashlib.sha256(raw).hexdigest()[:16]}.pickle"
        if cache.exists():
            _SPEC = pickle.loads(cache.read_bytes())
        else:
            _SPEC = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            tmp = cache.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(_SPEC))
            tmp.replace(cache)
    return _SPEC


# python-intercom models page-numbered lists as OffsetPages (next: URL string | null), which is what the
# real API sends there; the 2.16 document types them as cursor pages. These endpoints' ``pages`` are
# validated against this schema instead (everything else in the body against the document).
OFFSET_PAGES = {
    "type": "object",
    "required": ["type", "page", "per_page", "total_pages"],
    "properties": {
        "type": {"type": "string", "enum": ["pages"]},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "total_pages": {"type": "integer"},
        "next": {"type": "string", "nullable": True},
    },
}
# pages_link declares next a URI, but the real API (and the description's own example) sends a relative URL.
OFFSET_PAGED = {("get", "/contacts/{contact_id}/companies")}


class SpecValidator:
    """Validates responses against the operation's documented response schema."""

    def __init__(self) -> None:
        self.doc = spec()
        self._routes = []
        for template, ops in self.doc["paths"].items():
            rx = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            self._routes.append((template.count("{"), rx, template, ops))
        self._routes.sort(key=lambda r: r[0])  # static paths win over templated ones
        self._validators: dict = {}
        self.checked = 0
        self.seen: set[tuple[str, str, int]] = set()  # (method, template, status) validated

    def _validator(self, schema: dict):
        from openapi_schema_validator import OAS30Validator  # slow import (jsonschema formats): only when validating

        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            self._validators[key] = OAS30Validator({**schema, "components": self.doc["components"]})
        return self._validators[key]

    def operation(self, method: str, path: str) -> tuple[str, dict]:
        for _, rx, template, ops in self._routes:
            if rx.match(path) and method in ops:
                return template, ops[method]
        raise AssertionError(f"{method.upper()} {path} is not in the OpenAPI document")

    def validate(self, method: str, path: str, query: dict, status: int, body: object) -> None:
        method = method.lower()
        template, op = self.operation(method, path)
        documented = op["responses"].get(str(status))
        if documented is None:
            assert status >= 400, f"{method.upper()} {template} answered undocumented {status}"
            schema = {"$ref": "#/components/schemas/error"}  # an error the document does not list
        else:
            schema = (documented.get("content") or {}).get("application/json", {}).get("schema")
            if schema is None:  # documented without a body (e.g. DELETE /tags/{id})
                self.seen.add((method, template, status))
                return
        if (
            method == "get"
            and template == "/companies"
            and ("company_id" in query or "name" in query)
            and status == 200
        ):
            schema = {"$ref": "#/components/schemas/company"}  # the real API answers one company here
        if (method, template) in OFFSET_PAGED and status == 200 and isinstance(body, dict) and "pages" in body:
            self._validator(OFFSET_PAGES).validate(body["pages"])
            body = {k: v for k, v in body.items() if k != "pages"}
        self._validator(schema).validate(body)
        if status >= 400:
            self._validator({"$ref": "#/components/schemas/error"}).validate(body)
        self.checked += 1
        self.seen.add((method, template, status))


_VALIDATOR: SpecValidator | None = None


def validator() -> SpecValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = SpecValidator()
    return _VALIDATOR


def _check_response(response: httpx.Response) -> None:
    response.read()
    if response.url.path.startswith("/__sandbox__/"):
        return
    assert response.headers["content-type"].startswith("application/json")
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert h in response.headers, f"{h} missing on {response.request.method} {response.url.path}"
    assert "Retry-After" not in response.headers
    if response.request.headers.get("Intercom-Version") != "2.16":
        return  # the document describes 2.16 shapes; older versions differ on purpose (owner_id, ...)
    validator().validate(
        response.request.method, response.url.path, dict(response.url.params), response.status_code, response.json()
    )


# -- TLS and the server -------------------------------------------------------------------------------------
def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost; returns (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncaudit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
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
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextlib.contextmanager
def serve_https(service: IntercomService, folder: Path) -> Iterator[dict]:
    """Serve the service over HTTPS on 127.0.0.1, port 0, in a thread; yields base_url, token, ca_cert."""
    ca, cert, key = make_tls(folder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, service.wsgi_app(), threaded=True, ssl_context=ctx)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        facts = service.connection_facts(f"https://127.0.0.1:{server.server_port}")
        yield {**facts, "ca_cert": str(ca)}
    finally:
        server.shutdown()
        thread.join(5)


def http_client(
    facts: dict, version: str | None = "2.16", token: str | None = None, validate: bool = True
) -> httpx.Client:
    """An httpx client trusting the sandbox CA, validating every response against the OpenAPI document."""
    headers = {"Authorization": f"Bearer {token or facts['token']}", "Accept": "application/json"}
    if version:
        headers["Intercom-Version"] = version
    return httpx.Client(
        base_url=facts["base_url"],
        headers=headers,
        verify=facts["ca_cert"],
        timeout=30,
        event_hooks={"response": [_check_response]} if validate else {},
    )


# -- a small load folder ------------------------------------------------------------------------------------
def write_load_folder(root: Path, n_contacts: int = 30, start: int = 1_767_225_600) -> Path:
    """A load folder in the generator's format with users, leads, companies, tags, attributes, conversations."""
    folder = root / "intercom"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "admins.json").write_text(
        json.dumps([{"type": "admin", "id": "991267466", "name": "Ops Admin", "email": "ops@acme.example"}])
    )
    (folder / "tags.json").write_text(
        json.dumps([{"type": "tag", "id": "81", "name": "VIP"}, {"id": "82", "name": "Churn risk"}])
    )
    (folder / "data_attributes.json").write_text(
        json.dumps(
            [
                {"name": "plan_type", "model": "contact", "data_type": "string", "custom": True, "id": 11},
                {"name": "seats", "model": "contact", "data_type": "integer", "custom": True, "id": 12},
                {"name": "trial_ends_at", "model": "contact", "data_type": "date", "custom": True, "id": 13},
                {"name": "is_paying", "model": "contact", "data_type": "boolean", "custom": True, "id": 14},
                {"name": "sf_account_id", "model": "company", "data_type": "string", "custom": True, "id": 15},
            ]
        )
    )
    companies = []
    with open(folder / "companies.jsonl", "w") as fh:
        for i in range(5):
            cid = f"{i + 1:024x}"
            companies.append(cid)
            fh.write(
                json.dumps(
                    {
                        "type": "company",
                        "id": cid,
                        "company_id": f"ACME-{i:03d}",
                        "name": f"Acme {i}",
                        "created_at": start - 86400 * 30,
                        "updated_at": start - 86400,
                        "last_request_at": start - 3600 * i,
                        "website": f"https://acme{i}.example",
                        "custom_attributes": {"sf_account_id": f"001{i:015d}"},
                    }
                )
                + "\n"
            )
        # a company nobody is attached to: hidden from lists, as Intercom does
        fh.write(json.dumps({"id": f"{99:024x}", "company_id": "LONELY", "name": "Lonely", "created_at": start}) + "\n")
    with open(folder / "contacts.jsonl", "w") as fh:
        for i in range(n_contacts):
            role = "lead" if i % 5 == 4 else "user"
            fh.write(
                json.dumps(
                    {
                        "type": "contact",
                        "id": f"c{i:023x}",
                        "role": role,
                        "external_id": f"ext-{i}" if role == "user" else None,
                        "email": f"person{i}@acme{i % 5}.example",
                        "name": f"Person {i}",
                        "phone": f"+1555000{i:04d}",
                        "owner_id": "991267466",
                        "created_at": start + 3600 * i,
                        "updated_at": start + 3600 * i + 60,
                        "signed_up_at": start + 3600 * i if role == "user" else None,
                        "custom_attributes": {"plan_type": ["Free", "Pro", "Enterprise"][i % 3], "seats": i},
                        "tags": {"type": "list", "data": [{"type": "tag", "id": "81"}] if i % 3 == 0 else []},
                        "companies": {"type": "list", "data": [{"type": "company", "id": companies[i % 5]}]},
                    }
                )
                + "\n"
            )
    segments = [
        {
            "id": "5f1a0000000000000000a001",
            "name": "Active users",
            "person_type": "user",
            "created_at": start - 86400,
            "contact_ids": [f"c{i:023x}" for i in (0, 1, 2)],
            "company_ids": [companies[0]],
        },
        {"id": "5f1a0000000000000000a002", "name": "Fresh leads", "person_type": "contact", "created_at": start},
    ]
    (folder / "segments.json").write_text(json.dumps(segments))
    with open(folder / "conversations.jsonl", "w") as fh:
        for i in range(6):
            fh.write(
                json.dumps(
                    {
                        "type": "conversation",
                        "id": str(100 + i),
                        "title": None,
                        "created_at": start + 86400 * i,
                        "updated_at": start + 86400 * i + 600,
                        "state": "closed" if i % 2 else "open",
                        "open": not i % 2,
                        "read": True,
                        "admin_assignee_id": 991267466 if i % 2 else None,
                        "source": {
                            "type": "conversation",
                            "id": str(500 + i),
                            "delivered_as": "customer_initiated",
                            "subject": "",
                            "body": f"<p>I need support {i}</p>",
                            "author": {"type": "user", "id": f"c{i:023x}", "name": f"Person {i}", "email": ""},
                            "attachments": [],
                            "url": None,
                            "redacted": False,
                        },
                        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": f"c{i:023x}"}]},
                        "conversation_parts": {
                            "type": "conversation_part.list",
                            "conversation_parts": [
                                {
                                    "type": "conversation_part",
                                    "id": str(1000 + i),
                                    "part_type": "comment",
                                    "body": "<p>Okay!</p>",
                                    "created_at": start + 86400 * i + 300,
                                    "updated_at": start + 86400 * i + 300,
                                    "notified_at": start + 86400 * i + 300,
                                    "assigned_to": None,
                                    "author": {
                                        "type": "admin",
                                        "id": "991267466",
                                        "name": "Ops",
                                        "email": "ops@acme.example",
                                    },
                                    "attachments": [],
                                    "external_id": None,
                                    "redacted": False,
                                }
                            ],
                            "total_count": 1,
                        },
                    }
                )
                + "\n"
            )
    return root
