"""One exception per Salesforce errorCode, each carrying its HTTP status and Salesforce-style message.

The backend raises them; responses.py renders ``[{"message", "errorCode", "fields"}]`` (REST) or
``{"statusCode", "message", "fields"}`` (inside sObject Collections and bulk results).
"""

from __future__ import annotations


class SalesforceError(Exception):
    """Base: an error Salesforce reports with an errorCode."""

    code = "UNKNOWN_EXCEPTION"
    status = 400
    default_message = "An unexpected error occurred."

    def __init__(self, message: str | None = None, fields: list[str] | None = None) -> None:
        self.message = message or self.default_message
        self.fields = list(fields or [])
        super().__init__(self.message)

    def body(self) -> list[dict]:
        """The REST error body: a JSON array with one error."""
        err: dict = {"message": self.message, "errorCode": self.code}
        if self.fields:
            err["fields"] = self.fields
        return [err]

    def record_error(self) -> dict:
        """The per-record error shape used in sObject Collections results."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def _error(name: str, code: str, status: int = 400, message: str = "") -> type[SalesforceError]:
    cls = type(name, (SalesforceError,), {"code": code, "status": status, "default_message": message or code})
    cls.__doc__ = f"Salesforce errorCode {code} (HTTP {status})."
    return cls


ApiDisabledForOrg = _error(
    "ApiDisabledForOrg", "API_DISABLED_FOR_ORG", 403, "API is not enabled for this Salesforce Organization or Partner"
)
InvalidSessionId = _error("InvalidSessionId", "INVALID_SESSION_ID", 401, "Session expired or invalid")
RequestLimitExceeded = _error("RequestLimitExceeded", "REQUEST_LIMIT_EXCEEDED", 403, "TotalRequests Limit exceeded.")
NotFound = _error("NotFound", "NOT_FOUND", 404, "The requested resource does not exist")
MethodNotAllowed = _error("MethodNotAllowed", "METHOD_NOT_ALLOWED", 405, "HTTP Method not allowed.")
MalformedQuery = _error("MalformedQuery", "MALFORMED_QUERY")
InvalidField = _error("InvalidField", "INVALID_FIELD")
InvalidType = _error("InvalidType", "INVALID_TYPE")
InvalidQueryLocator = _error("InvalidQueryLocator", "INVALID_QUERY_LOCATOR", 400, "invalid query locator")
JsonParserError = _error("JsonParserError", "JSON_PARSER_ERROR")
RequiredFieldMissing = _error("RequiredFieldMissing", "REQUIRED_FIELD_MISSING")
InvalidFieldForInsertUpdate = _error("InvalidFieldForInsertUpdate", "INVALID_FIELD_FOR_INSERT_UPDATE")
DuplicateValue = _error("DuplicateValue", "DUPLICATE_VALUE")


class DuplicatesDetected(SalesforceError):
    """Salesforce errorCode DUPLICATES_DETECTED (HTTP 400): a duplicate rule refused the save."""

    code = "DUPLICATES_DETECTED"
    default_message = "Use one of these records?"

    def __init__(
        self, message: str | None = None, fields: list[str] | None = None, *, rule: str = "", match: str = ""
    ) -> None:
        super().__init__(message, fields)
        self.rule, self.match = rule, match

    def _result(self) -> dict:
        return {
            "allowSave": False,
            "duplicateRule": self.rule,
            "duplicateRuleEntityType": self.rule.split(":")[0],
            "errorMessage": self.message,
            "matchResults": [{"matchRecords": [{"record": {"Id": self.match}}], "size": 1, "success": True}],
        }

    def body(self) -> list[dict]:
        return [{**super().body()[0], "duplicateResult": self._result()}]

    def record_error(self) -> dict:
        return {**super().record_error(), "duplicateResult": self._result()}


DuplicateExternalId = _error("DuplicateExternalId", "DUPLICATE_EXTERNAL_ID")
StringTooLong = _error("StringTooLong", "STRING_TOO_LONG")
InvalidEmailAddress = _error("InvalidEmailAddress", "INVALID_EMAIL_ADDRESS")
InvalidRestrictedPicklist = _error("InvalidRestrictedPicklist", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
MalformedId = _error("MalformedId", "MALFORMED_ID")
InvalidIdField = _error("InvalidIdField", "INVALID_ID_FIELD")
InvalidCrossReferenceKey = _error("InvalidCrossReferenceKey", "INVALID_CROSS_REFERENCE_KEY")
EntityIsDeleted = _error("EntityIsDeleted", "ENTITY_IS_DELETED", 400, "entity is deleted")
CannotUpdateConvertedLead = _error(
    "CannotUpdateConvertedLead", "CANNOT_UPDATE_CONVERTED_LEAD", 400, "cannot reference converted lead"
)
UnableToLockRow = _error(
    "UnableToLockRow", "UNABLE_TO_LOCK_ROW", 400, "unable to obtain exclusive access to this record"
)
ExceededIdLimit = _error(
    "ExceededIdLimit",
    "EXCEEDED_ID_LIMIT",
    400,
    "record limit reached. cannot submit more than 200 records into this call",
)
AllOrNoneRolledBack = _error(
    "AllOrNoneRolledBack",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    400,
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)
InvalidJobState = _error("InvalidJobState", "INVALIDJOBSTATE")
InvalidJob = _error("InvalidJob", "INVALIDJOB")
InvalidBatch = _error("InvalidBatch", "InvalidBatch")
UnknownException = _error("UnknownException", "UNKNOWN_EXCEPTION", 500, "An unexpected error occurred.")


class MultipleRecords(SalesforceError):
    """An external id matched several records: HTTP 300 whose body lists their URLs."""

    code = "MULTIPLE_RECORDS"
    status = 300
    default_message = "More than one record matches the external id"

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = ids


def injected_record_error(code: str) -> SalesforceError:
    """The per-record error the shared server's fault injector asked for (UNABLE_TO_LOCK_ROW, DUPLICATE_VALUE)."""
    if code == "DUPLICATE_VALUE":
        return DuplicateValue("duplicate value found: <unknown> duplicates value on record with id: <unknown>")
    return UnableToLockRow()


def record_fault(environ: dict):
    """A function index -> error-or-None for the per-record faults of this request (never, without a server)."""
    from crmsandbox.service import ENV_FAULTS, ENV_SEQ

    faults, seq = environ.get(ENV_FAULTS), environ.get(ENV_SEQ)
    if faults is None or seq is None:
        return lambda index: None

    def fault(index: int) -> SalesforceError | None:
        code = faults.record_failure(seq, index)
        return injected_record_error(code) if code else None

    return fault
