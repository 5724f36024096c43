"""The one exception the HE package raises for anything a caller can act on."""

from fldecl.errors import RuntimeFailure


class HEError(RuntimeFailure):
    """A blob, context or keyring that cannot be used, with the reason in plain words."""


PARAMETERS_MISMATCH = "ciphertext does not match the training's encryption parameters"
