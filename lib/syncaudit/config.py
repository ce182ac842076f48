"""Configuration: one YAML file per org pair, validated once at start-up.

Resolution order (as dlt does it): environment variables, then a git-ignored
``.env`` beside the config or in the working directory, then the file, then
defaults. Secrets never live in the file: the file names the environment
variable that holds each secret (``token_env: INTERCOM_TOKEN``), and
:func:`resolve_secret` reads it when a client is built. A value that looks like
a pasted secret is refused at load, with the fix in the message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from syncaudit.errors import ConfigError, SecretError
from syncaudit.redact import register_secret
from syncaudit.rulespec import Rule, validate_rules

# Keys whose value would be a secret. They are refused inline; ``<key>_env`` is the way.
SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "password",
        "client_secret",
        "security_token",
        "private_key",
        "session_id",
        "refresh_token",
        "api_key",
        "secret",
    }
)

# Shapes of real credentials, so a secret pasted under an innocent key is caught too.
_SECRET_VALUE_PATTERNS = (
    re.compile(r"^00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}$"),  # Salesforce session id
    re.compile(r"^dG9rO[A-Za-z0-9+/=]{20,}$"),  # Intercom access token (base64 "tok:")
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^(sk|rk)_(live|test)_[A-Za-z0-9]{16,}$"),
)

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_secret(value: str) -> bool:
    return any(p.search(value) for p in _SECRET_VALUE_PATTERNS)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EnvName = Annotated[str, Field(pattern=ENV_NAME.pattern, description="name of an environment variable")]


# ---------------------------------------------------------------- connections


class SalesforceAuth(_Model):
    """How to obtain a Salesforce session. Secrets are named by environment variable."""

    method: Literal["client_credentials", "password", "soap", "refresh_token", "jwt", "session"] = "client_credentials"
    token_url: str | None = Field(
        None,
        description="OAuth token endpoint; defaults to <instance_url>/services/oauth2/token for client_credentials "
        "(the flow needs the My Domain) and <login_url>/services/oauth2/token otherwise",
    )
    login_url: str = Field(
        "https://login.salesforce.com", description="login host: login/test.salesforce.com or the My Domain URL"
    )
    audience: str | None = Field(
        None,
        description="JWT aud: https://login.salesforce.com (production), https://test.salesforce.com (sandbox) or "
        "an Experience Cloud site URL; default: test.salesforce.com when login_url is test.salesforce.com or a "
        "*.sandbox.my.salesforce.com My Domain, else login.salesforce.com",
    )
    client_id: str | None = None  # a consumer key is not a secret
    client_id_env: EnvName | None = None
    client_secret_env: EnvName | None = None
    username: str | None = None
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    security_token_env: EnvName | None = None
    refresh_token_env: EnvName | None = None
    private_key_env: EnvName | None = Field(None, description="env var holding the PEM key (or a path to it) for JWT")
    session_id_env: EnvName | None = None

    @field_validator("login_url", "token_url", "audience")
    @classmethod
    def _https_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise ValueError("must start with https:// (TLS is always on)")
        return v.rstrip("/") if v else v

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: str | None) -> str | None:
        if v is not None and (".my.salesforce.com" in v or "/services/" in v):
            raise ValueError(
                "the JWT audience is the authorization server, not the My Domain or token URL: use "
                "https://login.salesforce.com (production), https://test.salesforce.com (sandbox) or the "
                "Experience Cloud site URL"
            )
        return v

    def jwt_audience(self) -> str:
        if self.audience:
            return self.audience
        host = self.login_url.split("/")[2].lower()
        if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
            return "https://test.salesforce.com"
        return "https://login.salesforce.com"

    @model_validator(mode="after")
    def _needs(self) -> SalesforceAuth:
        required = {
            "client_credentials": ["client_secret_env"],
            "password": ["password_env"],
            "soap": ["password_env"],
            "refresh_token": ["refresh_token_env"],
            "jwt": ["private_key_env"],
            "session": ["session_id_env"],
        }[self.method]
        missing = [k for k in required if getattr(self, k) is None]
        if self.method in {"client_credentials", "password", "refresh_token", "jwt"}:
            if self.client_id is None and self.client_id_env is None:
                missing.append("client_id (or client_id_env)")
        if self.method in {"password", "soap", "jwt"} and self.username is None and self.username_env is None:
            missing.append("username (or username_env)")
        if missing:
            raise ValueError(f"auth method '{self.method}' needs {', '.join(missing)}")
        return self


class SalesforceConfig(_Model):
    instance_url: str | None = Field(
        None, description="https://yourorg.my.salesforce.com; required but for method session with sandbox"
    )
    api_version: str = Field("59.0", pattern=r"^\d{2}\.0$")
    auth: SalesforceAuth = SalesforceAuth(method="session", session_id_env="SF_SESSION_ID")
    ca_cert: str | None = Field(None, description="extra CA bundle to trust (the sandbox's); verification stays on")
    timeout_s: float = Field(60.0, gt=0, le=600)
    production: bool = Field(
        False,
        description="true for a production org (IsSandbox false): writes then need apply.allow_production and "
        "org_id; a production org configured as false is refused",
    )
    org_id: str | None = Field(
        None,
        pattern=r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$",
        description="the org's id (00D...); required to write to a production org",
    )

    @field_validator("instance_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise ValueError("must start with https:// (TLS is always on)")
        return v.rstrip("/") if v else v


INTERCOM_REGIONS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}


class IntercomConfig(_Model):
    region: Literal["us", "eu", "au"] = Field("us", description="where the workspace is hosted: us, eu or au")
    base_url: str | None = Field(None, description="overrides the region's API host (a proxy, a test server)")
    token_env: EnvName = "INTERCOM_TOKEN"
    api_version: str = Field("2.11", pattern=r"^2\.(1[1-6])$", description="Intercom-Version for reads and writes")
    ca_cert: str | None = None
    timeout_s: float = Field(60.0, gt=0, le=600)
    production: bool = False

    @field_validator("base_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise ValueError("must start with https:// (TLS is always on)")
        return v.rstrip("/") if v else v

    def api_base_url(self) -> str:
        """The API host: base_url when given, else the region's."""
        return self.base_url or INTERCOM_REGIONS[self.region]


