"""The one exception the launchers raise: what stops a training or a party from starting, in one line."""

from __future__ import annotations

from fldecl.core.errors import ProviderError


class LaunchError(ProviderError):
    """A training or party cannot be launched as declared (a missing setting, a CSR party without its key)."""
