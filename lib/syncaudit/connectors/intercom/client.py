"""The Intercom connector under the names the streams use (see :mod:`.connector`)."""

from syncaudit.connectors.intercom.connector import IntercomConnector as IntercomClient
from syncaudit.connectors.intercom.connector import IntercomNotFound, IntercomRateLimiter

__all__ = ["IntercomClient", "IntercomNotFound", "IntercomRateLimiter"]
