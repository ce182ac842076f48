"""Build API clients from a Config: a real org and workspace, or the running sandbox.

With ``sandbox:`` in the config, every connection fact comes from
``<state dir>/sandbox.json`` (written by ``syncaudit sandbox serve``); otherwise
from the ``salesforce`` and ``intercom`` sections, with secrets read from the
environment variables they name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncaudit.config import Config, IntercomConfig, SalesforceConfig, resolve_secret
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.client import SalesforceClient
from syncaudit.errors import ConfigError
from syncaudit.redact import register_secret


@dataclass
class Clients:
    salesforce: SalesforceClient
    intercom: IntercomClient
    facts: dict[str, Any] | None = None


def sandbox_facts(cfg: Config) -> dict[str, Any]:
    assert cfg.sandbox is not None
    state = cfg.sandbox.state_dir()
    path = state / "sandbox.json"
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no running sandbox: {path} does not exist",
            hint=f"start one with `syncaudit sandbox serve --state-dir {state}` "
            f"(or set {cfg.sandbox.state_dir_env} to its state dir)",
        ) from None
    except json.JSONDecodeError:
        raise ConfigError(f"{path} is not valid JSON", hint="restart `syncaudit sandbox serve`") from None
    for k in ("salesforce", "intercom", "ca_cert"):
        if k not in facts:
            raise ConfigError(f"{path} lacks '{k}'", hint="restart `syncaudit sandbox serve`")
    for v in (
        facts["salesforce"].get("client_secret"),
        facts["salesforce"].get("password"),
        facts["intercom"].get("token"),
    ):
        if isinstance(v, str):
            register_secret(v)
    return facts


def _env_or(value: str | None, env: str | None, purpose: str) -> str | None:
    if env:
        return resolve_secret(env, purpose=purpose)
    return value


def salesforce_credentials(sc: SalesforceConfig) -> SalesforceCredentials:
    a = sc.auth
    token_url = a.token_url or f"{a.login_url.rstrip('/')}/services/oauth2/token"
    secret = lambda env, what: resolve_secret(env, purpose=what) if env else None  # noqa: E731
    return SalesforceCredentials(
        method=a.method,
        token_url=token_url,
        client_id=_env_or(a.client_id, a.client_id_env, "Salesforce consumer key"),
        client_secret=secret(a.client_secret_env, "Salesforce consumer secret"),
        username=_env_or(a.username, a.username_env, "Salesforce username"),
        password=secret(a.password_env, "Salesforce password"),
        security_token=secret(a.security_token_env, "Salesforce security token"),
        refresh_token=secret(a.refresh_token_env, "Salesforce refresh token"),
        private_key=secret(a.private_key_env, "Salesforce JWT private key"),
        session_id=secret(a.session_id_env, "Salesforce session id"),
        instance_url=sc.instance_url,
        audience=a.login_url.rstrip("/"),
    )


def build_clients(cfg: Config, *, pool: int = 16) -> Clients:
    """Both clients, ready to call (the Salesforce login happens on first use)."""
    facts = None
    if cfg.sandbox is not None:
        facts = sandbox_facts(cfg)
        sff, icf = facts["salesforce"], facts["intercom"]
        sc = cfg.salesforce or SalesforceConfig()
        ic = cfg.intercom or IntercomConfig(api_version="2.16")
        creds = SalesforceCredentials(
            method="client_credentials",
            token_url=sff.get("token_url") or f"{sff['instance_url']}/services/oauth2/token",
            client_id=sff.get("client_id"),
            client_secret=sff.get("client_secret"),
            username=sff.get("username"),
            password=sff.get("password"),
            instance_url=sff["instance_url"],
        )
        ca = str(facts["ca_cert"])
        sf_http = build_http_session(ca, sc.timeout_s, pool)
        ic_http = build_http_session(ca, ic.timeout_s, pool)
        ic_base, ic_token = icf["base_url"], icf["token"]
    else:
        sc, ic = cfg.salesforce, cfg.intercom
        assert sc is not None and ic is not None  # Config guarantees both outside the sandbox
        for ca_path in (sc.ca_cert, ic.ca_cert):
            if ca_path and not Path(ca_path).is_file():
                raise ConfigError(f"CA bundle {ca_path} does not exist", hint="fix ca_cert in the config")
        creds = salesforce_credentials(sc)
        sf_http = build_http_session(sc.ca_cert, sc.timeout_s, pool)
        ic_http = build_http_session(ic.ca_cert, ic.timeout_s, pool)
        ic_base, ic_token = ic.base_url, resolve_secret(ic.token_env, purpose="Intercom access token")
    auth = SalesforceAuthenticator(creds, sf_http, sc.timeout_s)
    sf = SalesforceClient(auth, sf_http, api_version=sc.api_version, quota_max_share=cfg.pull.quota_max_share)
    icc = IntercomClient(ic_base, ic_token, ic_http, version=ic.api_version)
    return Clients(salesforce=sf, intercom=icc, facts=facts)
