"""The sandbox's own error for bad input (a load folder, a flag, a state dir).

The sandbox is a package of its own and imports nothing from the product that uses it. Its command line
prints the message alone (no traceback) and exits 2; a program embedding the sandbox catches
:class:`SandboxInputError`.
"""

from __future__ import annotations


class SandboxInputError(Exception):
    """Input to the sandbox is wrong: the message names what and ``hint`` how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None, hint: str | None = None):
        self.message = message
        self.file = file
        self.key = key
        self.hint = hint
        where = (f"{file}: " if file else "") + (f"{key}: " if key else "")
        super().__init__(f"{where}{message}" if not hint else f"{where}{message}\n  fix: {hint}")
