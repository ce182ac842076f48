"""The thin WSGI layer of the Intercom emulator (werkzeug): auth, version, rate limit, routing, rendering.

Handlers parse the request, call the backend and return ``(body, records)``;
every error, including an unexpected one, leaves as Intercom's ``error.list``
envelope (never a traceback). Unknown paths answer 404 naming the route as not
implemented by the sandbox.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterable

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from crmsandbox.intercom.documents import dumps
from crmsandbox.intercom.exceptions import (
    IntercomError,
    IntercomVersionInvalid,
    NotAcceptable,
    NotFound,
    ParameterInvalid,
    RateLimitExceeded,
    ServerError,
    Unauthorized,
)
from crmsandbox.intercom.models import IntercomBackend
from crmsandbox.intercom.ratelimit import IntercomRateLimiter

log = logging.getLogger("crmsandbox.intercom")

SUPPORTED_VERSIONS = tuple(f"2.{n}" for n in range(11, 17))


def _r(path: str, endpoint: str, *methods: str) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods), strict_slashes=False)


URLS = Map(
    [
        _r("/contacts", "list_contacts", "GET"),
        _r("/contacts", "create_contact", "POST"),
        _r("/contacts/search", "search_contacts", "POST"),
        _r("/contacts/merge", "merge_contacts", "POST"),
        _r("/contacts/find_by_external_id/<path:external_id>", "find_by_external_id", "GET"),
        _r("/contacts/<contact_id>", "get_contact", "GET"),
        _r("/contacts/<contact_id>", "update_contact", "PUT"),
        _r("/contacts/<contact_id>", "delete_contact", "DELETE"),
        _r("/contacts/<contact_id>/archive", "archive_contact", "POST"),
        _r("/contacts/<contact_id>/unarchive", "unarchive_contact", "POST"),
        _r("/contacts/<contact_id>/tags", "contact_tags", "GET"),
        _r("/contacts/<contact_id>/tags", "tag_contact", "POST"),
        _r("/contacts/<contact_id>/tags/<tag_id>", "untag_contact", "DELETE"),
        _r("/contacts/<contact_id>/companies", "contact_companies", "GET"),
        _r("/contacts/<contact_id>/companies", "attach_company", "POST"),
        _r("/contacts/<contact_id>/companies/<company_id>", "detach_company", "DELETE"),
        _r("/contacts/<contact_id>/notes", "contact_notes", "GET"),
        _r("/contacts/<contact_id>/notes", "create_contact_note", "POST"),
        _r("/contacts/<contact_id>/segments", "contact_segments", "GET"),
        _r("/contacts/<contact_id>/merge_history", "merge_history", "GET"),
        _r("/notes/<note_id>", "get_note", "GET"),
        _r("/segments", "list_segments", "GET"),
        _r("/segments/<segment_id>", "get_segment", "GET"),
        _r("/companies", "find_company", "GET"),
        _r("/companies", "create_or_update_company", "POST"),
        _r("/companies/list", "list_companies", "POST"),
        _r("/companies/scroll", "scroll_companies", "GET"),
        _r("/companies/<company_id>", "get_company", "GET"),
        _r("/companies/<company_id>", "update_company", "PUT"),
        _r("/companies/<company_id>", "delete_company", "DELETE"),
        _r("/companies/<company_id>/contacts", "company_contacts", "GET"),
        _r("/companies/<company_id>/notes", "company_notes", "GET"),
        _r("/companies/<company_id>/notes", "create_company_note", "POST"),
        _r("/companies/<company_id>/segments", "company_segments", "GET"),
        _r("/conversations", "list_conversations", "GET"),
        _r("/conversations/search", "search_conversations", "POST"),
        _r("/conversations/<conversation_id>", "get_conversation", "GET"),
        _r("/admins", "list_admins", "GET"),
        _r("/admins/<admin_id>", "get_admin", "GET"),
        _r("/me", "me", "GET"),
        _r("/tags", "list_tags", "GET"),
        _r("/tags", "post_tag", "POST"),
        _r("/tags/<tag_id>", "get_tag", "GET"),
        _r("/tags/<tag_id>", "delete_tag", "DELETE"),
        _r("/data_attributes", "list_data_attributes", "GET"),
        _r("/data_attributes", "create_data_attribute", "POST"),
        _r("/data_attributes/<attr_id>", "update_data_attribute", "PUT"),
    ]
)


def _json_body(request: Request) -> object:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ParameterInvalid("The request body is not valid JSON") from None


def _history(request: Request) -> bool:
    """``include_merge_history=true`` (2.16; rendering ignores it for older versions)."""
    return request.args.get("include_merge_history", "").lower() in ("true", "1")


class IntercomApp:
    """WSGI application over one backend; ``tokens`` are the accepted Bearer tokens."""

    def __init__(
        self,
        backend: IntercomBackend,
        limiter: IntercomRateLimiter,
        tokens: Callable[[], Iterable[str]],
        default_version: Callable[[], str],
    ) -> None:
        self.backend = backend
        self.limiter = limiter
        self.tokens = tokens
        self.default_version = default_version
        self.rate_limited = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        headers = {"X-Request-Id": request_id}
        records = 0
        try:
            token = self._token(request)
            decision = self.limiter.consume(token or "anonymous")
            headers.update(decision.headers())
            if not decision.allowed:
                self.rate_limited += 1
                raise RateLimitExceeded()
            if token is None or not any(hmac.compare_digest(token, t) for t in self.tokens()):
                raise Unauthorized()
            version = self._version(request)
            accept = request.headers.get("Accept", "")
            if accept and not any(m in accept for m in ("application/json", "*/*", "application/*")):
                raise NotAcceptable()
            adapter = URLS.bind_to_environ(environ)
            try:
                endpoint, values = adapter.match()
            except MethodNotAllowed:
                raise NotFound(f"{request.method} {request.path} is not supported") from None
            except HTTPException:
                raise NotFound(f"{request.path} is not implemented by the crmsandbox Intercom emulator") from None
            body, records = getattr(self, "on_" + endpoint)(request, version, **values)
            text, status = dumps(body), 200  # rendered here: a body that cannot be sent is a bug answered below
        except IntercomError as exc:
            text, status = dumps(exc.body(request_id)), exc.status
            headers.update(exc.headers)
        except Exception:  # a bug of the emulator: log it, answer Intercom's 500 shape
            log.exception("intercom sandbox: %s %s failed", request.method, request.path)
            text, status, records = dumps(ServerError().body(request_id)), 500, 0
        environ["crmsandbox.records"] = records
        response = Response(text, status=status, headers=headers, content_type="application/json; charset=utf-8")
        return response(environ, start_response)

    def injected_fault(self, environ: dict, status: int) -> None:
        """Hook of the sandbox server: it answered this request with an injected error instead of the app.

        A company scroll that meets a 5xx cannot be resumed (reference §5.4): the scroll named by the
        failed request ends, so its scroll_param answers 404 and a new scroll may be opened at once.
        """
        if status < 500:
            return
        try:
            endpoint, _ = URLS.bind_to_environ(environ).match()
        except HTTPException:
            return
        if endpoint == "scroll_companies":
            self.backend.end_scroll(Request(environ).args.get("scroll_param"))

    @staticmethod
    def _token(request: Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _version(self, request: Request) -> str:
        version = request.headers.get("Intercom-Version") or self.default_version()
        if version not in SUPPORTED_VERSIONS:
            raise IntercomVersionInvalid(
                f"Requested resource version {version!r} is not supported; use one of {', '.join(SUPPORTED_VERSIONS)}"
            )
        return version

    # -- contacts ------------------------------------------------------------------------------------
    def on_list_contacts(self, req: Request, v: str):
        return self.backend.list_contacts(v, req.args.get("per_page"), req.args.get("starting_after"), _history(req))

    def on_create_contact(self, req: Request, v: str):
        return self.backend.create_contact(_json_body(req), v)

    def on_search_contacts(self, req: Request, v: str):
        return self.backend.search_contacts(_json_body(req), v, _history(req))

    def on_merge_contacts(self, req: Request, v: str):
        return self.backend.merge_contacts(_json_body(req), v, _history(req))

    def on_find_by_external_id(self, req: Request, v: str, external_id: str):
        return self.backend.find_by_external_id(external_id, v, _history(req))

    def on_get_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.get_contact(contact_id, v, _history(req))

    def on_update_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.update_contact(contact_id, _json_body(req), v, _history(req))

    def on_delete_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.delete_contact(contact_id, v)

    def on_archive_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.set_archived(contact_id, True, v)

    def on_unarchive_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.set_archived(contact_id, False, v)

    def on_contact_tags(self, req: Request, v: str, contact_id: str):
        return self.backend.contact_tags(contact_id, v)

    def on_tag_contact(self, req: Request, v: str, contact_id: str):
        return self.backend.tag_contact(contact_id, _json_body(req), True, v)

    def on_untag_contact(self, req: Request, v: str, contact_id: str, tag_id: str):
        return self.backend.tag_contact(contact_id, None, False, v, tag_id=tag_id)

    def on_contact_companies(self, req: Request, v: str, contact_id: str):
        return self.backend.contact_companies(contact_id, req.args.to_dict(), v)

    def on_attach_company(self, req: Request, v: str, contact_id: str):
        return self.backend.attach_company(contact_id, _json_body(req), v)

    def on_detach_company(self, req: Request, v: str, contact_id: str, company_id: str):
        return self.backend.detach_company(contact_id, company_id, v)

    def on_contact_notes(self, req: Request, v: str, contact_id: str):
        return self.backend.list_notes("contact", contact_id, req.args.to_dict(), v)

    def on_create_contact_note(self, req: Request, v: str, contact_id: str):
        return self.backend.create_note("contact", contact_id, _json_body(req), v)

    def on_contact_segments(self, req: Request, v: str, contact_id: str):
        return self.backend.contact_segments(contact_id, v)

    def on_merge_history(self, req: Request, v: str, contact_id: str):
        return self.backend.list_merge_history(contact_id, req.args.to_dict(), v)

    def on_get_note(self, req: Request, v: str, note_id: str):
        return self.backend.get_note(note_id, v)

    def on_list_segments(self, req: Request, v: str):
        return self.backend.list_segments(req.args.to_dict())

    def on_get_segment(self, req: Request, v: str, segment_id: str):
        return self.backend.get_segment(segment_id)

    # -- companies -----------------------------------------------------------------------------------
    def on_find_company(self, req: Request, v: str):
        return self.backend.find_company(req.args.to_dict(), v)

    def on_create_or_update_company(self, req: Request, v: str):
        return self.backend.create_or_update_company(_json_body(req), v)

    def on_list_companies(self, req: Request, v: str):
        args = req.args.to_dict()
        body = _json_body(req)
        if isinstance(body, dict):  # some clients send page/per_page in the body
            args = {**{k: body[k] for k in ("page", "per_page", "order") if k in body}, **args}
        return self.backend.list_companies(args, v)

    def on_scroll_companies(self, req: Request, v: str):
        return self.backend.scroll_companies(req.args.get("scroll_param"), v)

    def on_get_company(self, req: Request, v: str, company_id: str):
        return self.backend.get_company(company_id, v)

    def on_update_company(self, req: Request, v: str, company_id: str):
        return self.backend.update_company(company_id, _json_body(req), v)

    def on_delete_company(self, req: Request, v: str, company_id: str):
        return self.backend.delete_company(company_id)

    def on_company_contacts(self, req: Request, v: str, company_id: str):
        return self.backend.company_contacts(company_id, req.args.to_dict(), v)

    def on_company_notes(self, req: Request, v: str, company_id: str):
        return self.backend.list_notes("company", company_id, req.args.to_dict(), v)

    def on_create_company_note(self, req: Request, v: str, company_id: str):
        return self.backend.create_note("company", company_id, _json_body(req), v)

    def on_company_segments(self, req: Request, v: str, company_id: str):
        return self.backend.company_segments(company_id)

    # -- conversations, admins, tags, data attributes -----------------------------------------------
    def on_list_conversations(self, req: Request, v: str):
        return self.backend.list_conversations(v, req.args.get("per_page"), req.args.get("starting_after"))

    def on_search_conversations(self, req: Request, v: str):
        return self.backend.search_conversations(_json_body(req), v)

    def on_get_conversation(self, req: Request, v: str, conversation_id: str):
        return self.backend.get_conversation(conversation_id, v)

    def on_list_admins(self, req: Request, v: str):
        return self.backend.list_admins(v)

    def on_get_admin(self, req: Request, v: str, admin_id: str):
        return self.backend.get_admin(admin_id, v)

    def on_me(self, req: Request, v: str):
        return self.backend.me(v)

    def on_list_tags(self, req: Request, v: str):
        return self.backend.list_tags()

    def on_post_tag(self, req: Request, v: str):
        return self.backend.post_tag(_json_body(req), v)

    def on_get_tag(self, req: Request, v: str, tag_id: str):
        return self.backend.get_tag(tag_id)

    def on_delete_tag(self, req: Request, v: str, tag_id: str):
        return self.backend.delete_tag(tag_id)

    def on_list_data_attributes(self, req: Request, v: str):
        return self.backend.list_data_attributes(req.args.to_dict(), v)

    def on_create_data_attribute(self, req: Request, v: str):
        return self.backend.create_data_attribute(_json_body(req))

    def on_update_data_attribute(self, req: Request, v: str, attr_id: str):
        return self.backend.update_data_attribute(attr_id, _json_body(req))
