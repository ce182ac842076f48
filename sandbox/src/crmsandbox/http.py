"""A requests session that verifies TLS against the sandbox CA even where the environment names another bundle.

requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE take precedence over a Session's own ``verify``
(psf/requests#3829); this session keeps its own choice, and verification is never turned off.
"""

from __future__ import annotations

from typing import Any

import requests


class _PinnedCASession(requests.Session):
    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if verify is None:
            verify = self.verify
        if verify is False:
            raise ValueError("TLS verification is always on")
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def ca_session(ca_cert: str | None = None) -> requests.Session:
    """A session trusting ``ca_cert`` (a PEM file) or, without it, the system store."""
    s = _PinnedCASession()
    if ca_cert:
        s.verify = str(ca_cert)
    return s
