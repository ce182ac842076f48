"""Build the one connector per system from a Config: a real org and workspace, or the running sandbox.

Pull, preflight, apply, verify and rollback all build their connectors here (and writers get theirs from
:func:`build_writers`), so every command logs in, retries, paces and guards the same way.

With ``sandbox:`` in the config, every connection fact comes from ``<state dir>/sandbox.json`` (written by
``syncaudit sandbox serve``); otherwise from the ``salesforce`` and ``intercom`` sections, with secrets read
from the environment variables they name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncaudit.config import Config, IntercomConfig, SalesforceConfig, resolve_secret
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.connector import IntercomConnector
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.connector import SalesforceConnector
from syncaudit.errors import ConfigError
from syncaudit.redact import register_secret
from syncaudit.writes import Writer

SANDBOX_INTERCOM_VERSION = "2.16"  # the version the sandbox's OpenAPI description is


@dataclass
class Connectors:
    salesforce: SalesforceConnector
    intercom: IntercomConnector
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
    """Credentials for the configured flow, secrets read from the environment."""
    a = sc.auth
    if a.token_url:
        token_url = a.token_url
    elif a.method == "client_credentials":
        # The client-credentials flow runs against the org's My Domain; login.salesforce.com refuses it.
        token_url = f"{(sc.instance_url or a.login_url).rstrip('/')}/services/oauth2/token"
    else:
        token_url = f"{a.login_url.rstrip('/')}/services/oauth2/token"
    secret = lambda env, what: resolve_secret(env, purpose=what) if env else None  # noqa: E731
    env_names = tuple(
        (what, env)
        for what, env in (
            ("client_id", a.client_id_env),
            ("client_secret", a.client_secret_env),
            ("password", a.password_env),
            ("security_token", a.security_token_env),
            ("refresh_token", a.refresh_token_env),
            ("private_key", a.private_key_env),
        )
        if env
    )
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
        audience=a.jwt_audience(),
        soap_url=f"{a.login_url.rstrip('/')}/services/Soap/u/{sc.api_version}",
        env_names=env_names,
    )


def connect(cfg: Config, *, pool: int = 16, purpose: str = "pull") -> Connectors:
    """Both connectors, ready to call (the Salesforce login happens on first use).

    ``purpose`` picks the allocation guard's share: ``pull`` (pull.quota_max_share) or ``apply``."""
    facts = None
    if cfg.sandbox is not None:
        facts = sandbox_facts(cfg)
        sff, icf = facts["salesforce"], facts["intercom"]
        sc = cfg.salesforce or SalesforceConfig()
        ic = cfg.intercom or IntercomConfig(api_version=SANDBOX_INTERCOM_VERSION)
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
        ic_base, ic_token = ic.api_base_url(), resolve_secret(ic.token_env, purpose="Intercom access token")
    share = cfg.apply.quota_max_share if purpose == "apply" else cfg.pull.quota_max_share
    auth = SalesforceAuthenticator(creds, sf_http, sc.timeout_s)
    sf = SalesforceConnector(auth, sf_http, api_version=sc.api_version, quota_max_share=share)
    icc = IntercomConnector(ic_base, ic_token, ic_http, version=ic.api_version)
    return Connectors(salesforce=sf, intercom=icc, facts=facts)


def build_writers(
    cfg: Config, systems: Iterable[str], connectors: Connectors | None = None, *, preflight: bool = False
) -> dict[str, Writer]:
    """The writers for ``systems``, on the connectors given (or new ones built for apply); with ``preflight``,
    :func:`syncaudit.connectors.preflight.run_preflight` runs first (`syncaudit apply` and the apply notebook).

    Writing to Salesforce first reads the org's facts and refuses a production org the config does not name
    (:func:`syncaudit.connectors.production.check_production`)."""
    from syncaudit.connectors.intercom.writer import IntercomWriter
    from syncaudit.connectors.production import check_production
    from syncaudit.connectors.salesforce.duplicates import duplicate_rule_header
    from syncaudit.connectors.salesforce.writer import SalesforceWriter

    systems = set(systems)
    conns = connectors or connect(cfg, purpose="apply")
    if preflight:
        from syncaudit.connectors.preflight import run_preflight

        run_preflight(cfg, conns)
    out: dict[str, Writer] = {}
    if "salesforce" in systems:
        check_production(cfg, conns.salesforce.org(), writing=True)
        out["salesforce"] = SalesforceWriter(
            conns.salesforce,
            bulk_threshold=cfg.apply.bulk_threshold,
            duplicate_header=duplicate_rule_header(cfg.apply.duplicate_rule_header),
        )
    if "intercom" in systems:
        check_production(cfg, None, writing=True, system="intercom")
        out["intercom"] = IntercomWriter(conns.intercom)
    return out


def writer_factory(cfg: Config, connectors: Connectors | None = None, *, preflight: bool = False):  # noqa: ANN201
    """A callable ``systems -> writers`` to hand to syncaudit.changes (which never imports a connector); it
    connects (and runs preflight) only when the engine really needs writers (never for a dry run)."""
    return lambda systems: build_writers(cfg, systems, connectors, preflight=preflight)
