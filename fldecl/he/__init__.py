"""Add-only CKKS aggregation of model updates for federated learning.

Importing this package loads no crypto library; SEAL (``seal-python``) is imported when a keyring or
context is first used, so the CLI starts fast.
"""

from fldecl.he.errors import HEError
from fldecl.he.keyring import SecretKeyring, aggregate, contributor_names, contributors
from fldecl.he.params import CIPHER_SPECS, CkksParameters

__all__ = ["CIPHER_SPECS", "CkksParameters", "HEError", "SecretKeyring", "aggregate", "contributor_names", "contributors"]
