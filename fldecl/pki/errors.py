"""The one exception the PKI package raises."""

from __future__ import annotations

from fldecl.errors import InputError


class PKIError(InputError):
    """A PKI failure the user can act on: names the file and the rule, never key material."""
