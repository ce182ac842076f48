"""syncaudit: audit and fix the drift between Salesforce and Intercom."""

__version__ = "0.1.0"
