"""The connectors' builder under the names pull and the benchmarks use (see :mod:`syncaudit.connectors.build`)."""

from syncaudit.connectors.build import Connectors as Clients
from syncaudit.connectors.build import connect as build_clients
from syncaudit.connectors.build import salesforce_credentials, sandbox_facts

__all__ = ["Clients", "build_clients", "salesforce_credentials", "sandbox_facts"]
