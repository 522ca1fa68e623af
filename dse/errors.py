"""The one user-facing error type: the CLI turns it into one line on stderr and exit 2."""

from __future__ import annotations


class DseError(ValueError):
    """Bad input from the user (a file, a field, a value), with a message saying how to fix it."""
