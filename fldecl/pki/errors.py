"""The one exception the PKI package raises."""

from __future__ import annotations


class PKIError(Exception):
    """A PKI failure the user can act on: names the file and the rule, never key material."""
