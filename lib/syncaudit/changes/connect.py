"""Connection facts for the writers: from a running sandbox's sandbox.json, or from the config + environment.

(The pull's clients own authentication for reads; the writers need only a bearer token, an instance URL and
the CA to trust, so this small resolver keeps them independent of the pull's internals.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syncaudit.config import Config, resolve_secret
from syncaudit.errors import ConfigError
from syncaudit.http import verified_session
from syncaudit.redact import register_secret


@dataclass
class Connection:
    base_url: str
    ca_cert: str | None
    token: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    timeout_s: float = 60.0
    api_version: str = "59.0"

    def session(self) -> Any:
        return verified_session(self.ca_cert)


def sandbox_facts(cfg: Config) -> dict[str, Any]:
    assert cfg.sandbox is not None
    path = cfg.sandbox.state_dir() / "sandbox.json"
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no running sandbox: {path} does not exist",
            hint="start one with `syncaudit sandbox serve` (or set SYNCAUDIT_SANDBOX_DIR to its state dir)",
        ) from None
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON", hint="restart the sandbox") from None
    return facts


def salesforce_connection(cfg: Config) -> Connection:
    if cfg.sandbox is not None:
        facts = sandbox_facts(cfg)
        sf = facts.get("salesforce") or {}
        for k in ("client_secret", "password", "access_token", "session_id"):
            if sf.get(k):
                register_secret(str(sf[k]))
        return Connection(
            base_url=sf["instance_url"].rstrip("/"),
            ca_cert=facts.get("ca_cert"),
            token=sf.get("access_token") or sf.get("session_id"),
            token_url=sf.get("token_url"),
            client_id=sf.get("client_id"),
            client_secret=sf.get("client_secret"),
        )
    sc = cfg.salesforce
    assert sc is not None and sc.instance_url
    auth = sc.auth
    conn = Connection(base_url=sc.instance_url, ca_cert=sc.ca_cert, timeout_s=sc.timeout_s, api_version=sc.api_version)
    if auth.method == "session":
        assert auth.session_id_env
        conn.token = resolve_secret(auth.session_id_env, purpose="Salesforce session id")
    elif auth.method == "client_credentials":
        conn.token_url = auth.token_url or f"{auth.login_url.rstrip('/')}/services/oauth2/token"
        conn.client_id = auth.client_id or resolve_secret(str(auth.client_id_env), purpose="Salesforce client id")
        conn.client_secret = resolve_secret(str(auth.client_secret_env), purpose="Salesforce client secret")
    else:
        raise ConfigError(
            f"writes support salesforce.auth.method 'session' or 'client_credentials', not '{auth.method}'",
            hint="use a connected app with the client-credentials flow for apply",
        )
    return conn


def intercom_connection(cfg: Config) -> Connection:
    if cfg.sandbox is not None:
        facts = sandbox_facts(cfg)
        ic = facts.get("intercom") or {}
        token = ic.get("token") or ic.get("access_token")
        if token:
            register_secret(str(token))
        return Connection(base_url=ic["base_url"].rstrip("/"), ca_cert=facts.get("ca_cert"), token=token)
    ic = cfg.intercom
    assert ic is not None
    token = resolve_secret(ic.token_env, purpose="Intercom access token")
    return Connection(base_url=ic.base_url, ca_cert=ic.ca_cert, token=token, timeout_s=ic.timeout_s)
