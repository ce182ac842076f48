"""`syncaudit send --config F [--period P]`: mail the summary and post an alert when something failed.

The mail is the run's summary as HTML (no script, readable in any mail client) with the report folder
attached as a zip, sent through the SMTP server of ``delivery.smtp`` (STARTTLS with certificate
verification; user and password from the environment variables the config names). When a gate failed or
the run failed, a Slack-compatible message (``{"text": ...}``) is POSTed to the webhook URL held by the
environment variable ``delivery.webhook_url_env``. Every figure comes from the report's metrics.json.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import json
import smtplib
import ssl
import tempfile
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syncaudit.config import Config, SmtpOptions, resolve_secret
from syncaudit.errors import ConfigError, FatalAPIError
from syncaudit.report.metrics import check_period


def report_folder(cfg: Config, period: str | None) -> tuple[Path, dict[str, Any]]:
    """The report folder of ``period`` and its metrics.json; ConfigError (exit 2) when there is none."""
    p = check_period(period)
    folder = Path(cfg.report.out_dir) / p
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no report for {p}: {folder / 'metrics.json'} does not exist",
            hint=f"run `syncaudit audit --config {cfg.source_path or 'FILE'} --period {p}` first",
        ) from None
    except ValueError:
        raise ConfigError(f"{folder / 'metrics.json'} is not valid JSON", hint="re-run the audit") from None
    return folder, metrics


def needs_alert(metrics: dict[str, Any]) -> bool:
    """True when a gate failed or the run failed."""
    return (metrics.get("gates") or {}).get("state") == "failed" or bool((metrics.get("run") or {}).get("failed"))


def headline(metrics: dict[str, Any]) -> str:
    """One line: run state, health, open findings, gates."""
    gates = metrics.get("gates") or {}
    score = (metrics.get("health") or {}).get("score")
    total = (metrics.get("findings") or {}).get("total")
    parts = [
        (metrics.get("run") or {}).get("sentence") or "The run completed.",
        f"Health {score}/100." if score is not None else "Health not measured.",
        f"{total:,} open findings." if isinstance(total, int) else "Findings not measured.",
    ]
    if gates.get("state") == "failed":
        parts.append(f"{len(gates.get('failures') or [])} gate(s) failed: " + "; ".join(gates.get("failures") or []))
    elif gates.get("state") == "none":
        parts.append("No gates configured.")
    return " ".join(parts)


def summary_html(metrics: dict[str, Any]) -> str:
    """The mail body: status, health, top actions, change since the previous run, gates. Escaped, no scripts."""
    e = html.escape
    colour = "#cf222e" if needs_alert(metrics) else "#1a7f37"
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(a['action'])}</td><td>{e(a['who'])}</td><td>{e(a['severity'])}</td>"
        f"<td style='text-align:right'>{a['records']:,}</td></tr>"
        for i, a in enumerate(metrics.get("actions") or [], 1)
    )
    ch = metrics.get("changes")
    change = (
        f"<p>Since the previous run: {ch['new']:,} new, {ch['resolved']:,} resolved, {ch['still_open']:,} still open.</p>"
        if ch
        else "<p>No earlier run to compare with.</p>"
    )
    return (
        "<!DOCTYPE html><html><body style='font-family:system-ui,sans-serif;color:#1f2328'>"
        f"<h2>syncaudit report {e(str(metrics.get('period')))} — {e(str(metrics.get('config')))}</h2>"
        f"<p style='color:{colour};font-weight:600'>{e(headline(metrics))}</p>{change}"
        + (
            "<h3>Top actions</h3><table cellpadding='4' style='border-collapse:collapse'>"
            "<tr><th>#</th><th>what to do</th><th>who fixes it</th><th>severity</th><th>records</th></tr>"
            f"{rows}</table>"
            if rows
            else ""
        )
        + "<p>The full report is attached (open index.html in the zip).</p></body></html>"
    )


def zip_folder(folder: Path, target: Path) -> Path:
    """The report folder as a zip (paths relative to its parent, so it unpacks into one folder)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.endswith(".tmp"):
                zf.write(p, p.relative_to(folder.parent).as_posix())
    return target


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_mail(smtp: SmtpOptions, subject: str, body_html: str, attachment: Path | None, text: str) -> None:
    """Send one mail; FatalAPIError (exit 3) when the server refuses, ConfigError for a bad setting."""
    if not smtp.starttls and not _loopback(smtp.host):
        raise ConfigError(
            f"delivery.smtp.starttls is off for {smtp.host}",
            hint="turn starttls on (credentials and reports never travel unencrypted); only loopback may go without",
        )
    user = resolve_secret(smtp.user_env, purpose="SMTP user") if smtp.user_env else None
    password = resolve_secret(smtp.password_env, purpose="SMTP password") if smtp.password_env else None
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, smtp.from_addr, ", ".join(smtp.to)
    msg.set_content(text)
    msg.add_alternative(body_html, subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment.read_bytes(), maintype="application", subtype="zip", filename=attachment.name)
    context = ssl.create_default_context(cafile=smtp.ca_cert) if smtp.ca_cert else ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        if smtp.starttls:
            client.starttls(context=context)
        if user and password:
            client.login(user, password)
        client.send_message(msg)
        client.quit()
        client = None
    except ssl.SSLError as exc:
        raise FatalAPIError(
            f"TLS with {smtp.host}:{smtp.port} failed: {exc.reason or exc}",
            system="smtp",
            hint="check delivery.smtp.ca_cert (verification stays on)",
        ) from None
    except smtplib.SMTPException as exc:
        raise FatalAPIError(
            f"the SMTP server {smtp.host}:{smtp.port} refused the mail: {type(exc).__name__}",
            system="smtp",
            hint="check the host, port, STARTTLS and the user/password variables",
        ) from None
    except OSError as exc:
        raise FatalAPIError(
            f"cannot reach the SMTP server {smtp.host}:{smtp.port}: {exc.strerror or exc}",
            system="smtp",
            hint="check delivery.smtp.host and port",
        ) from None
    finally:
        if client is not None:  # a failed handshake or refusal: drop the connection, no QUIT to wait on
            client.close()


