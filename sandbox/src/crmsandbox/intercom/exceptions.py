"""Intercom's wire errors, one class per error code (moto style).

The backend raises these; the WSGI layer renders each as Intercom's
``error.list`` envelope with the class's HTTP status, so tests and clients
assert on the remote ``code`` exactly as they would against the real API.
"""

from __future__ import annotations


class IntercomError(Exception):
    """Base: an Intercom ``error.list`` response (status, code, message)."""

    status = 400
    code = "bad_request"
    default_message = "Bad Request"

    def __init__(self, message: str | None = None, *, field: str | None = None, headers: dict | None = None):
        self.message = message or self.default_message
        self.field = field
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self, request_id: str) -> dict:
        """The error.list body Intercom sends."""
        err: dict = {"code": self.code, "message": self.message}
        if self.field:
            err["field"] = self.field
        return {"type": "error.list", "request_id": request_id, "errors": [err]}


class BadRequest(IntercomError):
    code = "bad_request"


class ParameterInvalid(IntercomError):
    code = "parameter_invalid"
    default_message = "Invalid parameter"


class ParameterNotFound(IntercomError):
    code = "parameter_not_found"


class InvalidSortOrder(IntercomError):
    code = "invalid_sort_order"


class InvalidMerge(IntercomError):
    code = "invalid_merge"


class ScrollExists(IntercomError):
    code = "scroll_exists"
    default_message = "scroll already exists for this app"


class ContactCompanyLimitExceeded(IntercomError):
    code = "contact_company_limit_exceeded"
    default_message = "Contact has reached the maximum of 1000 company associations"


class IntercomVersionInvalid(IntercomError):
    code = "intercom_version_invalid"


class Unauthorized(IntercomError):
    status = 401
    code = "unauthorized"
    default_message = "Access Token Invalid"


class NotFound(IntercomError):
    status = 404
    code = "not_found"
    default_message = "Resource Not Found"


class CompanyNotFound(IntercomError):
    status = 404
    code = "company_not_found"
    default_message = "Company Not Found"


class AdminNotFound(IntercomError):
    status = 404
    code = "admin_not_found"
    default_message = "Admin not found"


class NotAcceptable(IntercomError):
    status = 406
    code = "not_acceptable"
    default_message = "Accept header must allow application/json"


class Conflict(IntercomError):
    status = 409
    code = "conflict"


class ContactMerged(IntercomError):
    status = 410
    code = "contact_merged"
    default_message = "This contact has been merged. See the 'Link' header for the canonical contact."


class UnprocessableParameter(IntercomError):
    status = 422
    code = "parameter_invalid"


class RateLimitExceeded(IntercomError):
    status = 429
    code = "rate_limit_exceeded"
    default_message = "Rate Limit Exceeded"


class ServerError(IntercomError):
    status = 500
    code = "server_error"
    default_message = "Request failed due to an internal error"