class SandboxConnection(_Model):
    """Take every connection fact from a running sandbox's sandbox.json."""

    state_dir_env: EnvName = "SYNCAUDIT_SANDBOX_DIR"
    default_state_dir: str = ".sandbox"

    def state_dir(self) -> Path:
        return Path(os.environ.get(self.state_dir_env) or self.default_state_dir)


# ---------------------------------------------------------------- mapping spec

Direction = Literal["salesforce_to_intercom", "intercom_to_salesforce", "both", "display_only"]
System = Literal["salesforce", "intercom"]


class PicklistMap(_Model):
    picklist: dict[str, str] = Field(description="Intercom value -> Salesforce value")


Normalizer = Annotated[
    Literal["email", "phone_e164", "trim", "lower", "upper", "whitespace", "domain", "none"] | PicklistMap,
    Field(description="a named normalizer or {picklist: {...}}"),
]


class PeopleIdentity(_Model):
    salesforce_key: str = Field("Product_User_Id__c", description="Contact/Lead field holding the product user id")
    intercom_key: Literal["external_id", "email", "id"] = "external_id"
    fallback: list[Literal["email"]] = ["email"]
    salesforce_keys: dict[Literal["Contact", "Lead"], str | None] = Field(
        default_factory=dict,
        description="per-object identity field where Contact and Lead differ (null: that object has none); "
        "objects not named use salesforce_key",
    )
    normalize: list[Normalizer] = Field(
        default_factory=list,
        description="normalizers applied to both identity keys before they are compared, e.g. [trim, lower]",
    )

    def key_for(self, obj: str) -> str | None:
        """The identity field of ``obj`` (Contact or Lead), or None when the object carries none."""
        return self.salesforce_keys[obj] if obj in self.salesforce_keys else self.salesforce_key  # type: ignore[index]


class CompanyIdentity(_Model):
    salesforce_key: str = "AccountNumber"
    intercom_key: str = "company_id"
    normalize: list[Normalizer] = Field(
        default_factory=list, description="normalizers applied to both company keys before they are compared"
    )


class Identity(_Model):
    people: PeopleIdentity = PeopleIdentity()
    companies: CompanyIdentity = CompanyIdentity()


