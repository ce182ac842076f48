"""A standalone HTTPS server for the Salesforce service alone, with a throwaway CA (tests and the bench).

The shared sandbox server (sandbox/server.py) is the real way to serve the sandbox (both APIs, faults,
latency, request log, control API); this one only serves this service on https://127.0.0.1:<free port>
so the emulator can be tested and measured on its own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import DechunkedInput, WSGIRequestHandler, make_server

logging.getLogger("werkzeug").setLevel(logging.WARNING)


class _NoDrain:
    def read(self, size: int = -1) -> bytes:
        return b""


class KeepAliveRequestHandler(WSGIRequestHandler):
    """werkzeug's handler answers every request with ``Connection: close`` because http.server cannot drain
    an unread request body. Our apps read every body (``environ["syncaudit.body_drained"]``), so HTTP/1.1
    keep-alive is safe and saves a TLS handshake per call (it dominates single-record reads).
    """

    # Headers and body go out in separate writes; with Nagle + delayed ACK each kept-alive call would wait ~40 ms.
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        # After each response werkzeug "drains" the socket with rfile.read(10 MB), which on a kept-alive
        # connection would swallow (and block on) the next request: hide rfile from that drain.
        self._real_rfile = self.rfile
        self.rfile = _NoDrain()  # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.rfile = self._real_rfile

    def make_environ(self):  # type: ignore[no-untyped-def]
        environ = super().make_environ()
        real = getattr(self, "_real_rfile", self.rfile)
        chunked = isinstance(environ["wsgi.input"], DechunkedInput)
        environ["wsgi.input"] = DechunkedInput(real) if chunked else real
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self._body_done():
            return
        super().send_header(keyword, value)

    def _body_done(self) -> bool:
        environ = getattr(self, "environ", None) or {}
        if self.request_version != "HTTP/1.1" or self.headers.get("Connection", "").lower() == "close":
            return False
        if environ.get("syncaudit.body_drained"):
            return True
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return not chunked and int(self.headers.get("Content-Length") or 0) == 0


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
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem, cert_pem, key_pem


@contextmanager
def serve_https(service, folder: Path) -> Iterator[dict]:
    """Yield the connection facts (plus ca_cert) of ``service`` served on https://127.0.0.1:<free port>."""
    ca, cert, key = make_certs(folder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = make_server(
        "127.0.0.1", 0, service.wsgi_app(), threaded=True, ssl_context=ctx, request_handler=KeepAliveRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        facts = service.connection_facts(f"https://127.0.0.1:{server.server_port}")
        facts["ca_cert"] = str(ca)
        yield facts
    finally:
        server.shutdown()
        thread.join(5)
