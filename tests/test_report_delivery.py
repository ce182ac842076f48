"""`syncaudit send`: a real local SMTP server (aiosmtpd, STARTTLS with a local CA, login) and a local HTTP
receiver for the webhook, both started here on free loopback ports."""

from __future__ import annotations

import email
import io
import json
import socket
import threading
import zipfile
from email import policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crmsandbox.tls import ensure_tls
from syncaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd's handler hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"reports" and auth_data.password == b"s3cret-pw"
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory):
    tls = ensure_tls(tmp_path_factory.mktemp("tls"))
    inbox = Inbox()
    port = _free_port()
    ctl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls.server_context(),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    ctl.start()
    yield {"port": port, "inbox": inbox, "ca": str(tls.ca_cert)}
    ctl.stop()


@pytest.fixture
def receiver():
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "json": json.loads(body), "type": self.headers["Content-Type"]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}/hooks/T1", "got": got}
    srv.shutdown()


def _report(tmp: Path, *, gate_failed: bool, run_failed: bool = False) -> Path:
    folder = tmp / "reports" / "2026-11"
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("<html><body>index</body></html>")
    metrics = {
        "period": "2026-11",
        "config": "demo",
        "findings": {"total": 313},
        "health": {"score": 94},
        "run": {"failed": run_failed, "sentence": "The run FAILED at step 10_schema_mapping." if run_failed else ""},
        "gates": {
            "state": "failed" if gate_failed else "passed",
            "failures": ["9 duplicate findings exceed the gate of 1"] if gate_failed else [],
        },  # fmt: skip
        "actions": [
            {"action": "Review <b>9</b> duplicates", "who": "Salesforce admins", "severity": "high", "records": 9}
        ],
        "changes": {"new": 2, "resolved": 1, "still_open": 7},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def _config(tmp: Path, smtp_port: int | None, ca: str | None, *, webhook: bool = True, starttls: bool = True) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["report"]["out_dir"] = str(tmp / "reports")
    raw["data_dir"] = str(tmp / "data")
    delivery: dict = {}
    if smtp_port:
        delivery["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "starttls": starttls, "ca_cert": ca,
                            "user_env": "SA_SMTP_USER", "password_env": "SA_SMTP_PASSWORD",
                            "from_addr": "syncaudit@example.com", "to": ["revops@example.com"], "timeout_s": 5}  # fmt: skip
    if webhook:
        delivery["webhook_url_env"] = "SA_WEBHOOK_URL"
    raw["delivery"] = delivery
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def env(monkeypatch, receiver):
    monkeypatch.setenv("SA_SMTP_USER", "reports")
    monkeypatch.setenv("SA_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("SA_WEBHOOK_URL", receiver["url"])
    return receiver


def test_failed_gate_mails_the_summary_with_the_report_zip_and_posts_an_alert(
    tmp_path, smtp_server, env, capsys
) -> None:
    _report(tmp_path, gate_failed=True)
    before = len(smtp_server["inbox"].messages)
    code = main(
        ["send", "--config", str(_config(tmp_path, smtp_server["port"], smtp_server["ca"])), "--period", "2026-11"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "mailed: yes; alert posted: yes" in out.out
    mail_from, rcpt, raw = smtp_server["inbox"].messages[before]
    assert mail_from == "syncaudit@example.com" and rcpt == ["revops@example.com"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert "FAILED" in msg["Subject"]
    body = msg.get_body(("html",)).get_content()
    assert "Health 94/100" in body and "exceed the gate" in body
    assert "Review &lt;b&gt;9&lt;/b&gt; duplicates" in body  # escaped
    zips = [p for p in msg.iter_attachments() if p.get_filename().endswith(".zip")]
    names = zipfile.ZipFile(io.BytesIO(zips[0].get_content())).namelist()
    assert "2026-11/index.html" in names and "2026-11/metrics.json" in names
    assert "s3cret-pw" not in raw.decode("utf-8", "replace")
    [alert] = env["got"]
    assert alert["path"] == "/hooks/T1" and alert["type"] == "application/json"
    assert "exceed the gate" in alert["json"]["text"] and "2026-11" in alert["json"]["text"]


def test_healthy_run_is_mailed_without_an_alert(tmp_path, smtp_server, env, capsys) -> None:
    _report(tmp_path, gate_failed=False)
    code = main(["send", "--config", str(_config(tmp_path, smtp_server["port"], smtp_server["ca"]))
                 , "--period", "2026-11"])  # fmt: skip
    assert code == 0
    assert "mailed: yes; alert posted: no" in capsys.readouterr().out
    assert env["got"] == []


def test_failed_run_alerts_even_when_no_gate_failed(tmp_path, env, capsys) -> None:
    _report(tmp_path, gate_failed=False, run_failed=True)
    code = main(["send", "--config", str(_config(tmp_path, None, None)), "--period", "2026-11"])
    assert code == 0, capsys.readouterr().err
    assert "FAILED at step 10_schema_mapping" in env["got"][0]["json"]["text"]


def test_tls_is_verified_and_a_wrong_password_is_refused(tmp_path, smtp_server, env, monkeypatch, capsys) -> None:
    _report(tmp_path, gate_failed=False)
    # Without the local CA the server's certificate is not trusted: exit 3, nothing sent.
    assert main(["send", "--config", str(_config(tmp_path, smtp_server["port"], None, webhook=False))
                 , "--period", "2026-11"]) == 3  # fmt: skip
    assert "TLS" in capsys.readouterr().err
    monkeypatch.setenv("SA_SMTP_PASSWORD", "wrong")
    cfg = _config(tmp_path, smtp_server["port"], smtp_server["ca"], webhook=False)
    assert main(["send", "--config", str(cfg), "--period", "2026-11"]) == 3
    err = capsys.readouterr().err
    assert "refused" in err and "wrong" not in err


def test_bad_inputs_exit_2(tmp_path, env, capsys, monkeypatch) -> None:
    cfg = _config(tmp_path, None, None)
    assert main(["send", "--config", str(cfg), "--period", "2026-11"]) == 2  # no report for the period
    assert "no report for 2026-11" in capsys.readouterr().err
    _report(tmp_path, gate_failed=True)
    monkeypatch.delenv("SA_WEBHOOK_URL")
    assert main(["send", "--config", str(cfg), "--period", "2026-11"]) == 2
    assert "SA_WEBHOOK_URL" in capsys.readouterr().err
    remote = _config(tmp_path, 2525, None, webhook=False, starttls=False)
    raw = yaml.safe_load(remote.read_text())
    raw["delivery"]["smtp"]["host"] = "mail.example.com"
    remote.write_text(yaml.safe_dump(raw))
    assert main(["send", "--config", str(remote), "--period", "2026-11"]) == 2  # no STARTTLS to a remote host
    assert "starttls is off" in capsys.readouterr().err