Comparison = Literal[
    "first_name", "last_name", "email", "phone", "street", "city", "postal_code", "state", "country", "date",
    "text", "identifier", "company_name", "domain",
]  # fmt: skip


class MatchField(_Model):
    """One field the probabilistic matching compares, with how it is compared.

    ``name`` is the comparison's column: fields of several pairs with one name (Contact's MailingCity and
    Lead's City as ``city``) are compared with each other. ``salesforce`` is a field of the pair's object,
    or ``Account.Name`` (the field of the record a Contact's AccountId points to); ``intercom`` is a
    snapshot column of the contact or company (``name`` as a first/last name is split into its first and
    last word; ``companies.name`` is the contact's first company's name). A side left out gives no
    evidence on that side; an empty value gives no evidence.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    compare: Comparison
    salesforce: str | None = None
    intercom: str | None = None

    @model_validator(mode="after")
    def _one_side(self) -> MatchField:
        if self.salesforce is None and self.intercom is None:
            raise ValueError(f"match field '{self.name}' names no field: give salesforce:, intercom: or both")
        return self


def _mf(name: str, compare: str, salesforce: str | None, intercom: str | None = None) -> MatchField:
    return MatchField(name=name, compare=compare, salesforce=salesforce, intercom=intercom)


_PERSON_TAIL = [
    _mf("email", "email", "Email", "email"),
    _mf("phone", "phone", "Phone", "phone"),
    _mf("mobile", "phone", "MobilePhone"),
]
DEFAULT_MATCH_FIELDS: dict[str, list[MatchField]] = {
    "Contact": [
        _mf("first_name", "first_name", "FirstName", "name"),
        _mf("last_name", "last_name", "LastName", "name"),
        *_PERSON_TAIL,
        _mf("street", "street", "MailingStreet"),
        _mf("city", "city", "MailingCity", "location.city"),
        _mf("postal_code", "postal_code", "MailingPostalCode"),
        _mf("state", "state", "MailingState", "location.region"),
        _mf("country", "country", "MailingCountry", "location.country"),
        _mf("birth_date", "date", "Birthdate"),
        _mf("title", "text", "Title"),
        _mf("company", "company_name", "Account.Name", "companies.name"),
    ],
    "Lead": [
        _mf("first_name", "first_name", "FirstName", "name"),
        _mf("last_name", "last_name", "LastName", "name"),
        *_PERSON_TAIL,
        _mf("street", "street", "Street"),
        _mf("city", "city", "City", "location.city"),
        _mf("postal_code", "postal_code", "PostalCode"),
        _mf("state", "state", "State", "location.region"),
        _mf("country", "country", "Country", "location.country"),
        _mf("title", "text", "Title"),
        _mf("company", "company_name", "Company", "companies.name"),
    ],
    "Account": [
        _mf("name", "company_name", "Name", "name"),
        _mf("domain", "domain", "Website", "website"),
        _mf("phone", "phone", "Phone"),
        _mf("city", "city", "BillingCity"),
        _mf("postal_code", "postal_code", "BillingPostalCode"),
        _mf("country", "country", "BillingCountry"),
    ],
}


class ObjectPair(_Model):
    salesforce: Literal["Contact", "Lead", "Account"]
    intercom: Literal["contact", "company"]
    role: Literal["user", "lead"] | None = None
    match_on: Literal["identity_key", "email"] | None = Field(
        None,
        description="how the pair's records are identified: the identity key pair, or email (Intercom leads have "
        "no external_id, so lead pairs default to email)",
    )
    match_fields: list[MatchField] | None = Field(
        None,
        description="the fields the probabilistic matching compares for this pair; default: the standard fields "
        "(names, email, phone and mobile, address, birth date, title, company); fields an org lacks give no evidence",
    )

    def effective_match_on(self) -> str:
        if self.match_on:
            return self.match_on
        return "email" if self.role == "lead" else "identity_key"

    def effective_match_fields(self) -> list[MatchField]:
        return list(self.match_fields) if self.match_fields is not None else list(DEFAULT_MATCH_FIELDS[self.salesforce])

    @model_validator(mode="after")
    def _match_fields_fit(self) -> ObjectPair:
        if self.match_fields is not None:
            if not self.match_fields:
                raise ValueError(
                    f"match_fields of the {self.salesforce} pair is empty: list the fields to compare, "
                    "or leave match_fields out for the defaults"
                )
            seen: set[str] = set()
            for f in self.match_fields:
                if f.name in seen:
                    raise ValueError(f"match field '{f.name}' is listed twice in the {self.salesforce} pair")
                seen.add(f.name)
                company = self.salesforce == "Account"
                if company and f.compare in PERSON_ONLY or not company and f.compare in COMPANY_ONLY:
                    raise ValueError(
                        f"match field '{f.name}': comparison '{f.compare}' does not apply to "
                        f"{'companies' if company else 'people'}; use one of "
                        f"{', '.join(sorted(set(Comparison.__args__) - (PERSON_ONLY if company else COMPANY_ONLY)))}"
                    )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> ObjectPair:
        if self.salesforce == "Account" and self.intercom != "company":
            raise ValueError("Account pairs with the Intercom company")
        if self.salesforce in {"Contact", "Lead"} and self.intercom != "contact":
            raise ValueError(f"{self.salesforce} pairs with the Intercom contact")
        return self


PERSON_ONLY = {"first_name", "last_name", "date"}
COMPANY_ONLY = {"domain"}


class ConversationLogging(_Model):
    log_as: Literal["Task", "Case"] = "Task"
    automatic_case_creation: bool = False
    conversation_id_field: str = Field(
        "Description", description="Task/Case field that carries the conversation id or URL"
    )
    only_closed: bool = True
    external_id_field: str = Field(
        "Intercom_Conversation_Id__c",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="External ID (unique) field of the Task/Case that holds the conversation id: the fix-up "
        "creates logged conversations as upserts by it, so a re-sent create can never make a duplicate",
    )


# What a reference may point to: the Salesforce objects and Intercom tables a snapshot holds.
LOOKUP_SF_OBJECTS = ("User", "Account", "Contact", "Lead")
LOOKUP_IC_TABLES = ("admins", "companies", "contacts")
_LOOKUP_SF = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$")
_LOOKUP_IC = re.compile(r"^([a-z_]+)\.([A-Za-z_][A-Za-z0-9_.]*)$")


class FieldLookup(_Model):
    """A reference field compared through the record it points to (e.g. an owner by the owner's email).

    ``salesforce: User.Email`` means the Salesforce value is a User Id, compared by that User's Email;
    ``intercom: admins.email`` means the Intercom value is an admin id, compared by the admin's email. A side
    left out is compared as it is. ``normalize`` applies to the compared (looked-up) values.
    """

    salesforce: str | None = Field(None, description="Object.Field the Salesforce Id points to, e.g. User.Email")
    intercom: str | None = Field(None, description="table.column the Intercom id points to, e.g. admins.email")
    normalize: list[Normalizer] = []

    @field_validator("salesforce")
    @classmethod
    def _sf_target(cls, v: str | None) -> str | None:
        m = _LOOKUP_SF.match(v) if v is not None else None
        if v is not None and (m is None or m.group(1) not in LOOKUP_SF_OBJECTS):
            raise ValueError(
                f"'{v}' is not Object.Field of a snapshotted object; write e.g. User.Email "
                f"(objects: {', '.join(LOOKUP_SF_OBJECTS)})"
            )
        return v

    @field_validator("intercom")
    @classmethod
    def _ic_target(cls, v: str | None) -> str | None:
        m = _LOOKUP_IC.match(v) if v is not None else None
        if v is not None and (m is None or m.group(1) not in LOOKUP_IC_TABLES):
            raise ValueError(
                f"'{v}' is not table.column of an Intercom snapshot table; write e.g. admins.email "
                f"(tables: {', '.join(LOOKUP_IC_TABLES)})"
            )
        return v

    @model_validator(mode="after")
    def _one_side(self) -> FieldLookup:
        if self.salesforce is None and self.intercom is None:
            raise ValueError("a lookup needs salesforce: Object.Field, intercom: table.column, or both")
        return self

    def target(self, system: str) -> tuple[str, str] | None:
        """(object or table, compared field) the ``system`` side points to, or None when compared as it is."""
        v = self.salesforce if system == "salesforce" else self.intercom
        if v is None:
            return None
        table, _, column = v.partition(".")
        return table, column


class FieldMapping(_Model):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    salesforce: str
    intercom: str
    objects: list[Literal["Contact", "Lead", "Account"]]
    direction: Direction
    owner: System
    normalize: list[Normalizer] = []
    lookup: FieldLookup | None = Field(
        None, description="compare references (ids) through the records they point to, e.g. owners by email"
    )

    @model_validator(mode="after")
    def _owner_fits_direction(self) -> FieldMapping:
        if self.lookup is not None and self.normalize:
            raise ValueError(
                "normalize would apply to the reference ids of a lookup field; "
                "put the normalizers of the compared values under lookup.normalize"
            )
        if self.direction == "salesforce_to_intercom" and self.owner != "salesforce":
            raise ValueError("direction salesforce_to_intercom means salesforce owns the field (set owner: salesforce)")
        if self.direction == "intercom_to_salesforce" and self.owner != "intercom":
            raise ValueError("direction intercom_to_salesforce means intercom owns the field (set owner: intercom)")
        companies = "Account" in self.objects
        people = bool({"Contact", "Lead"} & set(self.objects))
        if companies and people:
            raise ValueError("a field maps either people (Contact/Lead) or companies (Account), not both")
        return self


class SyncTiming(_Model):
    intercom_to_salesforce_s: int = Field(60, ge=0, description="Intercom -> Salesforce is immediate; allow this lag")
    salesforce_to_intercom_s: int = Field(300, ge=0, description="Salesforce -> Intercom is polled every 5 minutes")


SurvivorRule = Literal["most_complete", "most_recent_activity", "oldest", "newest"]


class MatchingOptions(_Model):
    """Probabilistic matching (Splink) and duplicate-cluster options of the audit."""

    duplicate_threshold: float = Field(
        0.9, gt=0, lt=1, description="match probability above which two records of one system are duplicates"
    )
    link_threshold: float = Field(
        0.9, gt=0, lt=1, description="match probability above which an unlinked pair is an identity gap"
    )
    suggest_threshold: float = Field(
        0.6, gt=0, lt=1, description="match probability above which an orphan gets a suggested counterpart"
    )
    survivor_rules: list[SurvivorRule] = Field(
        ["most_complete", "most_recent_activity", "oldest"],
        min_length=1,
        description="how a duplicate cluster's survivor is chosen, first rule first, later rules break ties",
    )
    max_cluster_size: int = Field(50, ge=2, description="clusters larger than this are reported, not merged")


class Mapping(_Model):
    identity: Identity = Identity()
    objects: list[ObjectPair] = [
        ObjectPair(salesforce="Contact", intercom="contact", role="user"),
        ObjectPair(salesforce="Lead", intercom="contact", role="lead"),
        ObjectPair(salesforce="Account", intercom="company"),
    ]
    conversations: ConversationLogging = ConversationLogging()
    fields: list[FieldMapping] = []
    sync_timing: SyncTiming = SyncTiming()
    default_phone_region: str = Field(
        "US", pattern=r"^[A-Z]{2}$", description="ISO country used for phone numbers written without +country code"
    )
    matching: MatchingOptions = MatchingOptions()

    @model_validator(mode="after")
    def _unique_names(self) -> Mapping:
        seen: set[str] = set()
        for f in self.fields:
            if f.name in seen:
                raise ValueError(f"field mapping name '{f.name}' is used twice; names must be unique")
            seen.add(f.name)
        return self


# ---------------------------------------------------------------- runs, gates, reports


class ActivityScope(_Model):
    """Which Tasks and Cases a pull reads: what conversation logging could have created (all when empty).

    Every condition given narrows the pull (they are ANDed), so an org with millions of Tasks logged by
    other tools reads only the candidates the conversation checks look at.
    """

    task_subtypes: list[str] = Field(
        default_factory=list, description="Task.TaskSubtype values to read, e.g. [Task] (calls and emails left out)"
    )
    subject_like: str | None = Field(
        None, description="a SOQL LIKE pattern on Subject for Tasks and Cases, e.g. 'Intercom%'"
    )
    with_person: bool = Field(
        False, description="only Tasks with a WhoId and Cases with a ContactId (logged on a person)"
    )


class PullOptions(_Model):
    bulk_threshold: int = Field(50_000, ge=0, description="objects with more rows than this use Bulk API 2.0")
    quota_max_share: float = Field(0.8, gt=0, le=1, description="stop before this share of the daily API allocation")
    fields: Literal["mapped", "all"] = "mapped"
    intercom_partitions: int = Field(4, ge=1, le=32)
    conversation_parts: Literal["off", "changed"] = Field(
        "off",
        description="Intercom conversation parts: 'off' reads conversations from list/search pages only (150 a "
        "call; every analysis works from them); 'changed' also fetches each pulled conversation (in an incremental "
        "pull: each changed one) for its parts, one call per conversation",
    )
    purge_check: Literal["count", "ids", "off"] = Field(
        "count",
        description="Salesforce records purged from the recycle bin (invisible to queryAll) in incremental pulls: "
        "'count' compares one COUNT() per object and lists ids only on a mismatch, 'ids' lists ids every run",
    )
    activities: ActivityScope = Field(
        default_factory=ActivityScope, description="which Tasks and Cases are read (default: all of them)"
    )
    field_history: list[Literal["Account", "Contact", "Lead"]] = Field(
        ["Account", "Contact", "Lead"],
        description="Salesforce objects whose field history (AccountHistory, ContactHistory, LeadHistory) is pulled: "
        "the drift audit dates each Salesforce field's last change from it; [] pulls none",
    )
    lookback_s: int = Field(
        900,
        ge=0,
        description="incremental pulls re-read changes this far before the bookmark (clock skew, late commits); "
        "Intercom's day-truncated date search is handled separately",
    )

    @field_validator("conversation_parts", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        return "off" if v is False else v  # YAML reads a bare `off` as false


class DuplicateRuleHeader(_Model):
    """Salesforce's Sforce-Duplicate-Rule-Header on writes: what duplicate rules set to "Allow" may let through.

    Without it, a write that a duplicate rule matches fails with DUPLICATES_DETECTED (journaled with the rule's
    message). A rule set to "Block" refuses whatever the header says.
    """

    allow_save: bool = Field(True, description="save despite duplicate rules set to Allow (with alert)")
    include_record_details: bool = Field(False, description="return the matching records' fields in the error")
    run_as_current_user: bool = Field(True, description="apply the rules visible to the integration user")


class ApplyOptions(_Model):
    max_changes: int = Field(10_000, ge=0)
    allow_production: bool = False
    quota_max_share: float = Field(0.8, gt=0, le=1)
    bulk_threshold: int = Field(200, ge=1, description="Salesforce batches above this go through Bulk API 2.0")
    duplicate_rule_header: DuplicateRuleHeader | None = Field(
        None, description="send Sforce-Duplicate-Rule-Header with Salesforce writes (none: the org's rules apply)"
    )


class FixPolicy(_Model):
    """One fix policy: whether ``syncaudit plan`` proposes it, and its options."""

    enabled: bool = True
    options: dict[str, Any] = Field({}, description="policy-specific options (see docs/contracts.md, fixes)")


class FieldMigration(_Model):
    """A one-off migration: copy (and optionally transform) a field of linked records into another field."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    source_system: System
    source_field: str = Field(description="e.g. custom_attributes.partner_code (Intercom) or Partner_Code__c")
    target_system: System
    target_field: str
    objects: list[Literal["Contact", "Lead"]] = ["Contact"]
    transform: list[Normalizer] = []
    overwrite: bool = Field(False, description="false: only fill empty target values")

    @model_validator(mode="after")
    def _two_systems(self) -> FieldMigration:
        if self.source_system == self.target_system:
            raise ValueError("a migration copies between the two systems; source_system and target_system differ")
        return self


class Fixes(_Model):
    """The fix policies ``syncaudit plan`` may use; each is tied to the finding kinds it resolves."""

    push_owner_value: FixPolicy = FixPolicy()  # field_drift -> write the owner's value to the other side
    backfill_identity: FixPolicy = FixPolicy()  # identity_gap -> fill the missing identity key
    normalize_values: FixPolicy = FixPolicy()  # owner-side values that fail their normalizers
    relink_stale: FixPolicy = FixPolicy()  # stale_link -> key the converted Contact
    merge_intercom_leads: FixPolicy = FixPolicy()  # intercom lead+user duplicates -> merge lead into user
    log_conversations: FixPolicy = FixPolicy()  # conversation_unlogged -> create the Task/Case
    duplicate_worklist: FixPolicy = FixPolicy()  # salesforce duplicates -> review items, never merged
    rule_fixups: FixPolicy = (
        FixPolicy()
    )  # rule_violation -> create the missing Case/Task or set the field (rules[].fix)
    migrations: list[FieldMigration] = []

    @model_validator(mode="after")
    def _unique_migrations(self) -> Fixes:
        names = [m.name for m in self.migrations]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"migration name(s) used twice: {', '.join(sorted(dup))}")
        return self


