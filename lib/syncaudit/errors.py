"""The exception tree of syncaudit.

One root, ``SyncAuditError``, with branches named by what the caller should do
about the problem. Every message names the fix and never contains a secret:
exceptions carry the offending values as attributes, and the CLI prints the
message alone (no traceback).
"""

from __future__ import annotations


class SyncAuditError(Exception):
    """Root of every error syncaudit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  fix: {hint}")


class ConfigError(SyncAuditError):
    """A configuration file, mapping spec, suite or parameter is wrong: fix the input."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.key = key
        where = ""
        if file:
            where = f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}", hint=hint)


class SecretError(ConfigError):
    """A secret is missing from the environment, or was pasted where it must not be."""


class APIError(SyncAuditError):
    """A remote API answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        system: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.system = system
        super().__init__(message, hint=hint)


class RetriableAPIError(APIError):
    """Transient: 429, 5xx, a dropped connection. Back off and try again; still failing after the retries, the
    API is refused or unreachable (exit 3)."""

    exit_code = 3


class FatalAPIError(APIError):
    """Not worth retrying: bad credentials, missing permission, malformed request."""

    exit_code = 3


class QuotaExhaustedError(FatalAPIError):
    """The configured share of the API allocation is spent; stop cleanly and resume later."""

    exit_code = 4


class RecordError(APIError):
    """One record was refused (validation, lock, duplicate); the batch goes on."""


class GuardError(SyncAuditError):
    """A safety guard refused an operation (hash mismatch, change cap, production target)."""

    exit_code = 5


class GateFailed(SyncAuditError):
    """A configured gate failed; the batch run finished but must alert."""

    exit_code = 6


class NotBuiltError(SyncAuditError):
    """A command exists in the design but is not implemented yet."""

    exit_code = 70
