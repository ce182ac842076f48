"""The Salesforce connector under the name the streams use (see :mod:`.connector`)."""

from syncaudit.connectors.salesforce.connector import SalesforceConnector as SalesforceClient

__all__ = ["SalesforceClient"]