class Gates(_Model):
    max_findings: dict[str, int] = Field({}, description="kind -> the most findings tolerated")
    min_quality_pass_rate: float | None = Field(None, ge=0, le=1)
    fail_on_critical_expectations: bool = True


class QualityOptions(_Model):
    expectations_dir: str | None = Field(
        None,
        description="this org pair's expectation suites; default: expectations/ for the demo config, "
        "<data_dir>/expectations/ for any other (the demo's suites never run against another org)",
    )


class SparkOptions(_Model):
    """The Spark session of ``audit.engine: spark``. Under spark-submit, Databricks or EMR the session exists
    already and ``master`` is left unset; everything here only fills what the session does not set."""

    master: str | None = Field(
        None, description="e.g. local[2] or spark://host:7077; unset = the session's own (spark-submit's --master)"
    )
    shuffle_partitions: int | None = Field(
        None, ge=1, le=100_000, description="spark.sql.shuffle.partitions (a few per core; 200 is Spark's default)"
    )
    driver_memory: str | None = Field(None, pattern=r"^[0-9]+[kmgtKMGT]$", description="e.g. 4g (local mode only)")
    work_dir: str | None = Field(
        None,
        description="a folder every executor can read and write (HDFS, S3, DBFS, a shared mount) for the "
        "audit's intermediate Parquet; default: <data_dir>/work/spark",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="any other Spark settings, e.g. spark.executor.memory"
    )


