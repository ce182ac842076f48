"""HTTP sessions with TLS verification that cannot be silently overridden.

requests lets the environment's REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE take precedence over a Session's own
``verify`` (psf/requests#3829), so a session told to trust the sandbox CA would still verify against the
system bundle on machines that set those variables. :class:`VerifiedSession` keeps the session's choice;
verification is never turned off.
"""

from __future__ import annotations

from typing import Any

import requests


class VerifiedSession(requests.Session):
    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if verify is None:
            verify = self.verify
        if verify is False:
            raise ValueError("TLS verification is always on in syncaudit")
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def verified_session(ca_cert: str | None = None) -> requests.Session:
    """A session that verifies TLS against ``ca_cert`` (a PEM bundle) or, without it, the system store."""
    s = VerifiedSession()
    if ca_cert:
        s.verify = str(ca_cert)
    return s
