"""fldecl's federated-learning runtime: one round workflow, one party side, any transport.

What is where:

- :mod:`~fldecl.fl.protocol`: the messages (tasks and replies, a JSON header plus byte payloads);
- :mod:`~fldecl.fl.transport`: the interface the server side runs over;
- :mod:`~fldecl.fl.workflow`: the server side (admission, keys, rounds, fusion, metrics), with
  :mod:`~fldecl.fl.roster` (who joined, who was lost, the quorum) and :mod:`~fldecl.fl.fusion`;
- :mod:`~fldecl.fl.party_tasks`: the party side, one reply per task, with :mod:`~fldecl.fl.clients`;
- :mod:`~fldecl.fl.local_aggregator`, :mod:`~fldecl.fl.local_party`, :mod:`~fldecl.fl.framing` and
  :mod:`~fldecl.fl.runner`: the local backend's runtime, both sides as OS processes over mutual TLS
  from the stack's CA, settings in a :mod:`~fldecl.fl.training_job`;
- :mod:`~fldecl.fl.status`: ``status.json``, what ``fldecl show`` reads.

With ``crypto_iter_avg`` one party generates the training's CKKS keyring and seals it for the
other parties; the aggregator only adds ciphertexts and never holds a secret key or a plaintext model.

Names are imported on first use (:mod:`fldecl.lazy`), so ``python -m fldecl.fl.local_party`` does not
import its own module twice and importing this package loads no ML or crypto library.
"""

from __future__ import annotations

from fldecl.lazy import lazy_exports

_EXPORTS = {
    "PartySettings": "fldecl.fl.training_job",
    "TrainingJob": "fldecl.fl.training_job",
    "PartyError": "fldecl.fl.errors",
    "PartyResult": "fldecl.fl.party_tasks",
    "run_party": "fldecl.fl.local_party",
    "TrainingResult": "fldecl.fl.runner",
    "run_training": "fldecl.fl.runner",
    "TrainingEvent": "fldecl.fl.status",
    "read_status": "fldecl.fl.status",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
