"""The local backend's federated-learning runtime: an aggregator and parties as OS processes.

Parties and aggregator talk over mutual TLS from the stack's CA. With ``crypto_iter_avg`` one
party generates the training's CKKS keyring and seals it for the other parties; the aggregator
only adds ciphertexts and never holds a secret key or a plaintext model.

Names are imported on first use (:mod:`fldecl.lazy`), so ``python -m fldecl.fl.local_party`` does not
import its own module twice and importing this package loads no ML or crypto library.
"""

from __future__ import annotations

from fldecl.lazy import lazy_exports

_EXPORTS = {
    "PartySettings": "fldecl.fl.training_job",
    "TrainingJob": "fldecl.fl.training_job",
    "PartyError": "fldecl.fl.local_party",
    "PartyResult": "fldecl.fl.local_party",
    "run_party": "fldecl.fl.local_party",
    "TrainingResult": "fldecl.fl.runner",
    "run_training": "fldecl.fl.runner",
    "TrainingEvent": "fldecl.fl.status",
    "read_status": "fldecl.fl.status",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
