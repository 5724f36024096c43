"""Errors a user reads: one line each, naming the file or spec field to fix."""


class DataError(Exception):
    """A data source, split or data handler fldecl cannot use."""