def post_alert(url_env: str, text: str, *, timeout_s: float = 30) -> None:
    """POST ``{"text": ...}`` to the webhook URL the environment variable holds (https; http only on loopback)."""
    import requests

    url = resolve_secret(url_env, purpose="alert webhook URL")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
        raise ConfigError(f"the webhook URL in {url_env} is not https", hint="use the https URL your chat tool gave")
    try:
        r = requests.post(url, json={"text": text}, timeout=timeout_s)
    except requests.RequestException as exc:
        raise FatalAPIError(f"the alert webhook could not be reached: {type(exc).__name__}", system="webhook") from None
    if r.status_code >= 300:
        raise FatalAPIError(f"the alert webhook answered {r.status_code}", status=r.status_code, system="webhook")


def send_report(cfg: Config, period: str | None = None) -> dict[str, Any]:
    """Mail the summary (when delivery.smtp is set) and post the alert (when needed and a webhook is set)."""
    folder, metrics = report_folder(cfg, period)
    d = cfg.delivery
    if d.smtp is None and d.webhook_url_env is None:
        raise ConfigError(
            "nothing to send: the config has no delivery section",
            key="delivery",
            hint="add delivery.smtp (host, port, from_addr, to, user_env, password_env) and/or delivery.webhook_url_env",
        )
    done: dict[str, Any] = {"folder": str(folder), "mailed": False, "alerted": False}
    line = headline(metrics)
    if d.smtp is not None:
        state = "FAILED" if needs_alert(metrics) else "ok"
        subject = f"syncaudit {metrics.get('period')} {metrics.get('config')}: {state}"
        with tempfile.TemporaryDirectory(prefix="syncaudit-send-") as tmp:
            attachment = zip_folder(folder, Path(tmp) / f"syncaudit-{folder.name}.zip") if d.attach_report else None
            send_mail(d.smtp, subject, summary_html(metrics), attachment, line)
        done["mailed"] = True
    if d.webhook_url_env and needs_alert(metrics):
        post_alert(d.webhook_url_env, f"syncaudit {metrics.get('period')} ({metrics.get('config')}): {line}")
        done["alerted"] = True
    return done


def cli_send(args: argparse.Namespace) -> int:
    """`syncaudit send`: prints what was sent (mail, alert)."""
    done = send_report(args.cfg, getattr(args, "period", None))
    print(f"mailed: {'yes' if done['mailed'] else 'no'}; alert posted: {'yes' if done['alerted'] else 'no'}")
    return 0
