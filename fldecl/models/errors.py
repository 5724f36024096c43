"""Errors a user reads: one line each, naming the file or spec field to fix."""

from fldecl.errors import InputError


class ModelError(InputError):
    """A model spec or artifact fldecl cannot build, read or use."""


class ModelTrustError(ModelError):
    """Loading was refused because unpickling an untrusted file would run its code."""