class AuditOptions(_Model):
    """Where and in how much memory the audit and the quality suites run; what they compute does not depend on it."""

    memory_limit: str = Field(
        "5GB",
        pattern=r"^[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit (e.g. 12GB); above it, joins, sorts and aggregates spill to temp_dir. "
        "The environment variable SYNCAUDIT_DUCKDB_MEMORY overrides it for one run",
    )
    temp_dir: str | None = Field(
        None, description="the folder DuckDB spills to (default: <system temp>/syncaudit-duckdb); needs free disk"
    )
    threads: int | None = Field(None, ge=1, le=1024, description="DuckDB worker threads (default: one per core)")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="where the audit runs: duckdb (this machine) or spark (Splink's Spark backend and Spark SQL; "
        "needs pyspark and Java, see docs/spark.md)",
    )
    spark: SparkOptions = Field(default_factory=SparkOptions)


class ReportOptions(_Model):
    out_dir: str = "reports"
    mask_personal_data: bool = True
    sample_rows: int = Field(20, ge=0, le=1000)


class SmtpOptions(_Model):
    """Where `syncaudit send` mails the summary. The user and password come from the environment."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade with STARTTLS (required unless the host is loopback)")
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    ca_cert: str | None = Field(None, description="extra CA bundle to trust; verification stays on")
    from_addr: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1)
    timeout_s: float = Field(60.0, gt=0, le=600)


class DeliveryOptions(_Model):
    """`syncaudit send`: mail the summary and post alerts."""

    smtp: SmtpOptions | None = None
    webhook_url_env: EnvName | None = Field(None, description="env var with a Slack-compatible webhook URL")
    attach_report: bool = True


class ReviewOptions(_Model):
    reviewer: str | None = Field(
        None, max_length=200, description="who the review decisions are recorded as (default: the OS user)"
    )


class Config(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    sandbox: SandboxConnection | None = None
    salesforce: SalesforceConfig | None = None
    intercom: IntercomConfig | None = None
    data_dir: str = Field("data", description="where snapshots, plans and the journal live")
    mapping: Mapping = Mapping()
    pull: PullOptions = PullOptions()
    apply: ApplyOptions = ApplyOptions()
    gates: Gates = Gates()
    report: ReportOptions = ReportOptions()
    review: ReviewOptions = ReviewOptions()
    quality: QualityOptions = QualityOptions()
    fixes: Fixes = Fixes()
    delivery: DeliveryOptions = DeliveryOptions()
    rules: list[Rule] = Field([], description="cross-system rules (docs/contracts.md, Cross-system rules)")
    audit: AuditOptions = AuditOptions()

    # Set by load_config; not part of the file.
    source_path: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _connections(self) -> Config:
        if self.sandbox is None and (self.salesforce is None or self.intercom is None):
            raise ValueError(
                "give both 'salesforce' and 'intercom' connection sections, or 'sandbox: {}' for the sandbox"
            )
        if self.sandbox is None and self.salesforce and self.salesforce.instance_url is None:
            raise ValueError("salesforce.instance_url is required outside the sandbox")
        return self

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, v: Any) -> list[Rule]:
        return validate_rules(v)

    def config_hash(self) -> str:
        """A stable hash of the effective configuration (no secrets are in it by construction)."""
        # Resource settings (audit: memory, spill folder, threads) change where a run computes, not what.
        body = json.dumps(self.model_dump(mode="json", exclude={"source_path", "delivery", "audit"}), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def resolve_path(self, p: str) -> Path:
        """Paths in the config are relative to the working directory (where make/cron runs)."""
        return Path(p).expanduser()


# ---------------------------------------------------------------- loading


def _walk_for_secrets(node: Any, path: str, file: str) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            kp = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and k.lower() in SECRET_KEYS and v is not None:
                raise SecretError(
                    "a secret is written into the config file",
                    file=file,
                    key=kp,
                    hint=f"remove it, put it in an environment variable (or the git-ignored .env), "
                    f"and name that variable with '{k}_env: MY_VARIABLE'",
                )
            _walk_for_secrets(v, kp, file)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_for_secrets(v, f"{path}[{i}]", file)
    elif isinstance(node, str) and looks_like_secret(node):
        raise SecretError(
            "this value looks like a credential",
            file=file,
            key=path,
            hint="move it to an environment variable and reference it with a '*_env' key",
        )


def _format_validation(err: ValidationError, file: str) -> ConfigError:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see config/example.yaml for every key)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"].startswith("literal_error"):
            msg = f"{msg}; got {e.get('input')!r}"
        lines.append(f"  - {loc or '(top level)'}: {msg}")
    body = "\n".join(lines)
    n = len(lines)
    return ConfigError(
        f"{n} problem{'s' if n != 1 else ''} in the configuration:\n{body}",
        file=file,
        hint="edit the keys named above; config/example.yaml documents every key",
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, check and return the configuration. Raises ConfigError with one clear message."""
    p = Path(path)
    file = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found", file=file, hint="pass --config with the path of a YAML config, e.g. config/demo.yaml"
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", file=file, hint="pass the YAML file itself") from None
    except PermissionError:
        raise ConfigError(
            "cannot be read (permission denied)", file=file, hint="check the file's permissions"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", file=file, hint="save the config as UTF-8 YAML") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"invalid YAML{where}: {problem}", file=file, hint="fix the YAML syntax (indentation, colons, quotes)"
        ) from None
    if raw is None:
        raise ConfigError("the file is empty", file=file, hint="start from config/example.yaml")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"the top level must be a mapping of keys, not a {type(raw).__name__}",
            file=file,
            hint="start from config/example.yaml",
        )
    _walk_for_secrets(raw, "", file)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise _format_validation(exc, file) from None
    return cfg.model_copy(update={"source_path": file})


def load_dotenv_file(directory: Path | None = None) -> None:
    """Load a git-ignored .env into the environment without overriding what is already set."""
    from dotenv import dotenv_values

    candidates = [Path(".env")]
    if directory is not None:
        candidates.insert(0, directory / ".env")
    for c in candidates:
        if c.is_file():
            for k, v in dotenv_values(c).items():
                if v is not None and k not in os.environ:
                    os.environ[k] = v


def resolve_secret(env_name: str, *, purpose: str) -> str:
    """Read a secret from the environment. The message names the variable, never a value."""
    value = os.environ.get(env_name)
    if not value:
        raise SecretError(
            f"the environment variable {env_name} ({purpose}) is not set",
            hint=f"export {env_name}=... or add it to the git-ignored .env file",
        )
    register_secret(value)
    return value
