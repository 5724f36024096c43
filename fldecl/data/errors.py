"""Errors a user reads: one line each, naming the file or spec field to fix."""

from fldecl.errors import InputError


class DataError(InputError):
    """A data source, split or data handler fldecl cannot use."""
