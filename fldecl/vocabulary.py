"""Words every layer shares, named once: the backends, fusion types and the states a training goes through.

A leaf module: it imports nothing, so the core, the kinds, the runtime and the providers can all
use it. (The WML emulator speaks WML's own vocabulary and keeps it to itself.)
"""

from __future__ import annotations

BACKENDS = ("local", "wml", "nvflare")
"""What a Stack's ``backend`` names (the CLI's ``--backend`` choices, the providers' packages)."""

CRYPTO_ITER_AVG = "crypto_iter_avg"
"""The average of homomorphically encrypted updates: the only fusion WML encrypts."""
ITER_AVG = "iter_avg"
"""The same average in plaintext."""
LOCAL_FUSION_TYPES = (CRYPTO_ITER_AVG, ITER_AVG)
"""What the local runtime fuses; the other fusion types run only on WML."""
DEFAULT_CIPHER_SPEC = "encryption_level_1"

PENDING = "pending"
ACCEPTING_PARTIES = "accepting_parties"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELED = "canceled"
ERROR = "error"
TERMINAL_STATES = frozenset({COMPLETED, FAILED, CANCELED, ERROR})
"""A training in one of these states will not change any more."""
REPLACED_STATES = frozenset({FAILED, CANCELED, ERROR})
"""A training that ended in one of these states is planned for replacement."""
