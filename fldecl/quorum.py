"""The quorum rule, written once: how many of a training's parties must answer for a step to count.

A leaf module, like :mod:`fldecl.vocabulary`, and the one piece of fldecl the WML emulator imports:
the emulator reproduces WML's aggregator and fldecl's own runtime promises WML's behaviour, so both
must count a quorum the same way, and a formula copied into each would drift.
"""

from __future__ import annotations

import math

# A quorum such as 0.6 of 5 parties is 3.0000000000000004 in binary floating point: not 4.
_ROUNDING_SLACK = 1e-9


def quorum_size(quorum: float, parties: int) -> int:
    """``ceil(quorum * parties)``, at least one: WML's count of the parties a step needs."""
    return max(1, math.ceil(quorum * parties - _ROUNDING_SLACK))
