"""The user-facing error and warning types: the CLI turns an error into one line on stderr and
exit 2, a warning into one line on stderr."""

from __future__ import annotations


class DseError(ValueError):
    """Bad input from the user (a file, a field, a value), with a message saying how to fix it."""


class DseWarning(UserWarning):
    """Input that is probably a mistake but may be meant (a data layout that looks transposed)."""
